package trackcli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/difflab/difflab/internal/cmdline"
	"github.com/difflab/difflab/pkg/experiment"
	"github.com/difflab/difflab/pkg/track/ui"
)

// DefaultUIAddr is where "difflab track ui" listens unless --addr says
// otherwise: loopback only.
const DefaultUIAddr = "127.0.0.1:8321"

func runUI(c *cli, args []string) error {
	addr := c.fs.String("addr", DefaultUIAddr, "`host:port` to listen on; an address other than loopback needs --token (port 0 picks a free port)")
	token := c.fs.String("token", "", "access `token` every request must carry (needed to listen beyond loopback); the printed link sets it as a cookie")
	open := c.fs.Bool("open", false, "open the page in the default browser (xdg-open)")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return cmdline.Usagef("unexpected argument %q (ui takes flags only)", pos[0])
	}
	st, err := c.open()
	if err != nil {
		return err
	}
	defer st.Close()
	h, err := ui.New(st, ui.Options{Token: *token, Goals: experiment.Goals()})
	if err != nil {
		return err
	}
	if err := ui.CheckAddr(*addr, *token); err != nil {
		return cmdline.Usagef("--addr: %s", err)
	}
	ln, err := ui.Listen(*addr, *token)
	if err != nil {
		return err
	}
	// Catch Ctrl-C before saying where to connect, so that a signal after
	// the link is printed shuts down gracefully.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	link := ui.URL(ln, *token)
	fmt.Fprintf(c.stdout, "difflab track ui: %s at %s (Ctrl-C to stop)\n", st.Path(), link)
	if *open {
		if err := exec.Command("xdg-open", link).Start(); err != nil {
			fmt.Fprintf(c.stderr, "difflab track ui: --open: %v; open %s yourself\n", err, link)
		}
	}
	return ui.Serve(ctx, ln, h)
}

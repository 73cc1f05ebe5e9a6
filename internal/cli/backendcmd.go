package cli

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/go-xla/compute/xla"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/difflab/difflab/pkg/backend"
)

func init() {
	register(command{"backend", "list the compute backends: which are installed, which would run, and why", runBackend})
}

// xlaInstallHost is where go-xla's installer downloads the CPU PJRT plugin from
// (a variable for tests).
var xlaInstallHost = "github.com:443"

// xlaInstallProbe is how long `difflab backend` waits to learn whether
// xlaInstallHost can be reached.
const xlaInstallProbe = 3 * time.Second

func runBackend(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("backend", "backend [--check] [--install-xla]", stdout)
	check := fs.Bool("check", false, "create every installed backend and run a small graph on it")
	install := fs.Bool("install-xla", false, "install go-xla's CPU PJRT plugin into ~/.local/lib/go-xla (downloads from GitHub)")
	if done, code := parse(fs, args, stderr); done {
		return code
	}
	return finish("backend", func() error {
		saved := backend.Notice
		backend.Notice = io.Discard
		defer func() { backend.Notice = saved }()

		env := os.Getenv(backend.EnvVar)
		found := backend.Discover()
		names := compute.List()
		slices.Sort(names)
		fmt.Fprintf(stdout, "compiled in:  %s\n", strings.Join(names, ", "))
		if env == "" {
			fmt.Fprintf(stdout, "$%s:  unset\n", backend.EnvVar)
		} else {
			fmt.Fprintf(stdout, "$%s:  %s\n", backend.EnvVar, env)
		}
		c := backend.Select(env, found)
		fmt.Fprintf(stdout, "would run:    %s (%s)\n", c.Config, c.Reason)
		fmt.Fprintln(stdout, "\ninstalled here:")
		for _, c := range backend.Installed() {
			line := fmt.Sprintf("  %-22s %s", c.Config, c.Reason)
			if *check {
				line += "  " + checkBackend(c.Config)
			}
			fmt.Fprintln(stdout, line)
		}
		if len(found.Plugins) == 0 {
			fmt.Fprintln(stdout, "  (no PJRT plugin: looked in $PJRT_PLUGIN_LIBRARY_PATH, /usr/local/lib/go-xla, ~/.local/lib/go-xla and the system library paths)")
		}
		if found.ONNXRuntime == "" {
			_, err := backend.FindONNXRuntime()
			fmt.Fprintf(stdout, "  (%v)\n", err)
		}

		fmt.Fprintln(stdout, "\nXLA on a CPU: `difflab backend --install-xla` runs go-xla's installer, which downloads")
		fmt.Fprintln(stdout, "the CPU PJRT plugin from GitHub into ~/.local/lib/go-xla; on a GPU machine point")
		fmt.Fprintln(stdout, "GOMLX_BACKEND at its plugin: GOMLX_BACKEND=xla:/path/to/pjrt_c_api_cuda_plugin.so.")
		reach := probe(xlaInstallHost, xlaInstallProbe)
		if reach != nil {
			fmt.Fprintf(stdout, "%s is unreachable from here (%v): the installer cannot run on this machine.\n", xlaInstallHost, reach)
		}
		if !*install {
			return nil
		}
		if reach != nil {
			return fmt.Errorf("--install-xla: %s is unreachable (%v); nothing was installed", xlaInstallHost, reach)
		}
		fmt.Fprintln(stderr, "difflab backend: installing the PJRT plugins for this machine with go-xla's installer...")
		if err := xla.AutoInstall(); err != nil {
			return fmt.Errorf("--install-xla: %w", err)
		}
		fmt.Fprintln(stdout, "installed; run `difflab backend` again to see it")
		return nil
	}(), stderr)
}

// checkBackend creates the backend of config and computes 2 + 1 on it, returning
// "ok" or what went wrong, in one line.
func checkBackend(config string) string {
	b, err := backend.Open(config)
	if err != nil {
		return "FAILED: " + oneLine(err)
	}
	defer b.Finalize()
	var got string
	if err := exceptions.TryCatch[error](func() {
		got = graph.MustExecOnce(b, func(x *graph.Node) *graph.Node { return graph.AddScalar(x, 1) }, float32(2)).String()
	}); err != nil {
		return "FAILED: " + oneLine(err)
	}
	if !strings.Contains(got, "3") {
		return "FAILED: 2 + 1 = " + got
	}
	return "ok (2 + 1 = 3)"
}

// probe dials addr over TCP within timeout and returns nil when it answers.
func probe(addr string, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("no answer within %s", timeout)
		}
		return errors.New(oneLine(err))
	}
	c.Close()
	return nil
}

func oneLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

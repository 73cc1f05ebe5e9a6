// Package cli implements the difflab command line. Each command is a function of
// its arguments and output streams that returns the process exit code, so that
// tests drive it in-process.
//
// Exit codes are cmdline's: 0 success, 1 a runtime failure, 2 bad usage (an unknown
// command, flag or value). Errors are one line on stderr that names the flag or
// field at fault.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"strings"
	"syscall"

	"github.com/difflab/difflab/internal/cmdline"
	"github.com/difflab/difflab/pkg/track"
)

// command is one subcommand.
type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

// Main runs the difflab command line with args (without the program name).
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				return c.run([]string{"--help"}, stdout, stderr)
			}
		}
		usage(stdout)
		if len(args) == 0 {
			return cmdline.ExitUsage
		}
		return cmdline.ExitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "difflab: unknown command %q; want one of %s (see difflab help)\n", args[0], strings.Join(commandNames(), ", "))
		return cmdline.ExitUsage
	}
	return c.run(args[1:], stdout, stderr)
}

func commandNames() []string {
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "difflab: denoising diffusion models (DDPM, DDIM) in Go.")
	fmt.Fprintln(w, "\nUsage: difflab COMMAND [flags]\n\nCommands:")
	for _, n := range commandNames() {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'difflab COMMAND --help' for a command's flags.")
	fmt.Fprintln(w, "Timesteps are 0-based: t = 0..T-1, and abar_t = prod_{i<=t} (1 - beta_i).")
}

// newFlagSet returns a flag set that reports nothing itself: parse errors come
// back to the caller, which prints one line.
func newFlagSet(name, synopsis string, stdout io.Writer) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError)}
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // parse reports errors in one line and prints help itself
	fs.help = func() {
		fmt.Fprintf(stdout, "Usage: difflab %s\n\n", synopsis)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// flagSet is a flag set with its help printer.
type flagSet struct {
	*flag.FlagSet
	help func()
}

// parse parses args, printing help for -h/--help. It returns done = true when
// the command should stop with the given code.
func parse(fs *flagSet, args []string, stderr io.Writer) (done bool, code int) {
	return parseN(fs, args, 0, stderr)
}

// parseN is parse allowing up to maxArgs arguments after the flags.
func parseN(fs *flagSet, args []string, maxArgs int, stderr io.Writer) (done bool, code int) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.help()
		return true, cmdline.ExitOK
	case err != nil:
		fmt.Fprintf(stderr, "difflab %s: %v (see difflab %s --help)\n", fs.Name(), err, fs.Name())
		return true, cmdline.ExitUsage
	case fs.NArg() > maxArgs:
		fmt.Fprintf(stderr, "difflab %s: unexpected argument %q (see difflab %s --help)\n", fs.Name(), fs.Arg(maxArgs), fs.Name())
		return true, cmdline.ExitUsage
	}
	return false, cmdline.ExitOK
}

// parseWithArg parses a command line that names one thing (a folder, a notebook)
// before or after its flags, and returns that argument ("" when absent).
func parseWithArg(fs *flagSet, args []string, stderr io.Writer) (arg string, done bool, code int) {
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		arg, args = args[0], args[1:]
		done, code = parse(fs, args, stderr)
		return arg, done, code
	}
	done, code = parseN(fs, args, 1, stderr)
	return fs.Arg(0), done, code
}

// storeFlags are the flags that say where the tracker is: --db and
// --artifacts.
type storeFlags struct{ db, artifacts *string }

func addStoreFlags(fs *flagSet) storeFlags {
	return storeFlags{fs.String("db", "", cmdline.DBFlagUsage), fs.String("artifacts", "", cmdline.ArtifactsFlagUsage)}
}

// open opens the tracker. For a PostgreSQL server it says which, in one line
// on stderr (password redacted), with the artifact root.
func (f storeFlags) open(stderr io.Writer) (*track.Store, error) {
	st, err := cmdline.OpenStore(*f.db, *f.artifacts)
	if err != nil {
		return nil, err
	}
	if track.IsDSN(st.Path()) && stderr != nil {
		art := st.ArtifactDir()
		if art == "" {
			art = "none yet (set --artifacts or $" + cmdline.ArtifactsEnv + ")"
		}
		fmt.Fprintf(stderr, "difflab: tracker %s, artifacts %s\n", st.Path(), art)
	}
	return st, nil
}

// withStore opens the tracker database (see storeFlags.open) and a context
// cancelled by Ctrl-C or SIGTERM (what schedulers send), and runs fn with
// them.
func withStore(f storeFlags, stderr io.Writer, fn func(ctx context.Context, st *track.Store) error) error {
	st, err := f.open(stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return fn(ctx, st)
}

// validatedField finds the field that a config's Validate (or constructor) error
// is about, where its message starts or follows a colon: "unknown FIELD \"...\"",
// "FIELD = ...", or "field \"FIELD\"". Group 1 is the context before it
// ("sampler: "), groups 2 to 4 the field.
var validatedField = regexp.MustCompile(`^((?:[\w ]+: )*)(?:unknown ([\w ]+?) "|(\w+) = |field "(\w+)")`)

// validatedContext matches the context at the start of an error message
// ("sampler: timesteps: ").
var validatedContext = regexp.MustCompile(`^(?:[\w ]+: )*`)

// flagError returns err, an error of a config type's Validate that names a field
// ("sampler: eta = -1, want a finite eta >= 0"), as a usage error that starts with
// the flag behind that field instead of the context ("--eta: eta = -1, want a
// finite eta >= 0"). fields maps field names to flag names, and "" to the flag
// to name when the error names no field of fields (a combination of values, such
// as a spacing that repeats a timestep at that many steps); without "" such an
// error keeps its message.
func flagError(err error, fields map[string]string) error {
	msg := err.Error()
	if m := validatedField.FindStringSubmatch(msg); m != nil {
		if flag, ok := fields[m[2]+m[3]+m[4]]; ok {
			return cmdline.Usagef("--%s: %s", flag, msg[len(m[1]):])
		}
	}
	if flag, ok := fields[""]; ok {
		return cmdline.Usagef("--%s: %s", flag, msg[len(validatedContext.FindString(msg)):])
	}
	return &cmdline.UsageError{Err: err}
}

// finish prints err as one line and returns the exit code for it.
func finish(name string, err error, stderr io.Writer) int {
	if err == nil {
		return cmdline.ExitOK
	}
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	fmt.Fprintf(stderr, "difflab %s: %s\n", name, msg)
	return cmdline.ExitCode(err)
}

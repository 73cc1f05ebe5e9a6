package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/difflab/difflab/internal/cmdline"
	"github.com/difflab/difflab/internal/nbformat"
	"github.com/difflab/difflab/pkg/nb"
	"github.com/difflab/difflab/pkg/track"
)

func init() {
	register(command{"nb", "run a notebook with parameters and track it (nb run NOTEBOOK)", runNB})
}

// NotebookExperiment is the tracker experiment of "difflab nb run".
const NotebookExperiment = "notebooks"

const nbSynopsis = `nb run NOTEBOOK [--param KEY=VALUE ...] [--mode ci|full] [--db FILE|DSN] [--out DIR]

Runs a GoNB notebook headlessly with "jupyter nbconvert --execute" and records it
in the tracker as a run of experiment "notebooks" named after the notebook, with
the --param values as params and the executed notebook as an artifact. The run
fails when a cell fails, a shell (!) cell's command exits non-zero, the kernel
dies or times out, or an output the notebook's metadata expects is missing.

Parameters: each --param KEY=VALUE becomes a line "%env DIFFLAB_PARAM_KEY VALUE"
(KEY upper-cased, other characters than letters and digits as _) in a cell tagged
"injected-parameters", inserted after the cell tagged "parameters" (or after the
first code cell). Cells read them with nb.Param("key", default) from pkg/nb.

Expected outputs: the notebook's metadata "difflab": {"expect": [...]} lists
{"mime": "image/png", "contains": "...", "min": N} entries; each needs at least
N (default 1) outputs of that MIME type whose text contains the given string.

The notebook runs with its own folder as working directory; DIFFLAB_ROOT is set
to the repository root. Unless set already, JUPYTER_DATA_DIR is ROOT/build/jupyter
when it holds the gonb kernel (scripts/notebooks.sh installs it there) and
ROOT/build/bin is put first on PATH (GoNB runs goimports from there).
`

func runNB(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(stdout, "Usage: difflab %s", nbSynopsis)
		if len(args) == 0 {
			return cmdline.ExitUsage
		}
		return cmdline.ExitOK
	}
	if args[0] != "run" {
		fmt.Fprintf(stderr, "difflab nb: unknown subcommand %q, want run (see difflab nb --help)\n", args[0])
		return cmdline.ExitUsage
	}
	return runNBRun(args[1:], stdout, stderr)
}

// paramList collects repeated --param KEY=VALUE flags.
type paramList []nbParam

type nbParam struct{ Key, Value string }

func (p *paramList) String() string { return "" }

// env is the parameters as the environment variables that nb.Param reads.
func (p *paramList) env() []nbformat.EnvVar {
	vars := make([]nbformat.EnvVar, len(*p))
	for i, q := range *p {
		vars[i] = nbformat.EnvVar{Name: nb.ParamEnv(q.Key), Value: q.Value}
	}
	return vars
}

func (p *paramList) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", s)
	}
	*p = append(*p, nbParam{k, v})
	return nil
}

func runNBRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("nb run", nbSynopsis, stdout)
	var params paramList
	fs.Var(&params, "param", "a parameter KEY=VALUE for the notebook (repeatable); read with nb.Param")
	mode := fs.String("mode", "", "notebook size: ci or full (default $DIFFLAB_NB_MODE, else full)")
	sf := addStoreFlags(fs)
	out := fs.String("out", "", "folder for the executed notebook (default runs/notebooks)")
	timeout := fs.Duration("cell-timeout", 0, "longest a cell may run, e.g. 10m (0: no limit)")
	path, done, code := parseWithArg(fs, args, stderr)
	if done {
		return code
	}
	if path == "" {
		fmt.Fprintln(stderr, "difflab nb run: missing NOTEBOOK, e.g. difflab nb run notebooks/01-forward-process.ipynb")
		return cmdline.ExitUsage
	}
	if *mode != "" && *mode != nb.ModeCI && *mode != nb.ModeFull {
		fmt.Fprintf(stderr, "difflab nb run: --mode %q, want %s or %s\n", *mode, nb.ModeCI, nb.ModeFull)
		return cmdline.ExitUsage
	}
	outDir := *out
	if outDir == "" {
		outDir = filepath.Join("runs", NotebookExperiment)
	}
	return finish("nb run", func() error {
		src, err := os.ReadFile(path)
		if err != nil {
			return cmdline.Usagef("%v", err)
		}
		injected, err := nbformat.InjectParams(src, params.env())
		if err != nil {
			return cmdline.Usagef("%s: %v", path, err)
		}
		return withStore(sf, stderr, func(ctx context.Context, st *track.Store) error {
			executed, err := executeNotebook(ctx, st, path, injected, params, *mode, outDir, *timeout, stderr)
			if executed != "" {
				fmt.Fprintf(stdout, "notebook: %s\n", executed)
			}
			return err
		})
	}(), stderr)
}

// executeNotebook runs the notebook text nbJSON (read from path) with nbconvert,
// writes the executed notebook to outDir and records a tracker run.
func executeNotebook(ctx context.Context, st *track.Store, path string, nbJSON []byte, params paramList,
	mode, outDir string, cellTimeout time.Duration, stderr io.Writer) (executed string, err error) {
	absPath, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	root, err := nb.FindRoot(filepath.Dir(absPath))
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", err
	}
	absOut, err := filepath.Abs(outDir)
	if err != nil {
		return "", err
	}
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	executed = filepath.Join(absOut, name+".ipynb")
	if mode == "" {
		mode = nb.Mode()
	}
	runParams := map[string]any{"notebook": filepath.ToSlash(path), "mode": mode}
	for _, p := range params {
		runParams["param."+p.Key] = p.Value
	}
	run, err := st.StartRun(track.RunOptions{Experiment: NotebookExperiment, Name: name, Params: runParams})
	if err != nil {
		return "", err
	}
	defer func() {
		if endErr := run.End(err); err == nil {
			err = endErr
		}
	}()

	// nbconvert reads the notebook from stdin, so that the kernel starts in the
	// notebook's own folder, as when a person opens it.
	argv := []string{"nbconvert", "--to", "notebook", "--execute", "--allow-errors", "--stdin",
		"--ExecutePreprocessor.kernel_name=gonb", "--output-dir", absOut, "--output", name}
	if cellTimeout > 0 {
		argv = append(argv, fmt.Sprintf("--ExecutePreprocessor.timeout=%d", int(cellTimeout.Seconds())))
	} else {
		argv = append(argv, "--ExecutePreprocessor.timeout=-1")
	}
	cmd := exec.CommandContext(ctx, "jupyter", argv...)
	cmd.Dir = filepath.Dir(absPath)
	cmd.Stdin = bytes.NewReader(nbJSON)
	cmd.Env = notebookEnv(os.Environ(), root, mode)
	var log bytes.Buffer
	cmd.Stdout = &log
	cmd.Stderr = &log
	start := time.Now()
	runErr := cmd.Run()
	secs := time.Since(start).Seconds()
	run.LogMetric("time/run_s", 0, secs)
	logText := log.String()
	run.LogArtifact("nbconvert.log", strings.NewReader(logText))
	if runErr != nil {
		fmt.Fprint(stderr, tail(logText, 4000))
		if errors.Is(runErr, exec.ErrNotFound) {
			return "", fmt.Errorf("jupyter not found: run scripts/notebooks.sh --install first")
		}
		return "", fmt.Errorf("jupyter nbconvert %s: %v", path, runErr)
	}
	out, err := os.ReadFile(executed)
	if err != nil {
		return "", err
	}
	run.LogArtifactFile(executed)
	problems, err := nbformat.Check(out)
	if err != nil {
		return executed, err
	}
	if len(problems) > 0 {
		return executed, fmt.Errorf("%s: %s", path, strings.Join(problems, "; "))
	}
	return executed, nil
}

// notebookEnv returns env with what a notebook needs to find the repository,
// the GoNB kernel and goimports.
func notebookEnv(env []string, root, mode string) []string {
	get := func(k string) (string, bool) {
		for i := len(env) - 1; i >= 0; i-- {
			if v, ok := strings.CutPrefix(env[i], k+"="); ok {
				return v, true
			}
		}
		return "", false
	}
	env = append(env, nb.RootEnv+"="+root, nb.ModeEnv+"="+mode)
	if _, ok := get("JUPYTER_DATA_DIR"); !ok {
		d := filepath.Join(root, "build", "jupyter")
		if _, err := os.Stat(filepath.Join(d, "kernels", "gonb", "kernel.json")); err == nil {
			env = append(env, "JUPYTER_DATA_DIR="+d)
		}
	}
	p, _ := get("PATH")
	env = append(env, "PATH="+filepath.Join(root, "build", "bin")+string(os.PathListSeparator)+p)
	if _, ok := get("GOEXPERIMENT"); !ok {
		env = append(env, "GOEXPERIMENT=simd") // GoMLX's SIMD kernels, twice as fast
	}
	return env
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}

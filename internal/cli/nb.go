package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/difflab/difflab/internal/cmdline"
	"github.com/difflab/difflab/pkg/nb"
	"github.com/difflab/difflab/pkg/track"
)

func init() {
	register(command{"nb", "run a notebook with parameters and track it (nb run NOTEBOOK)", runNB})
}

// NotebookExperiment is the tracker experiment of "difflab nb run".
const NotebookExperiment = "notebooks"

// Cell tags of parameter injection, as papermill names them.
const (
	// ParametersTag marks the cell whose defaults the injected cell overrides.
	ParametersTag = "parameters"
	// InjectedTag marks the cell "difflab nb run" inserts; a second run replaces it.
	InjectedTag = "injected-parameters"
)

const nbSynopsis = `nb run NOTEBOOK [--param KEY=VALUE ...] [--mode ci|full] [--db FILE] [--out DIR]

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
	db := fs.String("db", "", cmdline.DBFlagUsage)
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
		injected, err := InjectParams(src, params)
		if err != nil {
			return cmdline.Usagef("%s: %v", path, err)
		}
		return withStore(*db, func(ctx context.Context, st *track.Store) error {
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
	problems, err := CheckNotebook(out)
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

// notebook is the part of the nbformat 4 JSON that parameter injection and the
// checks read. Unknown fields are kept as they are.
type notebook map[string]json.RawMessage

type cell map[string]json.RawMessage

func (c cell) str(key string) string {
	var s string
	json.Unmarshal(c[key], &s)
	return s
}

func (c cell) tags() []string {
	var md struct {
		Tags []string `json:"tags"`
	}
	json.Unmarshal(c["metadata"], &md)
	return md.Tags
}

// source returns the cell's source, which nbformat stores as a string or a list of lines.
func (c cell) source() string {
	var lines []string
	if json.Unmarshal(c["source"], &lines) == nil {
		return strings.Join(lines, "")
	}
	return c.str("source")
}

func readCells(nbJSON []byte) (notebook, []cell, error) {
	var n notebook
	if err := json.Unmarshal(nbJSON, &n); err != nil {
		return nil, nil, fmt.Errorf("not a notebook: %v", err)
	}
	var cells []cell
	if err := json.Unmarshal(n["cells"], &cells); err != nil || n["cells"] == nil {
		return nil, nil, fmt.Errorf("not a notebook: no cells")
	}
	return n, cells, nil
}

// InjectParams returns the notebook nbJSON with a code cell tagged
// "injected-parameters" that sets each parameter for GoNB as
//
//	%env DIFFLAB_PARAM_KEY "VALUE"
//
// (see nb.ParamEnv), inserted after the cell tagged "parameters", or after the
// first code cell when none is tagged. A cell injected by an earlier run (an
// executed notebook saved over its source) is removed first, also when there are
// no parameters now, so that its values never leak into this run. With no
// parameters and no such cell the notebook is returned unchanged.
func InjectParams(nbJSON []byte, params []nbParam) ([]byte, error) {
	n, cells, err := readCells(nbJSON)
	if err != nil {
		return nil, err
	}
	kept := cells[:0:0]
	for _, c := range cells {
		if !contains(c.tags(), InjectedTag) {
			kept = append(kept, c)
		}
	}
	if len(params) == 0 && len(kept) == len(cells) {
		return nbJSON, nil
	}
	at := -1
	for i, c := range kept {
		if c.str("cell_type") == "code" && (at < 0 || contains(c.tags(), ParametersTag)) {
			at = i
			if contains(c.tags(), ParametersTag) {
				break
			}
		}
	}
	var lines []string
	lines = append(lines, "// Parameters injected by difflab nb run.")
	for _, p := range params {
		lines = append(lines, fmt.Sprintf("%%env %s %s", nb.ParamEnv(p.Key), quoteGoNB(p.Value)))
	}
	for i := range lines[:len(lines)-1] {
		lines[i] += "\n"
	}
	if len(params) == 0 {
		return writeCells(n, kept)
	}
	inj := cell{}
	set := func(k string, v any) { inj[k], _ = json.Marshal(v) }
	set("cell_type", "code")
	set("execution_count", nil)
	set("metadata", map[string]any{"tags": []string{InjectedTag}})
	set("outputs", []any{})
	set("source", lines)
	if hasIDs(kept) {
		set("id", "injected-parameters")
	}
	cells = append(kept[:at+1:at+1], append([]cell{inj}, kept[at+1:]...)...)
	return writeCells(n, cells)
}

// writeCells returns the notebook n with its cells replaced, indented by one space
// like Jupyter, without escaping HTML.
func writeCells(n notebook, cells []cell) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(cells); err != nil {
		return nil, err
	}
	n["cells"] = b.Bytes()
	b = bytes.Buffer{}
	enc = json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func hasIDs(cells []cell) bool { return len(cells) > 0 && cells[0]["id"] != nil }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// quoteGoNB quotes s for a GoNB special command: inside double quotes a
// backslash escapes the next character, with \n and \t for newline and tab.
func quoteGoNB(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}

// Expectation is one output a notebook declares it must produce, in its
// metadata "difflab": {"expect": [...]}.
type Expectation struct {
	// MIME type of the output, e.g. "image/png" or "text/html".
	MIME string `json:"mime"`
	// Contains, when set, must occur in the output's text (base64 for images).
	Contains string `json:"contains,omitempty"`
	// Min is the least number of such outputs. Default 1.
	Min int `json:"min,omitempty"`
}

// shellFailure matches what GoNB prints to stderr when a !command exits non-zero.
var shellFailure = regexp.MustCompile(`(?m)^exit status \d+\s*$`)

// CheckNotebook checks an executed notebook: no cell has an error output, no
// shell cell's command failed (GoNB reports "exit status N" on stderr, which
// nbconvert does not count as an error), and every output declared in the
// metadata "difflab": {"expect": [...]} is there. It returns one line per
// problem; the error is for a file that is not a notebook.
func CheckNotebook(nbJSON []byte) (problems []string, err error) {
	n, cells, err := readCells(nbJSON)
	if err != nil {
		return nil, err
	}
	var md struct {
		Difflab struct {
			Expect []Expectation `json:"expect"`
		} `json:"difflab"`
	}
	json.Unmarshal(n["metadata"], &md)
	counts := make([]int, len(md.Difflab.Expect))
	for i, c := range cells {
		if c.str("cell_type") != "code" {
			continue
		}
		var outs []struct {
			OutputType string                     `json:"output_type"`
			Name       string                     `json:"name"`
			Text       json.RawMessage            `json:"text"`
			Ename      string                     `json:"ename"`
			Evalue     string                     `json:"evalue"`
			Data       map[string]json.RawMessage `json:"data"`
		}
		json.Unmarshal(c["outputs"], &outs)
		where := fmt.Sprintf("cell %d", i)
		if id := c.str("id"); id != "" {
			where += " (" + id + ")"
		}
		for _, o := range outs {
			switch o.OutputType {
			case "error":
				problems = append(problems, fmt.Sprintf("%s failed: %s", where, firstLine(o.Ename+": "+o.Evalue)))
			case "stream":
				if txt := multiline(o.Text); o.Name == "stderr" && shellFailure.MatchString(txt) {
					problems = append(problems, fmt.Sprintf("%s: a shell command failed: %s", where, firstLine(shellFailure.FindString(txt))))
				}
			case "display_data", "execute_result", "update_display_data":
				for k, e := range md.Difflab.Expect {
					if raw, ok := o.Data[e.MIME]; ok && strings.Contains(multiline(raw), e.Contains) {
						counts[k]++
					}
				}
			}
		}
	}
	for k, e := range md.Difflab.Expect {
		want := max(e.Min, 1)
		if counts[k] < want {
			what := e.MIME
			if e.Contains != "" {
				what += fmt.Sprintf(" containing %q", e.Contains)
			}
			problems = append(problems, fmt.Sprintf("expected at least %d output(s) of %s, found %d", want, what, counts[k]))
		}
	}
	return problems, nil
}

// multiline decodes an nbformat text value: a string or a list of lines.
func multiline(raw json.RawMessage) string {
	var lines []string
	if json.Unmarshal(raw, &lines) == nil {
		return strings.Join(lines, "")
	}
	var s string
	json.Unmarshal(raw, &s)
	return s
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}

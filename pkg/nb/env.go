package nb

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/difflab/difflab/internal/cmdline"
)

// Environment variables read by the package.
const (
	// ModeEnv selects the notebook mode: ModeCI or ModeFull. Unset means ModeFull.
	ModeEnv = "DIFFLAB_NB_MODE"
	// ParamPrefix prefixes the environment variable of each parameter (see Param).
	ParamPrefix = "DIFFLAB_PARAM_"
	// RootEnv overrides the repository root (see Root).
	RootEnv = "DIFFLAB_ROOT"
	// OutEnv overrides the folder notebooks write their outputs to (see OutDir).
	OutEnv = "DIFFLAB_NB_OUT"
	// DBEnv overrides the tracker database (see DBPath); the CLI reads it too.
	DBEnv = cmdline.DBEnv
)

// Modes of a notebook run.
const (
	// ModeCI runs every notebook at a size that checks it works in seconds.
	ModeCI = "ci"
	// ModeFull runs the notebooks at the size their text discusses.
	ModeFull = "full"
)

// Module is the Go module path that Root looks for in go.mod.
const Module = "github.com/difflab/difflab"

// Mode returns the notebook mode from $DIFFLAB_NB_MODE: ModeCI or ModeFull
// (the default when unset or empty). Any other value panics, naming the
// allowed ones, so a typo does not silently run at full size.
func Mode() string {
	switch v := strings.ToLower(strings.TrimSpace(os.Getenv(ModeEnv))); v {
	case "", ModeFull:
		return ModeFull
	case ModeCI:
		return ModeCI
	default:
		panic(fmt.Sprintf("nb: $%s = %q, want %q or %q", ModeEnv, v, ModeCI, ModeFull))
	}
}

// CI reports whether the notebooks run in ModeCI.
func CI() bool { return Mode() == ModeCI }

// Pick returns ci in ModeCI and full otherwise: the one place a notebook
// chooses a size, e.g. steps := nb.Pick(20, 5000).
func Pick[T any](ci, full T) T {
	if CI() {
		return ci
	}
	return full
}

// ParamEnv returns the environment variable of parameter key: ParamPrefix
// followed by key in upper case, with every character other than a letter or
// a digit replaced by '_' ("eval.n" -> "DIFFLAB_PARAM_EVAL_N").
func ParamEnv(key string) string {
	var b strings.Builder
	b.WriteString(ParamPrefix)
	for _, r := range strings.ToUpper(key) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Param returns the value of parameter key, set by "difflab nb run --param
// key=value" (which injects a cell of "%env DIFFLAB_PARAM_KEY value" lines
// after the cell tagged "parameters"), or def when it is not set.
func Param(key, def string) string {
	if v, ok := os.LookupEnv(ParamEnv(key)); ok {
		return v
	}
	return def
}

// ParamInt is Param for an integer. A value that is not an integer panics,
// naming the parameter.
func ParamInt(key string, def int) int {
	v, ok := os.LookupEnv(ParamEnv(key))
	if !ok {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		panic(fmt.Sprintf("nb: parameter %q = %q is not an integer", key, v))
	}
	return n
}

// ParamFloat is Param for a number. A value that is not a number panics,
// naming the parameter.
func ParamFloat(key string, def float64) float64 {
	v, ok := os.LookupEnv(ParamEnv(key))
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		panic(fmt.Sprintf("nb: parameter %q = %q is not a number", key, v))
	}
	return f
}

// Root returns the repository root: $DIFFLAB_ROOT when set, else the nearest
// folder at or above the working directory whose go.mod declares Module. It
// panics when there is none, since nothing in a notebook works without it.
func Root() string {
	if v := os.Getenv(RootEnv); v != "" {
		abs, err := filepath.Abs(v)
		if err != nil {
			panic(fmt.Sprintf("nb: $%s: %v", RootEnv, err))
		}
		return abs
	}
	wd, err := os.Getwd()
	if err != nil {
		panic(fmt.Sprintf("nb: %v", err))
	}
	root, err := FindRoot(wd)
	if err != nil {
		panic(err.Error())
	}
	return root
}

// FindRoot returns the nearest folder at or above dir whose go.mod declares
// Module, or an error when there is none.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("nb: %w", err)
	}
	for d := dir; ; {
		if modulePath(filepath.Join(d, "go.mod")) == Module {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("nb: no go.mod of module %s at or above %s; set $%s", Module, dir, RootEnv)
		}
		d = parent
	}
}

// modulePath returns the module path declared in the go.mod file at path, or "".
func modulePath(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// Path joins elem to the repository root.
func Path(elem ...string) string { return filepath.Join(append([]string{Root()}, elem...)...) }

// OutDir returns the folder name inside the notebooks' output folder
// ($DIFFLAB_NB_OUT, default <root>/build/notebooks), creating it.
func OutDir(name string) string {
	base := os.Getenv(OutEnv)
	if base == "" {
		base = Path("build", "notebooks")
	}
	dir := filepath.Join(base, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		panic(fmt.Sprintf("nb: %v", err))
	}
	return dir
}

// DBPath returns the tracker database: $DIFFLAB_DB, else <root>/runs/difflab.db,
// the database the difflab CLI uses by default (cmdline.DefaultDB) when run at
// the root.
func DBPath() string {
	if v := os.Getenv(DBEnv); v != "" {
		return v
	}
	return Path(filepath.FromSlash(cmdline.DefaultDB))
}

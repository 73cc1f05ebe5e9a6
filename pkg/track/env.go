package track

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Env is the environment a run was started in. StartRun captures it without
// being asked; fields that cannot be found (no git, no /proc) are left empty.
type Env struct {
	// GitCommit is the commit of HEAD in the working folder, empty outside
	// a git repository or when git is not installed.
	GitCommit string `json:"git_commit,omitempty"`
	// GitDirty is true when tracked files differ from HEAD (git diff HEAD is
	// not empty). Untracked files are ignored.
	GitDirty bool `json:"git_dirty,omitempty"`
	// GitDiffSHA256 is the hex sha256 of the output of git diff HEAD, set
	// when GitDirty: two runs with the same commit and hash ran the same code.
	GitDiffSHA256 string `json:"git_diff_sha256,omitempty"`
	// GoVersion is runtime.Version().
	GoVersion string `json:"go_version"`
	// Backend is the GoMLX backend: RunOptions.Backend, or else
	// $GOMLX_BACKEND (empty means GoMLX's default).
	Backend string `json:"backend,omitempty"`
	// Host is the host name.
	Host string `json:"host,omitempty"`
	// CPU is the CPU model name from /proc/cpuinfo (Linux only).
	CPU string `json:"cpu,omitempty"`
	// NumCPU is runtime.NumCPU().
	NumCPU int `json:"num_cpu,omitempty"`
	// OS and Arch are runtime.GOOS and runtime.GOARCH.
	OS   string `json:"os,omitempty"`
	Arch string `json:"arch,omitempty"`
	// Command is the command line (os.Args), with the password of any DSN
	// in it replaced (RedactDSN), so that `--db postgres://u:pw@host/db`
	// is never stored.
	Command []string `json:"command,omitempty"`
	// WorkDir is the working folder.
	WorkDir string `json:"work_dir,omitempty"`
	// PID is the process id of the process that ran the run.
	PID int `json:"pid,omitempty"`
	// Seed is RunOptions.Seed, nil when not given.
	Seed *int64 `json:"seed,omitempty"`
	// ConfigHash is RunOptions.ConfigHash.
	ConfigHash string `json:"config_hash,omitempty"`
}

var (
	cpuOnce  sync.Once
	cpuModel string
)

// captureEnv fills an Env for the current process. git runs in the working
// folder with a timeout, so a slow or hung git cannot block a training start
// for long.
func captureEnv(opts RunOptions) Env {
	cpuOnce.Do(func() { cpuModel = readCPUModel() })
	p := currentProcess()
	wd, _ := os.Getwd()
	backend := opts.Backend
	if backend == "" {
		backend = os.Getenv("GOMLX_BACKEND")
	}
	e := Env{
		GoVersion:  runtime.Version(),
		Backend:    backend,
		Host:       p.Host,
		CPU:        cpuModel,
		NumCPU:     runtime.NumCPU(),
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
		Command:    redactArgs(os.Args),
		WorkDir:    wd,
		PID:        p.PID,
		Seed:       opts.Seed,
		ConfigHash: opts.ConfigHash,
	}
	if !opts.NoGit {
		e.GitCommit, e.GitDirty, e.GitDiffSHA256 = gitState()
	}
	return e
}

// gitState returns HEAD's commit and whether (and how) the tracked files
// differ from it. Any failure gives empty results.
func gitState() (commit string, dirty bool, diffHash string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "", false, ""
	}
	commit = strings.TrimSpace(string(out))
	cmd := exec.CommandContext(ctx, "git", "diff", "--no-ext-diff", "--binary", "HEAD")
	h := sha256.New()
	n := &countWriter{w: h}
	cmd.Stdout = n
	if err := cmd.Run(); err != nil {
		return commit, false, ""
	}
	if n.n == 0 {
		return commit, false, ""
	}
	return commit, true, hex.EncodeToString(h.Sum(nil))
}

type countWriter struct {
	w interface{ Write([]byte) (int, error) }
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.w.Write(p)
}

// readCPUModel returns the first "model name" in /proc/cpuinfo, or "".
func readCPUModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// redactArgs returns args with RedactDSN applied to each, and to the value of
// each --flag=value.
func redactArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if j := strings.IndexByte(a, '='); strings.HasPrefix(a, "-") && j > 0 {
			out[i] = a[:j+1] + RedactDSN(a[j+1:])
		} else {
			out[i] = RedactDSN(a)
		}
	}
	return out
}

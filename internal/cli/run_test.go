package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/difflab/difflab/internal/cmdline"
	"github.com/difflab/difflab/internal/pgtest"
	"github.com/difflab/difflab/internal/queuetest"
	"github.com/difflab/difflab/pkg/experiment"
	"github.com/difflab/difflab/pkg/track"
)

// asMainEnv makes the test binary run Main on its arguments instead of the
// tests, so that it stands for the difflab program: `run --workers N`
// starts it as its workers, and tests start it as workers themselves.
const asMainEnv = "DIFFLAB_CLI_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// difflab returns a command running the test binary as difflab with args.
func difflab(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), asMainEnv+"=1")
	return cmd
}

// repoRoot is the repository root, two folders up.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// smallSweep writes an experiment of 18 cells of the exact denoiser.
func smallSweep(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "gmm.json"), []byte(gmmJSON), 0o644)
	os.WriteFile(filepath.Join(dir, experiment.ConfigFile), []byte(`
name = "cli-sweep"
seeds = [1, 2]
schedules = ["linear"]
T = 100
[data]
name = "gmm"
gmm = "gmm.json"
[model]
kind = "oracle"
[grid]
etas = [0.0, 1.0]
steps = [5, 20, 100]
[eval]
n = 200
metrics = ["energy"]
primary = "energy"
`), 0o644)
	return dir
}

// finishedOnce checks that every cell of the experiment at dir has exactly
// one finished run in st, and that one report was written.
func finishedOnce(t *testing.T, st *track.Store, dir string) {
	t.Helper()
	cfg, err := experiment.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := st.Runs(track.Query{Experiment: cfg.Name, Filter: `status = "finished"`})
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, r := range runs {
		if r.Tags["kind"] == "report" {
			n[experiment.ReportTask]++
		} else {
			n[r.Name]++
		}
	}
	cells := cfg.Cells()
	for _, c := range cells {
		if n[c.Key()] != 1 {
			t.Errorf("cell %s finished %d times, want once", c.Key(), n[c.Key()])
		}
	}
	if n[experiment.ReportTask] != 1 {
		t.Errorf("%d reports, want 1", n[experiment.ReportTask])
	}
	if len(n) != len(cells)+1 {
		t.Errorf("%d distinct finished runs, want %d cells and the report", len(n), len(cells)+1)
	}
}

// TestRunWorkersFlag runs a sweep with --workers 2 on SQLite: the workers'
// logs, the combined progress, every cell once, one report; a second run
// reuses everything.
func TestRunWorkersFlag(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	dir := smallSweep(t)
	out := filepath.Join(t.TempDir(), "out")
	db := filepath.Join(t.TempDir(), "runs.db")
	cmd := difflab("run", dir, "--db", db, "--out", out, "--workers", "2")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("difflab run --workers 2: %v\n%s", err, stderr.String())
	}
	if want := "report: " + filepath.Join(out, experiment.ReportFile); !strings.Contains(stdout.String(), want) {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
	if !strings.Contains(stderr.String(), "[19/19] tasks done") {
		t.Errorf("no final progress line [13/13] in:\n%s", stderr.String())
	}
	for i := 1; i <= 2; i++ {
		b, err := os.ReadFile(filepath.Join(out, "workers", fmt.Sprintf("worker-%d.log", i)))
		if err != nil || !strings.Contains(string(b), "worker ") {
			t.Errorf("worker %d's log: %v\n%s", i, err, b)
		}
	}
	if _, err := os.Stat(filepath.Join(out, experiment.ReportFile)); err != nil {
		t.Error(err)
	}
	st, err := track.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	finishedOnce(t, st, dir)

	// Everything is reused: no new cell run.
	code, _, errOut := run(t, "run", dir, "--db", db, "--out", out, "--worker")
	if code != 0 || !strings.Contains(errOut, "0 of 19 tasks left") {
		t.Errorf("rerun: code %d\n%s", code, errOut)
	}
	finishedOnce(t, st, dir)
}

// TestRunWorkerFlagsBad checks the usage errors of the worker flags.
func TestRunWorkerFlagsBad(t *testing.T) {
	dir := smallSweep(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--workers", "-1"}, "--workers -1: want N >= 1"},
		{[]string{"--workers", "2", "--worker"}, "--worker and --workers 2: give one"},
		{[]string{"--db", "mysql://x/y", "--worker"}, `unknown database scheme "mysql"`},
	} {
		args := append([]string{"run", dir, "--db", filepath.Join(t.TempDir(), "x.db")}, tt.args...)
		code, _, errOut := run(t, args...)
		if code == 0 || !strings.Contains(errOut, tt.want) {
			t.Errorf("difflab %s: code %d, stderr %q, want %q", strings.Join(tt.args, " "), code, errOut, tt.want)
		}
	}
	// A PostgreSQL tracker without an artifact root cannot take workers.
	dsn := pgtest.DSN(t)
	t.Setenv(cmdline.ArtifactsEnv, "")
	code, _, errOut := run(t, "run", dir, "--db", dsn, "--worker")
	if code != cmdline.ExitUsage || !strings.Contains(errOut, "--artifacts: the PostgreSQL tracker") {
		t.Errorf("worker without artifact root: code %d, %q", code, errOut)
	}
}

// TestTable1WorkersOnPostgres is the shipped Table-1 sweep of the exact
// denoiser (150 cells) run by three `difflab run --db postgres://... --worker`
// processes, one of them killed with -9 while it holds a cell: every cell is
// finished once and the report written once.
func TestTable1WorkersOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the 150 cells of experiments/ddim-table1-gmm with three worker processes")
	}
	// The test server trusts loopback connections, so a password in the DSN
	// is accepted and ignored: it must never be printed or recorded.
	dsn := strings.Replace(pgtest.DSN(t), "postgres://postgres@", "postgres://postgres:s3cret@", 1)
	if !strings.Contains(dsn, "s3cret") {
		t.Fatalf("DSN %s: want postgres://postgres@...", dsn)
	}
	artifacts := filepath.Join(t.TempDir(), "artifacts")
	out := filepath.Join(t.TempDir(), "out")
	dir := filepath.Join(repoRoot(t), "experiments", "ddim-table1-gmm")
	st, err := track.OpenWith(dsn, track.Options{Artifacts: artifacts})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg, err := experiment.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	q := (&experiment.Runner{Config: cfg, Store: st}).Queue()

	var ws []*exec.Cmd
	for range 3 {
		ws = append(ws, difflab("run", dir, "--db", dsn, "--artifacts", artifacts, "--out", out, "--worker"))
	}
	logs := queuetest.Start(t, ws...)
	// Stop the first worker while it holds a cell, after 20 cells, and kill it.
	queuetest.KillHolding(t, q, ws[0], 20, 5*time.Minute)
	for i, w := range ws[1:] {
		if err := w.Wait(); err != nil {
			t.Fatalf("worker %d: %v", i+2, err)
		}
	}
	s, err := q.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Total() != 151 || s.Done != 151 || s.Retried < 1 {
		t.Errorf("queue %+v, want 150 cells and the report done, one cell claimed again", s)
	}
	if len(cfg.Cells()) != 150 {
		t.Errorf("%d cells, want 150", len(cfg.Cells()))
	}
	finishedOnce(t, st, dir)
	reports := 0
	for i, l := range logs {
		reports += strings.Count(l.String(), "report: ")
		if strings.Contains(l.String(), "s3cret") || !strings.Contains(l.String(), "difflab: tracker postgres://postgres:xxxxx@") {
			t.Errorf("worker %d does not name the tracker with its password redacted", i+1)
		}
	}
	runs, err := st.Runs(track.Query{Experiment: cfg.Name, Limit: 5})
	if err != nil || len(runs) == 0 {
		t.Fatal(runs, err)
	}
	if cmd := strings.Join(runs[0].Env.Command, " "); strings.Contains(cmd, "s3cret") || !strings.Contains(cmd, "xxxxx") {
		t.Errorf("recorded command %q: want the password redacted", cmd)
	}
	if reports != 1 {
		t.Errorf("%d workers printed a report path, want 1", reports)
	}
	if _, err := os.Stat(filepath.Join(out, experiment.ReportFile)); err != nil {
		t.Error(err)
	}
}

package experiment

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/difflab/difflab/internal/pgtest"
	"github.com/difflab/difflab/internal/queuetest"
	"github.com/difflab/difflab/pkg/track"
)

// The helper-process pattern: a test re-runs the test binary with
// workerEnv set to an experiment folder, and TestMain runs one worker of
// that experiment instead of the tests.
const (
	workerEnv          = "DIFFLAB_EXPERIMENT_WORKER"
	workerDBEnv        = "DIFFLAB_EXPERIMENT_WORKER_DB"
	workerArtifactsEnv = "DIFFLAB_EXPERIMENT_WORKER_ARTIFACTS"
	workerOutEnv       = "DIFFLAB_EXPERIMENT_WORKER_OUT"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(workerEnv); dir != "" {
		if err := runWorker(dir); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runWorker(dir string) error {
	cfg, err := Load(dir)
	if err != nil {
		return err
	}
	st, err := track.OpenWith(os.Getenv(workerDBEnv), track.Options{Artifacts: os.Getenv(workerArtifactsEnv)})
	if err != nil {
		return err
	}
	defer st.Close()
	r := &Runner{Config: cfg, Store: st, OutDir: os.Getenv(workerOutEnv), Progress: os.Stdout, Worker: true, Lease: 5 * time.Second}
	_, err = r.Run(context.Background())
	return err
}

// workerConfig is a grid of 36 cells, each a fraction of a second.
const workerConfig = `
name = "shared"
seeds = [1, 2]
schedules = ["linear", "cosine"]
T = 250
[data]
name = "gmm"
gmm = "gmm.json"
[model]
kind = "oracle"
[grid]
samplers = ["ddim", "ddpm-strided"]
etas = [0.0, 1.0]
steps = [10, 50, 250]
[eval]
n = 300
metrics = ["swd", "energy", "loglik"]
primary = "energy"
`

// TestWorkersShareASweep runs three worker processes on one grid, kills one
// with -9 while it holds a cell, and checks that every cell was recorded
// finished exactly once, with the numbers a single process gets, and the
// report written once.
func TestWorkersShareASweep(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three worker processes over a 36-cell grid")
	}
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			dsn, artifacts := filepath.Join(t.TempDir(), "runs.db"), ""
			if kind == "postgres" {
				dsn, artifacts = pgtest.DSN(t), filepath.Join(t.TempDir(), "artifacts")
			}
			testWorkers(t, dsn, artifacts)
		})
	}
}

func testWorkers(t *testing.T, dsn, artifacts string) {
	dir := writeExperiment(t, workerConfig)
	out := filepath.Join(t.TempDir(), "out")
	st, err := track.OpenWith(dsn, track.Options{Artifacts: artifacts})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	q := (&Runner{Config: cfg, Store: st}).Queue()

	var workers []*exec.Cmd
	for range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), workerEnv+"="+dir, workerDBEnv+"="+dsn, workerArtifactsEnv+"="+artifacts, workerOutEnv+"="+out)
		workers = append(workers, cmd)
	}
	logs := queuetest.Start(t, workers...)

	// Kill the first worker while it holds a cell, after a few cells are done:
	// stopped first, so that it cannot finish the cell between the check and
	// the kill.
	queuetest.KillHolding(t, q, workers[0], 5, 2*time.Minute)
	for i, w := range workers[1:] {
		if err := w.Wait(); err != nil {
			t.Fatalf("worker %d: %v\n%s", i+2, err, logs[i+1])
		}
	}

	s, err := q.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Done != 37 || s.Pending+s.Leased != 0 {
		t.Errorf("queue: %+v, want 36 cells and the report done", s)
	}
	if s.Retried < 1 {
		t.Errorf("no task was claimed again after worker 1 was killed holding one: %+v", s)
	}
	runs, err := st.Runs(track.Query{Experiment: "shared", Filter: `status = "finished"`})
	if err != nil {
		t.Fatal(err)
	}
	finished := map[string]int{}
	reports := 0
	for _, r := range runs {
		if r.Tags["kind"] == "report" {
			reports++
		} else {
			finished[r.Name]++
		}
	}
	if reports != 1 {
		t.Errorf("%d finished report runs, want 1", reports)
	}
	cells := cfg.Cells()
	for _, c := range cells {
		if finished[c.Key()] != 1 {
			t.Errorf("cell %s finished %d times, want once", c.Key(), finished[c.Key()])
		}
	}
	if len(finished) != len(cells) {
		t.Errorf("%d distinct finished cells, want %d", len(finished), len(cells))
	}
	wrote := 0
	for _, l := range logs {
		wrote += strings.Count(l.String(), "wrote the report")
	}
	if wrote != 1 {
		t.Errorf("%d workers say they wrote the report, want 1", wrote)
	}
	report, err := os.ReadFile(filepath.Join(out, ReportFile))
	if err != nil {
		t.Fatal(err)
	}

	// The numbers do not depend on which worker ran a cell, nor on the kill:
	// the same grid run by one process gives the same metrics, bit for bit,
	// and the same report tables.
	one := runExperiment(t, writeExperiment(t, workerConfig))
	got := map[string]map[string]float64{}
	for _, r := range runs {
		got[r.Name] = r.Metrics
	}
	for _, cr := range one.Cells {
		for _, m := range cfg.Eval.Metrics {
			if g, w := got[cr.Cell.Key()][m], cr.Metrics[m]; g != w {
				t.Errorf("cell %s: %s = %v from the workers, %v from one process", cr.Cell.Key(), m, g, w)
			}
		}
	}
	oneReport, err := os.ReadFile(filepath.Join(filepath.Dir(one.Config.Path(ConfigFile)), "out", ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := tables(string(report)), tables(string(oneReport)); len(a) < 36 || !reflect.DeepEqual(a, b) {
		t.Errorf("the workers' report tables differ from one process's:\n%s\n----\n%s", a, b)
	}
}

// tables keeps a report's table rows, leaving out the lines that depend on
// when and where it ran.
func tables(report string) []string {
	var out []string
	for _, l := range strings.Split(report, "\n") {
		if strings.HasPrefix(l, "|") && !strings.Contains(l, "s/step") && !strings.Contains(strings.ToLower(l), "time") {
			out = append(out, l)
		}
	}
	return out
}

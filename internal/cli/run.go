package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/difflab/difflab/internal/cmdline"
	"github.com/difflab/difflab/pkg/experiment"
	"github.com/difflab/difflab/pkg/progress"
	"github.com/difflab/difflab/pkg/track"
)

func init() {
	register(command{"run", "run an experiment folder's sweep and write its Table-1 style report", runRun})
}

const runSynopsis = `run EXPERIMENT_DIR [--db FILE|DSN] [--artifacts DIR] [--out DIR] [--worker | --workers N]

With --worker the process is one of any number of workers, on any machines,
sharing the sweep through the tracker database: each claims the next cell no
worker holds, runs it and records it, until no cell is left; the last one
writes the report. A worker that dies loses only its cell, which another
worker takes once its lease expires (at once on the same machine). Start
workers by hand, from a Slurm job array or a Kubernetes Indexed Job (see
deploy/), or with --workers N on this machine.`

func runRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("run", runSynopsis, stdout)
	sf := addStoreFlags(fs)
	out := fs.String("out", "", "run folder for the report, plots and samples (default runs/NAME)")
	worker := fs.Bool("worker", false, "join the sweep as one worker (see above)")
	workers := fs.Int("workers", 0, "start `N` workers on this machine and show their combined progress (logs in OUT/workers/)")
	dir, done, code := parseWithArg(fs, args, stderr)
	if done {
		return code
	}
	if dir == "" {
		fmt.Fprintln(stderr, "difflab run: missing EXPERIMENT_DIR, e.g. difflab run experiments/ddim-table1-gmm")
		return cmdline.ExitUsage
	}
	return finish("run", func() error {
		switch {
		case *workers < 0:
			return cmdline.Usagef("--workers %d: want N >= 1 worker processes", *workers)
		case *workers > 0 && *worker:
			return cmdline.Usagef("--worker and --workers %d: give one (--workers starts N processes that each run --worker)", *workers)
		}
		cfg, err := experiment.Load(dir)
		if err != nil {
			return cmdline.Usagef("%v", err)
		}
		return withStore(sf, stderr, func(ctx context.Context, st *track.Store) error {
			r := &experiment.Runner{Config: cfg, Store: st, OutDir: *out, Progress: stderr, Worker: *worker}
			if r.OutDir == "" {
				r.OutDir = cfg.RunFolder()
			}
			if (*worker || *workers > 0) && st.ArtifactDir() == "" {
				return cmdline.Usagef("--artifacts: the PostgreSQL tracker %s has no artifact root, and workers need one "+
					"(every worker's samples go there for the report): give a folder every worker can reach, "+
					"with --artifacts or $%s", st.Path(), cmdline.ArtifactsEnv)
			}
			if *workers > 0 {
				return runWorkers(ctx, r, dir, *sf.db, *sf.artifacts, *workers, stdout, stderr)
			}
			res, err := r.Run(ctx)
			if err != nil {
				return err
			}
			if res.ReportPath != "" {
				fmt.Fprintf(stdout, "report: %s\n", res.ReportPath)
			}
			return nil
		})
	}(), stderr)
}

// runWorkers starts n processes of this program running `run DIR --worker`
// into r.OutDir, their output in OUT/workers/worker-I.log, and shows the
// sweep's progress from the queue until they have all exited. The tracker
// reaches them through $DIFFLAB_DB and $DIFFLAB_ARTIFACTS, which keeps a
// DSN's password off their command lines. Cancelling ctx interrupts them.
func runWorkers(ctx context.Context, r *experiment.Runner, dir, db, artifacts string, n int, stdout, stderr io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	logDir := filepath.Join(r.OutDir, "workers")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	env := append(os.Environ(), cmdline.DBEnv+"="+cmdline.DBPath(db))
	if artifacts != "" {
		env = append(env, cmdline.ArtifactsEnv+"="+artifacts)
	}
	type worker struct {
		cmd  *exec.Cmd
		log  string
		err  error
		done chan struct{}
	}
	ws := make([]*worker, n)
	for i := range ws {
		w := &worker{log: filepath.Join(logDir, fmt.Sprintf("worker-%d.log", i+1)), done: make(chan struct{})}
		f, err := os.Create(w.log)
		if err != nil {
			return err
		}
		w.cmd = exec.Command(exe, "run", dir, "--worker", "--out", r.OutDir)
		w.cmd.Env, w.cmd.Stdout, w.cmd.Stderr = env, f, f
		err = w.cmd.Start()
		f.Close()
		if err != nil {
			return fmt.Errorf("starting worker %d: %w", i+1, err)
		}
		go func() { w.err = w.cmd.Wait(); close(w.done) }()
		ws[i] = w
	}
	fmt.Fprintf(stderr, "%d workers started; their logs: %s\n", n, filepath.Join(logDir, "worker-*.log"))

	q := r.Queue()
	line := progress.NewLine(stderr)
	start := time.Now()
	startDone, lastDone := -1, -1
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	running, failed := n, 0
	interrupted := false
	for running > 0 {
		select {
		case <-ctx.Done():
			if !interrupted {
				interrupted = true
				for _, w := range ws {
					w.cmd.Process.Signal(os.Interrupt)
				}
			}
		case <-tick.C:
		}
		for i, w := range ws {
			if w.done == nil {
				continue
			}
			select {
			case <-w.done:
				w.done = nil
				running--
				if w.err != nil {
					failed++
					line.Close()
					fmt.Fprintf(stderr, "worker %d failed (%v); the last lines of %s:\n%s", i+1, w.err, w.log, logTail(w.log, 5))
				}
			default:
			}
		}
		st, err := q.Status(context.Background())
		if err != nil || st.Total() == 0 {
			continue // the workers have not added the grid yet
		}
		if startDone < 0 {
			startDone = st.Done
		}
		if st.Done != lastDone || running == 0 {
			lastDone = st.Done
			el := time.Since(start)
			left := progress.Left(float64(st.Done-startDone), float64(st.Total()-startDone), el)
			retried := ""
			if st.Retried > 0 {
				retried = fmt.Sprintf(", %d claimed again", st.Retried)
			}
			line.Show(fmt.Sprintf("[%d/%d] tasks done, %d workers running%s  (elapsed %s, ~%s left)", st.Done, st.Total(), running, retried,
				progress.FormatDuration(el), progress.FormatDuration(left)), time.Now())
		}
	}
	line.Close()
	st, err := q.Status(context.Background())
	if err != nil {
		return err
	}
	switch {
	case interrupted:
		return ctx.Err()
	case st.Done < st.Total():
		return fmt.Errorf("%d of %d workers failed and %d of %d tasks are not done: rerun to finish them (see %s)", failed, n, st.Total()-st.Done, st.Total(), logDir)
	case failed > 0:
		fmt.Fprintf(stderr, "%d of %d workers failed, but the others finished every task (see %s)\n", failed, n, logDir)
	}
	fmt.Fprintf(stdout, "report: %s\n", filepath.Join(r.OutDir, experiment.ReportFile))
	return nil
}

// logTail returns the last n lines of the file at path.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error() + "\n"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ") + "\n"
}

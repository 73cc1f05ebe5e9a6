package experiment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/difflab/difflab/pkg/backend"
	"github.com/difflab/difflab/pkg/diffusion"
	"github.com/difflab/difflab/pkg/progress"
	"github.com/difflab/difflab/pkg/track"
)

// ReportTask is the name of the final task of a sweep's queue: writing the
// report, once every cell is done.
const ReportTask = "report"

// Queue returns the tracker queue through which workers share the grid: one
// task per cell (named by Cell.Key) and the final ReportTask. Its name holds
// the configuration's hash, so a changed experiment gets a new queue, and its
// lease is Runner.Lease.
func (r *Runner) Queue() *track.Queue {
	q := r.Store.Queue(r.Config.Name + "@" + r.Config.Hash())
	q.Lease = r.Lease
	return q
}

// work is Run for a worker (Runner.Worker): it adds the grid's tasks to the
// queue (cells already finished with the same evaluation settings are added
// done, with their run, so they are reused as by Run), then claims the next
// cell no worker holds, runs it, and records it, finishing the cell's run and
// its task together, until no cell is left. A worker that dies loses only
// the cell it held, which another worker claims when the lease expires (at
// once on the same host, where the dead process is seen by its PID); a cell
// is recorded finished once. The worker that claims the final task, after
// every cell is done, writes the report, so it is written once.
//
// The Results returned hold every finished cell, whoever ran it; Floor, VLB
// and ReportPath only for the worker that wrote the report.
func (r *Runner) work(ctx context.Context, cells []Cell, done map[string]CellResult) (*Results, error) {
	c := r.Config
	if r.Only != nil {
		return nil, errors.New("experiment: Runner.Only cannot be combined with Runner.Worker: workers share the whole grid")
	}
	q := r.Queue()
	byKey := make(map[string]Cell, len(cells))
	tasks := make([]track.Task, 0, len(cells)+1)
	for _, cell := range cells {
		byKey[cell.Key()] = cell
		tasks = append(tasks, track.Task{Name: cell.Key(), RunID: done[cell.Key()].RunID})
	}
	tasks = append(tasks, track.Task{Name: ReportTask, Final: true})
	if err := q.Add(ctx, tasks...); err != nil {
		return nil, fmt.Errorf("experiment %s: %w", c.Name, err)
	}
	st, err := q.Status(ctx)
	if err != nil {
		return nil, err
	}
	meter := sweepMeter{start: time.Now(), doneAtStart: st.Done}
	if r.Progress != nil {
		fmt.Fprintf(r.Progress, "worker %s: %d of %d tasks left in queue %s (%d reused)\n",
			q.Owner, st.Total()-st.Done, st.Total(), q.Name, len(done))
	}
	models := map[diffusion.ScheduleKind]diffusion.Denoiser{}
	scheds := map[diffusion.ScheduleKind]*diffusion.Schedule{}
	ran := 0
	for {
		lease, err := q.Claim(ctx)
		if errors.Is(err, track.ErrQueueDone) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("experiment %s: %w", c.Name, err)
		}
		if lease.Final {
			res, err := r.finishedResults(cells)
			if err == nil {
				err = r.fetchCellFiles(res)
			}
			if err == nil {
				err = r.report(lease.Context(), res, scheds, models, lease)
			}
			if errors.Is(err, track.ErrLeaseLost) {
				if r.Progress != nil {
					fmt.Fprintf(r.Progress, "worker %s lost its lease on the report; another worker writes it\n", q.Owner)
				}
				continue
			}
			if err != nil {
				lease.Release()
				return res, fmt.Errorf("experiment %s, report: %w", c.Name, err)
			}
			if r.Progress != nil {
				fmt.Fprintf(r.Progress, "worker %s wrote the report (%d cells run by this worker)\n", q.Owner, ran)
			}
			return res, nil
		}
		cell, ok := byKey[lease.Task]
		if !ok { // a task of this queue is a cell of this configuration
			lease.Release()
			return nil, fmt.Errorf("experiment %s: queue %s holds task %q, which is not a cell of the grid", c.Name, q.Name, lease.Task)
		}
		cr, err := r.workCell(ctx, cell, lease, scheds, models)
		switch {
		case errors.Is(err, track.ErrLeaseLost):
			// Another worker holds the cell now and will record it.
			if r.Progress != nil {
				fmt.Fprintf(r.Progress, "worker %s lost its lease on %s; another worker runs it\n", q.Owner, cell.Key())
			}
			continue
		case err != nil:
			lease.Release()
			return nil, fmt.Errorf("experiment %s, cell %s: %w", c.Name, cell.Key(), err)
		}
		ran++
		if r.Progress != nil {
			meter.line(r.Progress, q, cell, cr, lease.Attempt, c.Eval.Primary)
		}
	}
	res, err := r.finishedResults(cells)
	if err == nil && r.Progress != nil {
		fmt.Fprintf(r.Progress, "worker %s: every cell and the report are done (%d cells run by this worker)\n", q.Owner, ran)
	}
	return res, err
}

// workCell runs a claimed cell, making the schedule's denoiser the first time.
func (r *Runner) workCell(ctx context.Context, cell Cell, lease *track.Lease, scheds map[diffusion.ScheduleKind]*diffusion.Schedule, models map[diffusion.ScheduleKind]diffusion.Denoiser) (CellResult, error) {
	s, den, err := r.denoiser(ctx, cell.Schedule, scheds, models)
	if err != nil {
		return CellResult{}, err
	}
	if err := context.Cause(lease.Context()); err != nil {
		return CellResult{}, err // lost while the model was made: nobody would record the cell
	}
	return r.runCell(cell, s, den, lease)
}

// finishedResults reads every finished cell of the grid back from the
// tracker, in grid order, whoever ran it.
func (r *Runner) finishedResults(cells []Cell) (*Results, error) {
	done, err := r.finishedCells()
	if err != nil {
		return nil, err
	}
	res := &Results{Config: r.Config, Backend: backend.Description()}
	for _, cell := range cells {
		if cr, ok := done[cell.Key()]; ok {
			res.Cells = append(res.Cells, cr)
		}
	}
	if missing := len(cells) - len(res.Cells); missing > 0 && r.Progress != nil {
		fmt.Fprintf(r.Progress, "%d of %d cells have no finished run (deleted?): the report leaves them out\n", missing, len(cells))
	}
	return res, nil
}

// fetchCellFiles brings the samples (2-D data) or pictures (images) of the
// cells of res into the run folder from their runs' artifacts where another
// worker, on another machine perhaps, ran them: the report draws them from
// there.
func (r *Runner) fetchCellFiles(res *Results) error {
	for _, cr := range res.Cells {
		if err := r.fetchCellFile(cr.Cell, cr.RunID); err != nil {
			return err
		}
	}
	return nil
}

// fetchCellFile copies a cell's samples or picture from its run's artifacts
// into the run folder when it is not there.
func (r *Runner) fetchCellFile(cell Cell, runID string) error {
	path := r.cellFile(cell)
	name := "samples.json"
	if r.Config.isImage() {
		path = r.cellPicture(cell)
		name = filepath.Base(path)
	}
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	rc, err := r.Store.OpenArtifact(runID, name)
	if err != nil {
		if errors.Is(err, track.ErrNotFound) {
			return nil // a cell recorded without it: the figures leave it blank
		}
		return fmt.Errorf("experiment: cell %s: %w", cell.Key(), err)
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".fetch-*")
	if err != nil {
		return fmt.Errorf("experiment: %w", err)
	}
	_, err = io.Copy(tmp, rc)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("experiment: cell %s: %w", cell.Key(), err)
	}
	return nil
}

// sweepMeter writes a worker's progress lines: the queue's tasks done by all
// workers, and the time left at the rate the sweep has gone since this worker
// joined.
type sweepMeter struct {
	start       time.Time
	doneAtStart int
}

func (m *sweepMeter) line(w io.Writer, q *track.Queue, cell Cell, cr CellResult, attempt int, primary string) {
	st, err := q.Status(context.Background())
	if err != nil {
		fmt.Fprintf(w, "%s done (queue status: %v)\n", cell.Key(), err)
		return
	}
	el := time.Since(m.start)
	left := progress.Left(float64(st.Done-m.doneAtStart), float64(st.Total()-1-m.doneAtStart), el) // the report is not a cell
	again := ""
	if attempt > 1 {
		again = fmt.Sprintf(", attempt %d", attempt)
	}
	fmt.Fprintf(w, "[%d/%d] %-58s %s=%.4g  %.1fs  (%d workers%s, elapsed %s, ~%s left)\n", st.Done, st.Total()-1, cell.Key(),
		primary, cr.Metrics[primary], cr.Seconds, len(st.Holders)+1, again, progress.FormatDuration(el), progress.FormatDuration(left))
}

package train

import (
	"fmt"
	"io"
	"time"

	"github.com/difflab/difflab/pkg/progress"
)

// Progress is what Run reports to the functions given to OnProgress: after an
// update at most every progress.DefaultEvery (and after the last update), and once
// more, with Done set, when Run returns.
type Progress struct {
	Step, Steps int     // updates done (the current step) and Config.Steps
	Loss        float64 // the loss of update Step
	// Rate is in updates per second, measured between reports and smoothed
	// (progress.Meter); the interval up to the first report, which holds the graph
	// compilation, is left out. 0 until measured.
	Rate    float64
	Elapsed time.Duration // since Run started, compilation included
	Left    time.Duration // the remaining updates at Rate; 0 when unknown or done
	// Done marks the last report, sent when Run returns, whether training finished
	// or stopped: it repeats the report before it.
	Done bool
}

// String is the progress line that the progress bars show:
//
//	step 1200/10000 (12.0%)  loss 0.0312  85.3 steps/s  elapsed 14s  left 1m43s
//	step 173/2400 (7.2%)  loss 0.2622  2.61 s/step  elapsed 7m32s  left 1h36m50s
func (p Progress) String() string {
	s := fmt.Sprintf("step %d/%d (%.1f%%)  loss %.4g  %s  elapsed %s", p.Step, p.Steps, 100*p.Fraction(), p.Loss,
		progress.FormatRate(p.Rate), progress.FormatDuration(p.Elapsed))
	if p.Left > 0 {
		s += "  left " + progress.FormatDuration(p.Left)
	}
	return s
}

// Fraction is Step / Steps, in [0, 1].
func (p Progress) Fraction() float64 { return float64(p.Step) / float64(p.Steps) }

// OnProgress registers fn to receive Run's progress reports (see Progress), for a
// progress display: AttachProgressBar here, nb.AttachProgressBar in a notebook.
func (tr *Trainer) OnProgress(fn func(Progress)) { tr.progressFns = append(tr.progressFns, fn) }

// AttachProgressBar shows Run's progress on w as the line of Progress.String: on
// a terminal redrawn in place at every report, on any other output (a log file, a
// pipe) a plain line every progress.PlainEvery and the last one (see
// progress.Line). It does nothing when w is nil.
func AttachProgressBar(tr *Trainer, w io.Writer) {
	if w != nil {
		tr.OnProgress(progressBar(w))
	}
}

func progressBar(w io.Writer) func(Progress) {
	line := progress.NewLine(w)
	return func(p Progress) {
		if p.Done {
			line.Close()
			return
		}
		// The line's clock is the run's own (the zero time plus Elapsed), so that
		// plain lines follow the reports' times.
		line.Show(p.String(), time.Time{}.Add(p.Elapsed))
	}
}

// progressReporter measures Run's rate and sends the reports.
type progressReporter struct {
	fns   []func(Progress)
	meter *progress.Meter
	last  Progress
	sent  bool
}

// newProgressReporter starts measuring at now a run from update step of steps; it
// returns nil when no one listens.
func newProgressReporter(fns []func(Progress), step, steps int, now time.Time) *progressReporter {
	if len(fns) == 0 {
		return nil
	}
	return &progressReporter{fns: fns, meter: progress.NewMeter(step, steps, now)}
}

// update reports update step with its loss, when the meter refreshes.
func (r *progressReporter) update(step int, loss float64, now time.Time) {
	if r == nil || !r.meter.Update(step, now) {
		return
	}
	m := r.meter
	r.last = Progress{Step: step, Steps: m.Total(), Loss: loss, Rate: m.Rate(), Elapsed: m.Elapsed(), Left: m.Left()}
	r.sent = true
	r.send(r.last)
}

// done sends the last report again with Done set, if any was sent.
func (r *progressReporter) done() {
	if r == nil || !r.sent {
		return
	}
	p := r.last
	p.Done = true
	r.send(p)
}

func (r *progressReporter) send(p Progress) {
	for _, fn := range r.fns {
		fn(p)
	}
}

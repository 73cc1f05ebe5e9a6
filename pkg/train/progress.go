package train

import (
	"fmt"
	"html"
	"io"
	"time"

	"github.com/janpfeifer/gonb/gonbui"
)

// progress is the one-line display of Run,
//
//	step 1200/10000 (12.0%)  loss 0.0312  85.3 steps/s  elapsed 14s  left 1m43s
//	step 173/2400 (7.2%)  loss 0.2622  2.61 s/step  elapsed 7m32s  left 1h36m50s
//
// written with a leading carriage return to w, and, under GoNB, the same line as an
// HTML block updated in place. Refreshes are limited to one per refreshEvery. The
// rate is measured between refreshes and smoothed exponentially (as tqdm does), and
// the time left is the remaining steps at that rate. The interval up to the first
// refresh, which holds the graph compilation, is left out of the rate (unless the
// run ends before a second refresh) but counted in the elapsed time.
type progress struct {
	w        io.Writer
	notebook bool
	htmlID   string
	total    int

	start     time.Time
	startStep int
	lastTime  time.Time
	lastStep  int
	rate      float64 // smoothed steps per second; 0 until measured
	measured  bool    // whether lastTime is past the first refresh (which holds the compilation)
	line      string
}

// rateSmoothing is the weight of the newest measurement in the smoothed rate.
const rateSmoothing = 0.3

const refreshEvery = 250 * time.Millisecond

// newProgress starts a display for a run from update start to total.
func newProgress(w io.Writer, start, total int) *progress {
	now := time.Now()
	p := &progress{w: w, total: total, notebook: gonbui.IsNotebook, start: now, startStep: start, lastTime: now, lastStep: start}
	if p.notebook {
		p.htmlID = "difflab_train_" + gonbui.UniqueId()
	}
	return p
}

func (p *progress) enabled() bool { return p.w != nil || p.notebook }

func (p *progress) update(step int, loss float64) {
	if !p.enabled() {
		return
	}
	now := time.Now()
	dt := now.Sub(p.lastTime)
	if dt < refreshEvery && step != p.total {
		return
	}
	if p.measured && dt > 0 && step > p.lastStep {
		r := float64(step-p.lastStep) / dt.Seconds()
		if p.rate == 0 {
			p.rate = r
		} else {
			p.rate = rateSmoothing*r + (1-rateSmoothing)*p.rate
		}
	}
	if p.rate == 0 && step == p.total && step > p.startStep {
		p.rate = float64(step-p.startStep) / now.Sub(p.start).Seconds() // a short run: its average, compilation included
	}
	p.lastStep, p.lastTime, p.measured = step, now, true
	p.line = fmt.Sprintf("step %d/%d (%.1f%%)  loss %.4g  %s  elapsed %s", step, p.total, 100*float64(step)/float64(p.total), loss,
		formatRate(p.rate), formatDuration(now.Sub(p.start)))
	if p.rate > 0 && step < p.total {
		p.line += "  left " + formatDuration(time.Duration(float64(p.total-step)/p.rate*float64(time.Second)))
	}
	if p.w != nil {
		fmt.Fprintf(p.w, "\r%s\x1b[K", p.line)
	}
	if p.notebook {
		frac := float64(step) / float64(p.total)
		gonbui.UpdateHTML(p.htmlID, fmt.Sprintf(
			`<div style="font-family:monospace"><progress value="%.4f" max="1" style="width:20em"></progress> %s</div>`,
			frac, html.EscapeString(p.line)))
	}
}

func (p *progress) finish() {
	if p.w != nil && p.line != "" {
		fmt.Fprintln(p.w)
	}
}

// formatRate writes a rate of r steps per second as steps/s when it is at least one
// a second and as s/step below, so that slow trainings keep their precision.
func formatRate(r float64) string {
	switch {
	case r <= 0:
		return "- steps/s"
	case r >= 1:
		return fmt.Sprintf("%.1f steps/s", r)
	}
	return fmt.Sprintf("%.2f s/step", 1/r)
}

// formatDuration writes d rounded to the second: 45s, 7m32s, 1h36m50s.
func formatDuration(d time.Duration) string {
	return d.Round(time.Second).String()
}

package train

import (
	"fmt"
	"html"
	"io"
	"time"

	"github.com/janpfeifer/gonb/gonbui"
)

// progress is the one-line display of Run: "step 1200/10000 (12.0%)  loss 0.0312  85.3 steps/s"
// written with a leading carriage return to w, and, under GoNB, the same line as an
// HTML block updated in place. Refreshes are limited to one per refreshEvery; the
// steps/s figure is measured between refreshes.
type progress struct {
	w        io.Writer
	notebook bool
	htmlID   string
	total    int

	lastTime time.Time
	lastStep int
	rate     float64
	line     string
}

const refreshEvery = 250 * time.Millisecond

// newProgress starts a display for a run from update start to total.
func newProgress(w io.Writer, start, total int) *progress {
	p := &progress{w: w, total: total, notebook: gonbui.IsNotebook, lastTime: time.Now(), lastStep: start}
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
	if dt > 0 {
		p.rate = float64(step-p.lastStep) / dt.Seconds()
	}
	p.lastStep, p.lastTime = step, now
	p.line = fmt.Sprintf("step %d/%d (%.1f%%)  loss %.4g  %.1f steps/s", step, p.total, 100*float64(step)/float64(p.total), loss, p.rate)
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

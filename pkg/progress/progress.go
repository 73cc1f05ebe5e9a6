// Package progress measures long loops and shows how far they are: the rate, the
// elapsed time and the time left, as one line that a terminal redraws in place
// and that any other output (a log file, a pipe) gets as a plain line every few
// seconds.
//
//	line := progress.NewLine(os.Stderr)
//	defer line.Close()
//	start := time.Now()
//	for i := 1; i <= n; i++ {
//		work(i)
//		el := time.Since(start)
//		line.Show(fmt.Sprintf("step %d/%d  %s left", i, n, progress.FormatDuration(progress.Left(float64(i), float64(n), el))), time.Now())
//	}
//
// Time is always passed in (a now argument, never a clock read inside), so tests
// drive it with a fake clock.
package progress

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"
)

// Left is the time left at the average rate so far: spent on done units of work
// out of total,
//
//	left = spent (total - done) / done
//
// The units need not be steps: any measure of work that takes about the same time
// per unit (denoiser calls, for instance). Left is 0 when done <= 0 (no rate to go
// by yet) or done >= total.
func Left(done, total float64, spent time.Duration) time.Duration {
	if !(done > 0) || done >= total {
		return 0
	}
	return time.Duration(float64(spent) * (total - done) / done)
}

// Meter measures the rate of a loop from a start step to a total, refreshing its
// estimate at most once per Every (and at the last step). The rate is measured
// between refreshes and smoothed exponentially, as tqdm does:
//
//	rate = Smoothing r + (1 - Smoothing) rate,   r = steps since the last refresh / time since it
//
// The interval up to the first refresh, which holds one-off costs such as compiling
// a graph, is left out of the rate, unless the loop ends before a second refresh:
// then the rate is the average over the whole run. The elapsed time counts
// everything.
//
// A Meter is not safe for concurrent use.
type Meter struct {
	// Every is the least time between two refreshes. NewMeter sets DefaultEvery.
	Every time.Duration

	total, startStep int
	start, last      time.Time
	step             int
	rate             float64 // smoothed steps per second; 0 until measured
	measured         bool    // whether last is past the first refresh
}

// DefaultEvery is a Meter's Every unless set: four refreshes a second.
const DefaultEvery = 250 * time.Millisecond

// Smoothing is the weight of the newest measurement in a Meter's rate.
const Smoothing = 0.3

// NewMeter starts measuring at now a loop that has done step of total steps.
func NewMeter(step, total int, now time.Time) *Meter {
	return &Meter{Every: DefaultEvery, total: total, startStep: step, start: now, last: now, step: step}
}

// Update records that step steps are done at now. It refreshes the estimate, and
// reports true, when Every has passed since the last refresh or step is the total;
// otherwise it changes nothing.
func (m *Meter) Update(step int, now time.Time) bool {
	dt := now.Sub(m.last)
	if dt < m.Every && step != m.total {
		return false
	}
	if m.measured && dt > 0 && step > m.step {
		r := float64(step-m.step) / dt.Seconds()
		if m.rate == 0 {
			m.rate = r
		} else {
			m.rate = Smoothing*r + (1-Smoothing)*m.rate
		}
	}
	if m.rate == 0 && step == m.total && step > m.startStep {
		m.rate = float64(step-m.startStep) / now.Sub(m.start).Seconds() // a short run: its average, one-off costs included
	}
	m.step, m.last, m.measured = step, now, true
	return true
}

// Step is the step of the last refresh.
func (m *Meter) Step() int { return m.step }

// Total is the number of steps of the loop.
func (m *Meter) Total() int { return m.total }

// Rate is the smoothed rate in steps per second at the last refresh; 0 until it
// has been measured.
func (m *Meter) Rate() float64 { return m.rate }

// Elapsed is the time from the start to the last refresh.
func (m *Meter) Elapsed() time.Duration { return m.last.Sub(m.start) }

// Left is the time left at Rate after the last refresh: 0 when the rate is not
// known yet or the loop is done.
func (m *Meter) Left() time.Duration {
	if m.rate <= 0 || m.step >= m.total {
		return 0
	}
	return time.Duration(float64(m.total-m.step) / m.rate * float64(time.Second))
}

// FormatRate writes a rate of r steps per second as steps/s when it is at least one
// a second and as s/step below, so that slow loops keep their precision:
// "85.3 steps/s", "2.61 s/step", and "- steps/s" when r <= 0 (not measured yet).
func FormatRate(r float64) string {
	switch {
	case r <= 0:
		return "- steps/s"
	case r >= 1:
		return fmt.Sprintf("%.1f steps/s", r)
	}
	return fmt.Sprintf("%.2f s/step", 1/r)
}

// FormatDuration writes d rounded to the second: 45s, 7m32s, 1h36m50s.
func FormatDuration(d time.Duration) string {
	return d.Round(time.Second).String()
}

// PlainEvery is the least time between two lines that a Line writes to an output
// that is not a terminal.
const PlainEvery = 5 * time.Second

// Line shows a progress line on an output. On a terminal each Show redraws the
// line in place: a carriage return, the text and an erase to the end of the line.
// On any other output (a file, a pipe, a buffer) Show writes the text as a plain
// line, ending in a newline and free of control characters, at most once every
// PlainEvery counting from the first Show, so that a log file gets one line every
// few seconds; Close writes the latest text if Show did not. Callers limit how
// often they call Show (a terminal redraws at every call).
//
// A Line is not safe for concurrent use.
type Line struct {
	w        io.Writer
	terminal bool
	text     string    // the latest text shown
	pending  bool      // (plain) whether text has not been written
	open     bool      // (terminal) whether a line is drawn without its newline
	started  bool      // (plain) whether last is set
	last     time.Time // (plain) when a line was last written, or the first Show
}

// NewLine returns a Line on w, in place when IsTerminal(w), plain otherwise.
func NewLine(w io.Writer) *Line { return &Line{w: w, terminal: IsTerminal(w)} }

// Show shows text, the progress at now.
func (l *Line) Show(text string, now time.Time) {
	l.text = text
	if l.terminal {
		fmt.Fprintf(l.w, "\r%s\x1b[K", text)
		l.open = true
		return
	}
	l.pending = true
	switch {
	case !l.started:
		l.started, l.last = true, now
	case now.Sub(l.last) >= PlainEvery:
		l.writePlain()
		l.last = now
	}
}

// Close ends the display: on a terminal it ends the line drawn last; elsewhere it
// writes the latest text unless it was written already. It writes nothing when
// Show was never called, and nothing more when called again.
func (l *Line) Close() {
	switch {
	case l.open:
		fmt.Fprintln(l.w)
		l.open = false
	case l.pending:
		l.writePlain()
	}
}

func (l *Line) writePlain() {
	fmt.Fprintln(l.w, l.text)
	l.pending = false
}

// IsTerminal reports whether w is a terminal: an *os.File open on one, or a writer
// with a method IsTerminal() bool that says so (a wrapper that knows, or a test's
// fake terminal).
func IsTerminal(w io.Writer) bool {
	switch w := w.(type) {
	case interface{ IsTerminal() bool }:
		return w.IsTerminal()
	case *os.File:
		return term.IsTerminal(int(w.Fd()))
	}
	return false
}

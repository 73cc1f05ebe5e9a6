package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/difflab/difflab/pkg/progress"
)

// stepProgress returns a diffusion.SampleOptions.Progress callback that shows
// "label: step 37/100  1.93 s/step  1m12s left" on w (a progress.Line: redrawn in
// place on a terminal, a plain line every few seconds elsewhere) at most every
// progressEvery, starting once the work has run for progressAfter (short runs
// print nothing), and ends the line after the last step. It returns nil when w is
// nil.
func stepProgress(w io.Writer, label string) func(done, total int) {
	return stepProgressClock(w, label, time.Now)
}

// stepProgressClock is stepProgress with the clock given.
func stepProgressClock(w io.Writer, label string, clock func() time.Time) func(done, total int) {
	if w == nil {
		return nil
	}
	line := progress.NewLine(w)
	start := clock()
	var last time.Time
	printed := false
	return func(done, total int) {
		now := clock()
		el := now.Sub(start)
		if done < total && (el < progressAfter || now.Sub(last) < progressEvery) {
			return
		}
		if done == total && !printed {
			return
		}
		last, printed = now, true
		left := progress.Left(float64(done), float64(total), el)
		line.Show(fmt.Sprintf("%s: step %d/%d  %.3g s/step  %s left", label, done, total, el.Seconds()/float64(done), progress.FormatDuration(left)), now)
		if done == total {
			line.Close()
		}
	}
}

const (
	progressAfter = time.Second
	progressEvery = 500 * time.Millisecond
)

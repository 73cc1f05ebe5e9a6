package cli

import (
	"fmt"
	"io"
	"time"
)

// stepProgress returns a diffusion.SampleOptions.Progress callback that writes
// "label: step 37/100  1.93 s/step  1m12s left" to w, redrawn in place with a
// carriage return at most every progressEvery, starting once the work has run for
// progressAfter (short runs print nothing), and a newline after the last step. It
// returns nil when w is nil.
func stepProgress(w io.Writer, label string) func(done, total int) {
	return stepProgressClock(w, label, time.Now)
}

// stepProgressClock is stepProgress with the clock given.
func stepProgressClock(w io.Writer, label string, clock func() time.Time) func(done, total int) {
	if w == nil {
		return nil
	}
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
		per := el.Seconds() / float64(done)
		left := time.Duration(per * float64(total-done) * float64(time.Second)).Round(time.Second)
		fmt.Fprintf(w, "\r%s: step %d/%d  %.3g s/step  %v left\x1b[K", label, done, total, per, left)
		if done == total {
			fmt.Fprintln(w)
		}
	}
}

const (
	progressAfter = time.Second
	progressEvery = 500 * time.Millisecond
)

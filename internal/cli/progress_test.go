package cli

import (
	"strings"
	"testing"
	"time"
)

func TestStepProgress(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var now time.Time
	clock := func() time.Time { return now }
	var b strings.Builder
	now = t0
	p := stepProgressClock(&b, "sample", clock)
	for _, c := range []struct {
		at   time.Duration
		done int
		want string // appended to the output by this call
	}{
		{500 * time.Millisecond, 1, ""}, // before progressAfter
		{1200 * time.Millisecond, 2, "\rsample: step 2/4  0.6 s/step  1s left\x1b[K"},
		{1500 * time.Millisecond, 3, ""}, // within progressEvery of the last line
		{2000 * time.Millisecond, 4, "\rsample: step 4/4  0.5 s/step  0s left\x1b[K\n"},
	} {
		before := b.Len()
		now = t0.Add(c.at)
		p(c.done, 4)
		if got := b.String()[before:]; got != c.want {
			t.Errorf("at %v step %d wrote %q, want %q", c.at, c.done, got, c.want)
		}
	}
	// A run that ends within progressAfter prints nothing, not even the newline.
	b.Reset()
	now = t0
	p = stepProgressClock(&b, "sample", clock)
	now = t0.Add(100 * time.Millisecond)
	p(1, 2)
	p(2, 2)
	if b.Len() != 0 {
		t.Errorf("a short run wrote %q, want nothing", b.String())
	}
	if stepProgress(nil, "sample") != nil {
		t.Error("stepProgress(nil) is not nil")
	}
}

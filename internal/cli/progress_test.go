package cli

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

// fakeTerminal is a buffer that progress.IsTerminal takes for a terminal.
type fakeTerminal struct{ bytes.Buffer }

func (*fakeTerminal) IsTerminal() bool { return true }

// TestStepProgress: on a terminal the line is redrawn in place; elsewhere it is a
// plain line every few seconds and at the end.
func TestStepProgress(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var now time.Time
	clock := func() time.Time { return now }
	for _, out := range []struct {
		name string
		w    interface {
			io.Writer
			Len() int
			String() string
			Reset()
		}
		plain bool
	}{{"terminal", &fakeTerminal{}, false}, {"log", &bytes.Buffer{}, true}} {
		b := out.w
		now = t0
		p := stepProgressClock(b, "sample", clock)
		for _, c := range []struct {
			at        time.Duration
			done      int
			want      string // appended to a terminal by this call
			wantPlain string // appended to a log by this call
		}{
			{500 * time.Millisecond, 1, "", ""}, // before progressAfter
			{1200 * time.Millisecond, 2, "\rsample: step 2/4  0.6 s/step  1s left\x1b[K", ""},
			{1500 * time.Millisecond, 3, "", ""}, // within progressEvery of the last line
			{2000 * time.Millisecond, 4, "\rsample: step 4/4  0.5 s/step  0s left\x1b[K\n", "sample: step 4/4  0.5 s/step  0s left\n"},
		} {
			before := b.Len()
			now = t0.Add(c.at)
			p(c.done, 4)
			want := c.want
			if out.plain {
				want = c.wantPlain
			}
			if got := b.String()[before:]; got != want {
				t.Errorf("%s: at %v step %d wrote %q, want %q", out.name, c.at, c.done, got, want)
			}
		}
		// A run that ends within progressAfter prints nothing, not even the newline.
		b.Reset()
		now = t0
		p = stepProgressClock(b, "sample", clock)
		now = t0.Add(100 * time.Millisecond)
		p(1, 2)
		p(2, 2)
		if b.Len() != 0 {
			t.Errorf("%s: a short run wrote %q, want nothing", out.name, b.String())
		}
	}
	if stepProgress(nil, "sample") != nil {
		t.Error("stepProgress(nil) is not nil")
	}

	// A long run on a log: one plain line every 5 s, and the last.
	var log bytes.Buffer
	now = t0
	p := stepProgressClock(&log, "sample", clock)
	for s := 1; s <= 12; s++ {
		now = t0.Add(time.Duration(s) * time.Second)
		p(s, 12)
	}
	lines := strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n")
	if want := []string{"sample: step 6/12  1 s/step  6s left", "sample: step 11/12  1 s/step  1s left", "sample: step 12/12  1 s/step  0s left"}; strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Errorf("log got %q, want %q", lines, want)
	}
}

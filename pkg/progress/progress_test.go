package progress

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// terminal is a fake terminal: a buffer that says it is one.
type terminal struct{ bytes.Buffer }

func (*terminal) IsTerminal() bool { return true }

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func TestLeft(t *testing.T) {
	for _, c := range []struct {
		done, total float64
		spent       time.Duration
		want        time.Duration
	}{
		{2, 4, 1200 * time.Millisecond, 1200 * time.Millisecond},
		{1, 10, time.Second, 9 * time.Second},
		{30, 40, time.Minute, 20 * time.Second}, // cost units: 30 of 40 in a minute
		{4, 4, 2 * time.Second, 0},
		{0, 4, time.Second, 0},
	} {
		if got := Left(c.done, c.total, c.spent); got != c.want {
			t.Errorf("Left(%v, %v, %v) = %v, want %v", c.done, c.total, c.spent, got, c.want)
		}
	}
}

// TestMeter: the rate leaves out the first interval (the compilation), is then
// smoothed with weight Smoothing, and the time left is the remaining steps at it.
func TestMeter(t *testing.T) {
	m := NewMeter(0, 10, t0)
	if m.Update(1, at(100*time.Millisecond)) {
		t.Errorf("Update within Every refreshed")
	}
	if !m.Update(2, at(30*time.Second)) || m.Rate() != 0 || m.Left() != 0 || m.Elapsed() != 30*time.Second {
		t.Errorf("first refresh: rate %v, left %v, elapsed %v; want no rate, no time left, 30s", m.Rate(), m.Left(), m.Elapsed())
	}
	m.Update(4, at(34*time.Second)) // 2 steps in 4 s
	if m.Rate() != 0.5 || m.Left() != 12*time.Second || FormatRate(m.Rate()) != "2.00 s/step" {
		t.Errorf("rate %v (%s), left %v; want 0.5 (2.00 s/step) and 12s", m.Rate(), FormatRate(m.Rate()), m.Left())
	}
	m.Update(10, at(37*time.Second)) // 6 steps in 3 s: 0.3*2 + 0.7*0.5 = 0.95 steps/s
	if r := m.Rate(); r < 0.95-1e-12 || r > 0.95+1e-12 || FormatRate(r) != "1.05 s/step" || m.Left() != 0 || m.Step() != 10 {
		t.Errorf("last refresh: rate %v (%s), left %v, step %d; want 0.95 (1.05 s/step), 0, 10", r, FormatRate(r), m.Left(), m.Step())
	}

	// A run that ends before a second refresh gets its average, compilation included.
	m = NewMeter(5, 8, t0)
	m.Update(8, at(1500*time.Millisecond))
	if m.Rate() != 2 {
		t.Errorf("short run rate %v, want 3 steps / 1.5 s = 2", m.Rate())
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		r    float64
		want string
	}{{0, "- steps/s"}, {85.34, "85.3 steps/s"}, {1, "1.0 steps/s"}, {1 / 2.61, "2.61 s/step"}} {
		if got := FormatRate(c.r); got != c.want {
			t.Errorf("FormatRate(%v) = %q, want %q", c.r, got, c.want)
		}
	}
	if got := FormatDuration(time.Hour + 36*time.Minute + 50*time.Second + 400*time.Millisecond); got != "1h36m50s" {
		t.Errorf("FormatDuration = %q, want 1h36m50s", got)
	}
}

// TestLineTerminal: a terminal gets every Show redrawn in place, and Close ends the line.
func TestLineTerminal(t *testing.T) {
	var w terminal
	l := NewLine(&w)
	l.Show("step 1/3", at(0))
	l.Show("step 2/3", at(time.Millisecond))
	l.Show("step 3/3", at(2*time.Millisecond))
	l.Close()
	l.Close()
	if got, want := w.String(), "\rstep 1/3\x1b[K\rstep 2/3\x1b[K\rstep 3/3\x1b[K\n"; got != want {
		t.Errorf("terminal got %q, want %q", got, want)
	}
}

// TestLinePlain: any other output gets a plain line at most every PlainEvery,
// counted from the first Show, and the latest text at Close when it was not
// written yet.
func TestLinePlain(t *testing.T) {
	var w bytes.Buffer
	l := NewLine(&w)
	for s := 0; s <= 12; s++ { // one Show a second for 12 s
		l.Show("at "+time.Duration(s*int(time.Second)).String(), at(time.Duration(s)*time.Second))
	}
	l.Close()
	l.Close()
	if got, want := w.String(), "at 5s\nat 10s\nat 12s\n"; got != want {
		t.Errorf("plain got %q, want %q", got, want)
	}

	w.Reset()
	l = NewLine(&w)
	l.Show("step 1/2", at(0))
	l.Show("step 2/2", at(5*time.Second))
	l.Close()
	if got, want := w.String(), "step 2/2\n"; got != want {
		t.Errorf("plain got %q, want %q: the last line written once", got, want)
	}

	w.Reset()
	NewLine(&w).Close()
	if w.Len() != 0 {
		t.Errorf("Close without Show wrote %q", w.String())
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) || IsTerminal(&bytes.Buffer{}) || IsTerminal(&strings.Builder{}) {
		t.Errorf("a file or a buffer counts as a terminal")
	}
	if !IsTerminal(&terminal{}) {
		t.Errorf("a writer whose IsTerminal says true does not count as a terminal")
	}
}

package plot

import (
	"bytes"
	"image/png"
	"io"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/plot"
)

func TestScatterAndLinesArePNGs(t *testing.T) {
	for name, fn := range map[string]func(w io.Writer) error{
		"scatter": func(w io.Writer) error {
			return Scatter(w, "samples", 300, &[2]float64{-3, 3}, Points{"a", [][]float64{{0, 0}, {1, 1}}}, Points{"b", [][]float64{{-1, 2}}})
		},
		"lines": func(w io.Writer) error {
			return Lines(w, LineOptions{Title: "SWD", LogX: true, Width: 500, Height: 300},
				Series{"eta=0", []float64{10, 20, 50}, []float64{0.3, 0.2, 0.1}}, Series{"eta=1", []float64{10, 20, 50}, []float64{0.5, 0.3, 0.15}})
		},
	} {
		b, err := PNG(fn)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: not a PNG: %v", name, err)
		}
		wantW := map[string]int{"scatter": 300, "lines": 500}[name]
		if img.Bounds().Dx() != wantW {
			t.Errorf("%s: width %d, want %d", name, img.Bounds().Dx(), wantW)
		}
	}
}

func TestLinesRejectsRaggedSeries(t *testing.T) {
	err := Lines(io.Discard, LineOptions{}, Series{"bad", []float64{1, 2}, []float64{1}})
	if err == nil {
		t.Error("Lines accepted a series with 2 x and 1 y values")
	}
}

func TestImageGridPixels(t *testing.T) {
	// Two 2x2 grey images: the first black (-1), the second white (+1) but one pixel at 0.
	px := []float64{-1, -1, -1, -1, 1, 1, 1, 0}
	img := ImageGrid(px, 2, 2, 2, 1, 2, 1)
	if b := img.Bounds(); b.Dx() != 2*3+1 || b.Dy() != 3+1 {
		t.Fatalf("grid size %v, want 7x4", b)
	}
	check := func(x, y int, want uint8) {
		t.Helper()
		r, _, _, _ := img.At(x, y).RGBA()
		if uint8(r>>8) != want {
			t.Errorf("pixel (%d, %d) = %d, want %d", x, y, r>>8, want)
		}
	}
	check(1, 1, 0)   // first image, black
	check(4, 1, 255) // second image, white
	check(5, 2, 128) // its last pixel, 0 -> 127.5 rounds to 128
	check(0, 0, 255) // gap
	check(3, 1, 255) // gap between the images
}

// TestLinesLogAxisOnePoint draws a log-log plot of a single point, whose range
// has zero width.
func TestLinesLogAxisOnePoint(t *testing.T) {
	if _, err := PNG(func(w io.Writer) error {
		return Lines(w, LineOptions{LogX: true, LogY: true}, Series{"one", []float64{10}, []float64{0.5}})
	}); err != nil {
		t.Fatal(err)
	}
}

// TestTickLabels: linear ticks drop trailing zeros and rounding noise; log ticks over
// less than two decades label 2 and 5 times the powers of ten too.
func TestTickLabels(t *testing.T) {
	labels := func(ts []plot.Tick) []string {
		var l []string
		for _, tk := range ts {
			if tk.Label != "" {
				l = append(l, tk.Label)
			}
		}
		return l
	}
	if got := labels(LinearTicker{}.Ticks(0, 2400)); !slices.Contains(got, "1000") || slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, ".") }) {
		t.Errorf("linear ticks over [0, 2400]: %q, want whole numbers such as 1000", got)
	}
	if got := labels(LinearTicker{}.Ticks(0, 0.9)); slices.ContainsFunc(got, func(s string) bool { return len(s) > 4 }) {
		t.Errorf("linear ticks over [0, 0.9]: %q, want short labels such as 0.3", got)
	}
	if got, want := labels(LogTicker{}.Ticks(0.13, 1.2)), []string{"0.2", "0.5", "1"}; !slices.Equal(got, want) {
		t.Errorf("log ticks over [0.13, 1.2]: %q, want %q", got, want)
	}
	if got, want := labels(LogTicker{}.Ticks(0.13, 0.19)), []string{"0.13", "0.19"}; !slices.Equal(got, want) {
		t.Errorf("log ticks over [0.13, 0.19]: %q, want the ends %q", got, want)
	}
	if got, want := labels(LogTicker{}.Ticks(10, 1000)), []string{"10", "100", "1000"}; !slices.Equal(got, want) {
		t.Errorf("log ticks over [10, 1000]: %q, want %q (whole numbers written out)", got, want)
	}
	if got := labels(LogTicker{}.Ticks(1e-4, 1)); slices.Contains(got, "0.002") || !slices.Contains(got, "0.001") {
		t.Errorf("log ticks over [1e-4, 1]: %q, want the powers of ten only", got)
	}
}

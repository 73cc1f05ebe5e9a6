package nb

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/difflab/difflab/pkg/track"
)

func run(row string, steps int64, swd float64) track.RunInfo {
	return track.RunInfo{Name: "r", Status: track.Status("finished"), Params: map[string]any{"steps": steps},
		Tags: map[string]string{"row": row}, Metrics: map[string]float64{"swd": swd}}
}

func TestPivot(t *testing.T) {
	runs := []track.RunInfo{
		run("eta=0", 100, 1), run("eta=0", 20, 3), run("eta=0", 20, 5),
		run("sigma-hat", 20, 7),
		{Params: map[string]any{"steps": int64(20)}, Tags: map[string]string{"row": "eta=0"}}, // no metric: left out
	}
	p := NewPivot(runs, "tags.row", "params.steps", "metrics.swd")
	if !slices.Equal(p.Rows, []string{"eta=0", "sigma-hat"}) || !slices.Equal(p.Cols, []string{"20", "100"}) {
		t.Fatalf("rows %v, cols %v; want [eta=0 sigma-hat] and [20 100] (numeric order)", p.Rows, p.Cols)
	}
	// eta=0, S=20: mean of 3 and 5 is 4, sample std sqrt(2).
	if p.Mean[0][0] != 4 || math.Abs(p.Std[0][0]-math.Sqrt2) > 1e-15 || p.N[0][0] != 2 {
		t.Errorf("cell (eta=0, 20) = %v ± %v (n %d), want 4 ± 1.414 (n 2)", p.Mean[0][0], p.Std[0][0], p.N[0][0])
	}
	if !math.IsNaN(p.Mean[1][1]) || p.N[1][1] != 0 {
		t.Errorf("empty cell (sigma-hat, 100) = %v (n %d), want NaN (n 0)", p.Mean[1][1], p.N[1][1])
	}
	h, rows := p.Table()
	if want := []string{"tags.row \\ params.steps", "20", "100"}; !slices.Equal(h, want) {
		t.Errorf("header %q, want %q", h, want)
	}
	if want := []string{"eta=0", "4 ± 1.4", "1"}; !slices.Equal(rows[0], want) {
		t.Errorf("row 0 %q, want %q", rows[0], want)
	}
	if want := []string{"sigma-hat", "7", ""}; !slices.Equal(rows[1], want) {
		t.Errorf("row 1 %q, want %q", rows[1], want)
	}
	if html := p.HTML(); !strings.Contains(html, "<caption>metrics.swd</caption>") || !strings.Contains(html, "<td>4 ± 1.4</td>") {
		t.Errorf("HTML:\n%s", html)
	}
	s := p.Series()
	if len(s) != 2 || s[0].Name != "eta=0" || !slices.Equal(s[0].X, []float64{20, 100}) || s[0].Y[1] != 1 {
		t.Errorf("Series = %+v", s)
	}
	q := NewPivot(runs, "params.steps", "tags.row", "metrics.swd")
	wantPanic(t, "not a number", func() { q.Series() })
	wantPanic(t, "field", func() { Field(runs[0], "bogus.x") })
}

func TestPivotBest(t *testing.T) {
	runs := []track.RunInfo{
		{Params: map[string]any{"steps": int64(10)}, Tags: map[string]string{"row": "eta=0"}, Metrics: map[string]float64{"swd": 2, "loglik": -3, "latent_std": 0.9}},
		{Params: map[string]any{"steps": int64(10)}, Tags: map[string]string{"row": "eta=1"}, Metrics: map[string]float64{"swd": 1, "loglik": -4, "latent_std": 1.1}},
		{Params: map[string]any{"steps": int64(20)}, Tags: map[string]string{"row": "eta=1"}, Metrics: map[string]float64{"swd": 5, "loglik": -1, "latent_std": 1}},
	}
	for _, c := range []struct {
		value string
		want  []int
	}{
		{"metrics.swd", []int{1, 1}},    // lower is better
		{"metrics.loglik", []int{0, 1}}, // higher is better
		{"metrics.latent_std", []int{-1, -1}},
		{"params.steps", []int{-1}},
	} {
		col := "params.steps"
		if c.value == "params.steps" {
			col = "tags.row"
		}
		p := NewPivot(runs, "tags.row", col, c.value)
		if got := p.Best(); !slices.Equal(got[:len(c.want)], c.want) {
			t.Errorf("NewPivot(%s).Best() = %v, want %v", c.value, got, c.want)
		}
	}
	html := NewPivot(runs, "tags.row", "params.steps", "metrics.loglik").HTMLBest()
	if !strings.Contains(html, `<td style="font-weight:bold">-3</td>`) || !strings.Contains(html, "<td>-4</td>") || strings.Contains(html, "\x00") {
		t.Errorf("HTMLBest:\n%s", html)
	}
}

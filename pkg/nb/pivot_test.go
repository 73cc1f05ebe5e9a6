package nb

import (
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
	// The numbers are track.NewPivot's (tested there); here, what nb adds.
	p := NewPivot(runs, "tags.row", "params.steps", "metrics.swd")
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

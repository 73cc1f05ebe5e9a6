package nbdisplay

import (
	"bytes"
	"image/png"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/difflab/difflab/pkg/track"
)

func TestRunsHTMLEscapes(t *testing.T) {
	runs := []track.RunInfo{{
		ID: "abc", Name: `<script>alert("x")</script>`, Experiment: "a&b", Status: track.StatusFinished,
		StartTime: time.Unix(0, 0), EndTime: time.Unix(60, 0),
		Params:  map[string]any{"sampler": "<i>ddim</i>", "eta": 0.5},
		Metrics: map[string]float64{"fid": 7.25},
	}, {ID: "def", Name: "plain", Status: track.StatusRunning, StartTime: time.Now()}}
	got := RunsHTML(runs)
	for _, want := range []string{
		"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "a&amp;b", "&lt;i&gt;ddim&lt;/i&gt;",
		"<th>params.eta</th>", "<th>params.sampler</th>", "<th>metrics.fid</th>", ">7.25</td>", ">0.5</td>", "<td>1m0s</td>",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("RunsHTML lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "<script>") || strings.Contains(got, "<i>") {
		t.Errorf("RunsHTML has unescaped markup:\n%s", got)
	}
	if n := strings.Count(got, "<tr>"); n != 3 {
		t.Errorf("RunsHTML has %d rows, want header + 2", n)
	}
	if got := RunsHTML(runs, "tags.none"); !strings.Contains(got, "<th>tags.none</th>") || strings.Contains(got, "params.eta") {
		t.Errorf("RunsHTML(columns) = %s, want only the chosen column", got)
	}
}

func TestChartPNG(t *testing.T) {
	var a, b []track.Point
	for i := range 5000 {
		a = append(a, track.Point{Step: int64(i), Value: 1 / float64(i+1)})
		b = append(b, track.Point{Step: int64(i), Value: 2 / float64(i+1)})
	}
	a[10].Value = math.NaN()
	b[20].Value = math.Inf(1)
	tests := []struct {
		name          string
		series        []Series
		opts          ChartOptions
		width, height int
	}{
		{"default size", []Series{{"a", a}, {"b", b}}, ChartOptions{}, 640, 400},
		{"custom size log", []Series{{"a", a}}, ChartOptions{Width: 300, Height: 200, LogY: true, Title: "loss"}, 300, 200},
		{"empty series", []Series{{"none", nil}}, ChartOptions{Width: 123, Height: 77}, 123, 77},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := ChartPNG(tt.series, tt.opts)
			if err != nil {
				t.Fatalf("ChartPNG: %v", err)
			}
			img, err := png.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("ChartPNG output does not decode: %v", err)
			}
			if got := img.Bounds().Size(); got.X != tt.width || got.Y != tt.height {
				t.Errorf("ChartPNG size = %v, want %dx%d", got, tt.width, tt.height)
			}
		})
	}
	if _, err := ChartPNG(nil, ChartOptions{Width: -1}); err == nil {
		t.Errorf("ChartPNG(width -1) = nil error, want error")
	}
}

func TestDownsample(t *testing.T) {
	var pts []track.Point
	for i := range 1000 {
		pts = append(pts, track.Point{Step: int64(i), Value: float64(i % 7)})
	}
	pts[500].Value = 100 // a spike must survive
	got := downsample(pts, 100)
	if len(got) > 100 {
		t.Errorf("downsample kept %d points, want at most 100", len(got))
	}
	spike := false
	for i, p := range got {
		if p.Value == 100 {
			spike = true
		}
		if i > 0 && p.Step <= got[i-1].Step {
			t.Fatalf("downsample out of step order at %d: %v", i, got[i-1:i+1])
		}
	}
	if !spike {
		t.Errorf("downsample lost the spike at step 500")
	}
	if got := downsample(pts[:50], 100); len(got) != 50 {
		t.Errorf("downsample of a short series = %d points, want 50", len(got))
	}
}

func TestMetricChart(t *testing.T) {
	st, err := track.Open(filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var ids []string
	for _, name := range []string{"one", "two"} {
		r, err := st.StartRun(track.RunOptions{Name: name, NoGit: true})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 100 {
			r.LogMetric("loss", int64(i), float64(100-i))
		}
		r.End(nil)
		ids = append(ids, r.ID())
	}
	data, err := MetricChart(st, "loss", ChartOptions{Width: 200, Height: 100}, ids...)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil || img.Bounds().Dx() != 200 {
		t.Errorf("MetricChart PNG: %v, bounds %v", err, img.Bounds())
	}
	if _, err := MetricChart(st, "loss", ChartOptions{}, "ffffffffffffffff"); err == nil {
		t.Errorf("MetricChart(unknown run) = nil error, want error")
	}
}

func TestSeriesLabels(t *testing.T) {
	runs := []track.RunInfo{
		{ID: "aaaaaaaa11111111", Name: "mnist unet"}, {ID: "bbbbbbbb22222222", Name: "mnist unet"},
		{ID: "cccccccc33333333", Name: "gmm mlp"}, {ID: "dddddddd44444444"},
	}
	want := []string{"mnist unet (aaaaaaaa)", "mnist unet (bbbbbbbb)", "gmm mlp", "dddddddd44444444"}
	if got := seriesLabels(runs); !slices.Equal(got, want) {
		t.Errorf("seriesLabels = %q, want %q", got, want)
	}
}

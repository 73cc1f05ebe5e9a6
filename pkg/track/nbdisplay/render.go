// Package nbdisplay shows tracked runs in GoNB notebooks: a table of runs as
// HTML and a chart of one metric over several runs as PNG.
//
// The rendering functions (RunsHTML, ChartPNG, MetricChart) are pure and
// usable anywhere; DisplayRuns and DisplayMetric send their output to the
// notebook through gonbui. A notebook cell reads:
//
//	st, _ := track.Open("runs/difflab.db")
//	runs, _ := st.Runs(track.Query{Experiment: "ddim-sweep", OrderBy: "metrics.fid"})
//	nbdisplay.DisplayRuns(runs)
//	nbdisplay.DisplayMetric(st, "train/loss", runs[0].ID, runs[1].ID)
package nbdisplay

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"sort"
	"strings"
	"time"

	dlplot "github.com/difflab/difflab/pkg/plot"
	"github.com/difflab/difflab/pkg/track"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// RunsHTML returns an HTML table with one row per run: id, name,
// experiment, status, start time, duration, then one column per field in
// columns ("params.eta", "metrics.fid", "tags.sampler"). With no columns it
// shows every param and metric (last value) that any run has. Every text is
// HTML-escaped, so names and values cannot inject markup. Missing values are
// empty cells.
func RunsHTML(runs []track.RunInfo, columns ...string) string {
	if len(columns) == 0 {
		params, metrics := map[string]bool{}, map[string]bool{}
		for _, r := range runs {
			for k := range r.Params {
				params[k] = true
			}
			for k := range r.Metrics {
				metrics[k] = true
			}
		}
		for _, k := range sorted(params) {
			columns = append(columns, "params."+k)
		}
		for _, k := range sorted(metrics) {
			columns = append(columns, "metrics."+k)
		}
	}
	var b strings.Builder
	b.WriteString(`<table class="difflab-runs">` + "\n<thead><tr>")
	for _, h := range append([]string{"id", "name", "experiment", "status", "started", "duration"}, columns...) {
		fmt.Fprintf(&b, "<th>%s</th>", html.EscapeString(h))
	}
	b.WriteString("</tr></thead>\n<tbody>\n")
	for _, r := range runs {
		b.WriteString("<tr>")
		cells := []string{r.ID, r.Name, r.Experiment, string(r.Status),
			r.StartTime.Local().Format("2006-01-02 15:04"), r.Duration().Round(time.Second).String()}
		for _, c := range columns {
			v, _ := r.Field(c)
			cells = append(cells, v)
		}
		for i, c := range cells {
			if i >= 6 {
				fmt.Fprintf(&b, `<td style="text-align:right">%s</td>`, html.EscapeString(c))
			} else {
				fmt.Fprintf(&b, "<td>%s</td>", html.EscapeString(c))
			}
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</tbody>\n</table>\n")
	return b.String()
}

func sorted(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Series is one line of a chart.
type Series struct {
	Label  string
	Points []track.Point
}

// ChartOptions sets the look of a chart. Zero values select the defaults.
type ChartOptions struct {
	// Width and Height are the image size in pixels. Default 640 × 400.
	Width, Height int
	// Title is drawn above the chart; default none.
	Title string
	// XLabel and YLabel label the axes; default "step" and none.
	XLabel, YLabel string
	// LogY draws the y axis in log scale; points ≤ 0 are then left out.
	// Default false.
	LogY bool
	// MaxPoints caps the points drawn per series: longer series are cut
	// into MaxPoints/2 buckets of steps, and each bucket keeps its
	// minimum and maximum, so spikes stay visible. Default 2000.
	MaxPoints int
}

// ChartPNG draws the series as lines against their steps and returns a PNG
// of opts.Width × opts.Height pixels. NaN and ±Inf values are left out.
// Series with no drawable point still get a legend entry. A width or height
// below 0 is an error.
func ChartPNG(series []Series, opts ChartOptions) ([]byte, error) {
	if opts.Width < 0 || opts.Height < 0 {
		return nil, fmt.Errorf("nbdisplay: negative chart size %d×%d", opts.Width, opts.Height)
	}
	if opts.Width == 0 {
		opts.Width = 640
	}
	if opts.Height == 0 {
		opts.Height = 400
	}
	if opts.MaxPoints <= 0 {
		opts.MaxPoints = 2000
	}
	if opts.XLabel == "" {
		opts.XLabel = "step"
	}
	p := plot.New()
	p.Title.Text = opts.Title
	p.X.Label.Text = opts.XLabel
	p.Y.Label.Text = opts.YLabel
	p.X.Tick.Marker, p.Y.Tick.Marker = dlplot.LinearTicker{}, dlplot.LinearTicker{}
	if opts.LogY {
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, dlplot.LogTicker{}
	}
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	for i, s := range series {
		xys := make(plotter.XYs, 0, len(s.Points))
		for _, pt := range downsample(s.Points, opts.MaxPoints) {
			if math.IsNaN(pt.Value) || math.IsInf(pt.Value, 0) || (opts.LogY && pt.Value <= 0) {
				continue
			}
			xys = append(xys, plotter.XY{X: float64(pt.Step), Y: pt.Value})
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("nbdisplay: series %q: %w", s.Label, err)
		}
		line.Color = plotutil.Color(i)
		line.Width = vg.Points(1.5)
		if len(xys) > 0 {
			p.Add(line)
		}
		p.Legend.Add(s.Label, line)
	}
	const dpi = 96
	c := vgimg.NewWith(
		vgimg.UseWH(vg.Length(opts.Width)*vg.Inch/dpi, vg.Length(opts.Height)*vg.Inch/dpi),
		vgimg.UseDPI(dpi))
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("nbdisplay: encoding PNG: %w", err)
	}
	return buf.Bytes(), nil
}

// downsample keeps at most limit points of pts (sorted by step): the
// minimum and maximum of each of limit/2 buckets, in step order.
func downsample(pts []track.Point, limit int) []track.Point {
	if len(pts) <= limit || limit < 2 {
		return pts
	}
	buckets := limit / 2
	out := make([]track.Point, 0, limit)
	for b := range buckets {
		lo, hi := b*len(pts)/buckets, (b+1)*len(pts)/buckets
		if lo >= hi {
			continue
		}
		mn, mx := lo, lo
		for i := lo; i < hi; i++ {
			v := pts[i].Value
			if math.IsNaN(v) {
				continue
			}
			if math.IsNaN(pts[mn].Value) || v < pts[mn].Value {
				mn = i
			}
			if math.IsNaN(pts[mx].Value) || v > pts[mx].Value {
				mx = i
			}
		}
		first, second := min(mn, mx), max(mn, mx)
		out = append(out, pts[first])
		if second != first {
			out = append(out, pts[second])
		}
	}
	return out
}

// MetricChart reads metric key of each run from st and draws it with
// ChartPNG, one line per run labelled by run name (or id). opts.Title
// defaults to key. An unknown run id is an error.
func MetricChart(st *track.Store, key string, opts ChartOptions, runIDs ...string) ([]byte, error) {
	runs := make([]track.RunInfo, 0, len(runIDs))
	series := make([]Series, 0, len(runIDs))
	for _, id := range runIDs {
		ri, err := st.Run(id)
		if err != nil {
			return nil, err
		}
		pts, err := st.Metric(ri.ID, key)
		if err != nil {
			return nil, err
		}
		runs = append(runs, ri)
		series = append(series, Series{Points: pts})
	}
	for i, label := range seriesLabels(runs) {
		series[i].Label = label
	}
	if opts.Title == "" {
		opts.Title = key
	}
	return ChartPNG(series, opts)
}

// seriesLabels names one chart line per run: the run's name, followed by the first
// 8 characters of its ID when another run of the chart has the same name (a
// training resumed several times, for instance), or the ID alone for an unnamed run.
func seriesLabels(runs []track.RunInfo) []string {
	count := map[string]int{}
	for _, r := range runs {
		count[r.Name]++
	}
	labels := make([]string, len(runs))
	for i, r := range runs {
		switch {
		case r.Name == "":
			labels[i] = r.ID
		case count[r.Name] > 1:
			labels[i] = r.Name + " (" + r.ID[:min(8, len(r.ID))] + ")"
		default:
			labels[i] = r.Name
		}
	}
	return labels
}

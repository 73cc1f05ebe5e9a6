// Package plot draws the pictures difflab's results come as: scatter plots of 2-D
// samples, line plots of a metric against the number of steps, and grids of images.
// Everything renders to PNG bytes, so the CLI, reports, notebooks and the tracker
// share one implementation.
package plot

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Palette is the colour cycle of series, in order.
var Palette = []color.Color{
	color.RGBA{31, 119, 180, 255}, color.RGBA{255, 127, 14, 255}, color.RGBA{44, 160, 44, 255},
	color.RGBA{214, 39, 40, 255}, color.RGBA{148, 103, 189, 255}, color.RGBA{140, 86, 75, 255},
	color.RGBA{227, 119, 194, 255}, color.RGBA{127, 127, 127, 255},
}

// Points is a named set of 2-D points.
type Points struct {
	Name string
	XY   [][]float64 // each of length >= 2; the first two coordinates are drawn
}

// Scatter draws the point sets on one set of axes as a size x size pixel PNG.
// Limits, when non-nil, fix the axes to [lo, hi] on both; otherwise they fit the data.
func Scatter(w io.Writer, title string, size int, limits *[2]float64, sets ...Points) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text, p.Y.Label.Text = "x1", "x2"
	for i, s := range sets {
		xys := make(plotter.XYs, 0, len(s.XY))
		for _, pt := range s.XY {
			if len(pt) < 2 {
				return fmt.Errorf("plot: point set %q has a point of dimension %d, want >= 2", s.Name, len(pt))
			}
			if isFinite(pt[0]) && isFinite(pt[1]) {
				xys = append(xys, plotter.XY{X: pt[0], Y: pt[1]})
			}
		}
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		sc.GlyphStyle.Color = withAlpha(Palette[i%len(Palette)], 140)
		sc.GlyphStyle.Radius = vg.Points(1.2)
		sc.GlyphStyle.Shape = draw.CircleGlyph{}
		p.Add(sc)
		if s.Name != "" {
			p.Legend.Add(s.Name, sc)
		}
	}
	if limits != nil {
		p.X.Min, p.X.Max = limits[0], limits[1]
		p.Y.Min, p.Y.Max = limits[0], limits[1]
	}
	p.Legend.Top = true
	return writePNG(w, p, size, size)
}

// Series is a named line of (x, y) points.
type Series struct {
	Name string
	X, Y []float64
}

// LineOptions tune Lines.
type LineOptions struct {
	Title, XLabel, YLabel string
	LogX, LogY            bool
	Width, Height         int // pixels; default 640 x 420
}

// Lines draws the series as lines with point markers. Non-finite points are skipped;
// with LogX or LogY, so are points <= 0 on that axis.
func Lines(w io.Writer, o LineOptions, series ...Series) error {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = o.Title, o.XLabel, o.YLabel
	p.X.Tick.Marker, p.Y.Tick.Marker = LinearTicker{}, LinearTicker{}
	if o.LogX {
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, LogTicker{}
	}
	if o.LogY {
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, LogTicker{}
	}
	for i, s := range series {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("plot: series %q has %d x and %d y values", s.Name, len(s.X), len(s.Y))
		}
		var xys plotter.XYs
		for j := range s.X {
			x, y := s.X[j], s.Y[j]
			if !isFinite(x) || !isFinite(y) || (o.LogX && x <= 0) || (o.LogY && y <= 0) {
				continue
			}
			xys = append(xys, plotter.XY{X: x, Y: y})
		}
		if len(xys) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		c := Palette[i%len(Palette)]
		l.Color, pts.Color = c, c
		l.Width = vg.Points(1.5)
		p.Add(l, pts)
		if s.Name != "" {
			p.Legend.Add(s.Name, l, pts)
		}
	}
	// A log axis needs a positive range; gonum widens a zero-width range by +-1,
	// which can cross zero, so widen it by a factor instead.
	if o.LogX {
		fixLogRange(&p.X)
	}
	if o.LogY {
		fixLogRange(&p.Y)
	}
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	wd, ht := o.Width, o.Height
	if wd == 0 {
		wd = 640
	}
	if ht == 0 {
		ht = 420
	}
	return writePNG(w, p, wd, ht)
}

func writePNG(w io.Writer, p *plot.Plot, wd, ht int) error {
	c := vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(vg.Length(wd)*vg.Inch/96, vg.Length(ht)*vg.Inch/96), vgimg.UseDPI(96))}
	p.Draw(draw.New(c))
	_, err := c.WriteTo(w)
	return err
}

// PNG renders fn's output into a byte slice.
func PNG(fn func(w io.Writer) error) ([]byte, error) {
	var b bytes.Buffer
	if err := fn(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ImageGrid tiles n images of shape h x w x c (c = 1 or 3, HWC, values in [-1, 1],
// row-major in pixels) into a grid of cols columns, each pixel drawn as a
// scale x scale block, with a 1-pixel gap. Values outside [-1, 1] are clipped.
// It panics if len(pixels) != n*h*w*c or c is not 1 or 3.
func ImageGrid(pixels []float64, n, h, w, c, cols, scale int) image.Image {
	if len(pixels) != n*h*w*c || (c != 1 && c != 3) || n < 1 {
		panic(fmt.Sprintf("plot: ImageGrid: %d values for %d images of %dx%dx%d", len(pixels), n, h, w, c))
	}
	if cols < 1 {
		cols = int(math.Ceil(math.Sqrt(float64(n))))
	}
	if scale < 1 {
		scale = 1
	}
	rows := (n + cols - 1) / cols
	cw, ch := w*scale+1, h*scale+1
	img := image.NewRGBA(image.Rect(0, 0, cols*cw+1, rows*ch+1))
	for i := range img.Pix {
		img.Pix[i] = 255 // white gaps
	}
	toByte := func(v float64) uint8 {
		v = (v + 1) * 127.5
		return uint8(math.Max(0, math.Min(255, math.Round(v))))
	}
	for k := 0; k < n; k++ {
		ox, oy := (k%cols)*cw+1, (k/cols)*ch+1
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				base := ((k*h+y)*w + x) * c
				var col color.RGBA
				if c == 1 {
					g := toByte(pixels[base])
					col = color.RGBA{g, g, g, 255}
				} else {
					col = color.RGBA{toByte(pixels[base]), toByte(pixels[base+1]), toByte(pixels[base+2]), 255}
				}
				for dy := 0; dy < scale; dy++ {
					for dx := 0; dx < scale; dx++ {
						img.SetRGBA(ox+x*scale+dx, oy+y*scale+dy, col)
					}
				}
			}
		}
	}
	return img
}

// WriteImagePNG encodes img as PNG.
func WriteImagePNG(w io.Writer, img image.Image) error { return png.Encode(w, img) }

// fixLogRange makes a log axis' range positive and non-empty.
func fixLogRange(a *plot.Axis) {
	if a.Min > 0 && a.Max > a.Min {
		return
	}
	lo, hi := a.Min, a.Max
	if lo <= 0 || hi <= 0 {
		lo, hi = 1, 10
	}
	a.Min, a.Max = lo/2, hi*2
}

// LogTicker gives gonum's log-scale ticks with labels of at most 3 significant digits
// ("1e-04" rather than "9.9999999e-05"). When the range spans less than two decades,
// the ticks are 1..9 times the powers of ten inside it, those at 1, 2 and 5 labelled,
// so that a loss curve between 0.13 and 1.2 reads 0.2, 0.5, 1 rather than a lone 1;
// a range with fewer than two such ticks gets its two ends labelled.
type LogTicker struct{}

// Ticks implements plot.Ticker.
func (LogTicker) Ticks(min, max float64) []plot.Tick {
	if min > 0 && max/min < 100 {
		var ticks []plot.Tick
		for k := math.Floor(math.Log10(min)); k <= math.Ceil(math.Log10(max)); k++ {
			for m := 1.0; m <= 9; m++ {
				v, _ := strconv.ParseFloat(strconv.FormatFloat(m*math.Pow(10, k), 'g', 3, 64), 64)
				if v < min || v > max {
					continue
				}
				t := plot.Tick{Value: v}
				if m == 1 || m == 2 || m == 5 {
					t.Label = tickLabel(v, 3)
				}
				ticks = append(ticks, t)
			}
		}
		if len(ticks) < 2 { // a range inside one step of the 1..9 ladder: label its ends
			ticks = []plot.Tick{{Value: min, Label: tickLabel(min, 3)}, {Value: max, Label: tickLabel(max, 3)}}
		}
		return ticks
	}
	return relabel(plot.LogTicks{Prec: -1}.Ticks(min, max), 3)
}

// LinearTicker gives gonum's default ticks with labels in the shortest form that
// keeps 6 significant digits: 250 and 0.3 rather than 250.00 and 0.30000000000000004.
type LinearTicker struct{}

// Ticks implements plot.Ticker.
func (LinearTicker) Ticks(min, max float64) []plot.Tick {
	return relabel(plot.DefaultTicks{}.Ticks(min, max), 6)
}

// relabel rewrites the label of every labelled tick as its value with at most prec
// significant digits, in the shortest form.
func relabel(ticks []plot.Tick, prec int) []plot.Tick {
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = tickLabel(ticks[i].Value, prec)
		}
	}
	return ticks
}

// tickLabel is v with at most prec significant digits in the shortest form, except
// that whole numbers below a million are written out: 1000, not 1e+03.
func tickLabel(v float64, prec int) string {
	s := strconv.FormatFloat(v, 'g', prec, 64)
	if r, err := strconv.ParseFloat(s, 64); err == nil && r == math.Trunc(r) && math.Abs(r) < 1e6 {
		return strconv.FormatFloat(r, 'f', 0, 64)
	}
	return s
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func withAlpha(c color.Color, a uint8) color.Color {
	r, g, b, _ := c.RGBA()
	return color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), a}
}

// ScatterGrid draws a grid of small scatter plots, cells[r][c] in row r and column
// c, each titled titles[r][c], all with the same square limits, as a PNG of
// cellSize pixels per plot. A nil cell is left blank.
func ScatterGrid(w io.Writer, titles [][]string, cells [][][]Points, limits [2]float64, cellSize int) error {
	nr := len(cells)
	if nr == 0 {
		return fmt.Errorf("plot: ScatterGrid with no rows")
	}
	nc := 0
	for _, r := range cells {
		nc = max(nc, len(r))
	}
	plots := make([][]*plot.Plot, nr)
	for i := range cells {
		plots[i] = make([]*plot.Plot, nc)
		for j := 0; j < nc; j++ {
			if j >= len(cells[i]) || cells[i][j] == nil {
				continue
			}
			p := plot.New()
			p.Title.Text = titles[i][j]
			p.Title.TextStyle.Font.Size = vg.Points(9)
			p.X.Tick.Label.Font.Size = vg.Points(6)
			p.Y.Tick.Label.Font.Size = vg.Points(6)
			for k, s := range cells[i][j] {
				xys := make(plotter.XYs, 0, len(s.XY))
				for _, pt := range s.XY {
					if len(pt) >= 2 && isFinite(pt[0]) && isFinite(pt[1]) {
						xys = append(xys, plotter.XY{X: pt[0], Y: pt[1]})
					}
				}
				sc, err := plotter.NewScatter(xys)
				if err != nil {
					return fmt.Errorf("plot: %w", err)
				}
				sc.GlyphStyle.Color = withAlpha(Palette[k%len(Palette)], 110)
				sc.GlyphStyle.Radius = vg.Points(0.7)
				sc.GlyphStyle.Shape = draw.CircleGlyph{}
				p.Add(sc)
			}
			p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = limits[0], limits[1], limits[0], limits[1]
			plots[i][j] = p
		}
	}
	wd, ht := nc*cellSize, nr*cellSize
	c := vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(vg.Length(wd)*vg.Inch/96, vg.Length(ht)*vg.Inch/96), vgimg.UseDPI(96))}
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: nr, Cols: nc, PadX: vg.Points(4), PadY: vg.Points(4), PadTop: vg.Points(2), PadBottom: vg.Points(2), PadLeft: vg.Points(2), PadRight: vg.Points(2)}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		for j := range plots[i] {
			if plots[i][j] != nil {
				plots[i][j].Draw(canvases[i][j])
			}
		}
	}
	_, err := c.WriteTo(w)
	return err
}

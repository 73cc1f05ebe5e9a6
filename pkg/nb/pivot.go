package nb

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/difflab/difflab/pkg/metrics"
	"github.com/difflab/difflab/pkg/plot"
	"github.com/difflab/difflab/pkg/track"
)

// Field returns field f of run r as text and whether the run has it. f is
// "id", "name", "experiment", "status", or "params.KEY", "tags.KEY",
// "metrics.KEY" (a metric's last value). Unknown forms panic.
func Field(r track.RunInfo, f string) (string, bool) {
	kind, key, _ := strings.Cut(f, ".")
	switch kind {
	case "id":
		return r.ID, true
	case "name":
		return r.Name, true
	case "experiment":
		return r.Experiment, true
	case "status":
		return string(r.Status), true
	case "params":
		v, ok := r.Params[key]
		if !ok {
			return "", false
		}
		return track.FormatValue(v), true
	case "tags":
		v, ok := r.Tags[key]
		return v, ok
	case "metrics":
		v, ok := r.Metrics[key]
		return strconv.FormatFloat(v, 'g', -1, 64), ok
	}
	panic(fmt.Sprintf("nb: field %q, want id, name, experiment, status, params.KEY, tags.KEY or metrics.KEY", f))
}

// Pivot is a metric of many runs laid out as a table, e.g. Table 1 of the DDIM
// paper: one row per value of a row field (eta), one column per value of a
// column field (steps), each cell the mean over the runs that share both (the
// seeds). Build it with NewPivot.
type Pivot struct {
	Row, Col, Value string // the fields it was built from
	Rows, Cols      []string
	// Mean[i][j], Std[i][j] (sample standard deviation, 0 for one run) and
	// N[i][j] summarise the runs of Rows[i] and Cols[j]; NaN where N is 0.
	Mean, Std [][]float64
	N         [][]int
}

// NewPivot builds the pivot of field value (a metrics.KEY, or a numeric
// param) over runs, by fields row and col (see Field). Runs that lack any of
// the three fields, or whose value is not a number, are left out. Rows and
// columns are sorted numerically when all their values are numbers, else kept
// in order of first appearance in runs.
func NewPivot(runs []track.RunInfo, row, col, value string) *Pivot {
	p := &Pivot{Row: row, Col: col, Value: value}
	type key struct{ r, c string }
	vals := map[key][]float64{}
	for _, r := range runs {
		rv, ok1 := Field(r, row)
		cv, ok2 := Field(r, col)
		vv, ok3 := Field(r, value)
		v, err := strconv.ParseFloat(vv, 64)
		if !ok1 || !ok2 || !ok3 || err != nil {
			continue
		}
		if !slices.Contains(p.Rows, rv) {
			p.Rows = append(p.Rows, rv)
		}
		if !slices.Contains(p.Cols, cv) {
			p.Cols = append(p.Cols, cv)
		}
		vals[key{rv, cv}] = append(vals[key{rv, cv}], v)
	}
	sortNumeric(p.Rows)
	sortNumeric(p.Cols)
	for _, rv := range p.Rows {
		var means, stds []float64
		var ns []int
		for _, cv := range p.Cols {
			m, s := meanStd(vals[key{rv, cv}])
			means, stds, ns = append(means, m), append(stds, s), append(ns, len(vals[key{rv, cv}]))
		}
		p.Mean, p.Std, p.N = append(p.Mean, means), append(p.Std, stds), append(p.N, ns)
	}
	return p
}

// sortNumeric sorts s by value when every element is a number.
func sortNumeric(s []string) {
	for _, v := range s {
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return
		}
	}
	slices.SortFunc(s, func(a, b string) int {
		x, _ := strconv.ParseFloat(a, 64)
		y, _ := strconv.ParseFloat(b, 64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
}

func meanStd(v []float64) (mean, std float64) {
	if len(v) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	if len(v) == 1 {
		return mean, 0
	}
	for _, x := range v {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(v)-1))
}

// Table returns the pivot as a header and rows of text, the first column
// naming the row: "mean" or "mean ± std" with 4 significant digits, "" where
// no run is.
func (p *Pivot) Table() (header []string, rows [][]string) {
	header = append([]string{p.Row + " \\ " + p.Col}, p.Cols...)
	for i, rv := range p.Rows {
		r := []string{rv}
		for j := range p.Cols {
			switch {
			case p.N[i][j] == 0:
				r = append(r, "")
			case p.N[i][j] == 1:
				r = append(r, fmt.Sprintf("%.4g", p.Mean[i][j]))
			default:
				r = append(r, fmt.Sprintf("%.4g ± %.2g", p.Mean[i][j], p.Std[i][j]))
			}
		}
		rows = append(rows, r)
	}
	return header, rows
}

// Best returns, for each column, the row index of the best mean when Value is a
// ranked metric of the metrics registry ("metrics.loglik": higher is better;
// "metrics.swd": lower), and -1 for an empty column or any other Value.
func (p *Pivot) Best() []int {
	best := make([]int, len(p.Cols))
	m, ok := metrics.Lookup(strings.TrimPrefix(p.Value, "metrics."))
	for j := range best {
		best[j] = -1
		if !ok || !m.Ranked() || !strings.HasPrefix(p.Value, "metrics.") {
			continue
		}
		for i := range p.Rows {
			if p.N[i][j] > 0 && (best[j] < 0 || m.Better(p.Mean[i][j], p.Mean[best[j]][j])) {
				best[j] = i
			}
		}
	}
	return best
}

// HTML returns the pivot as an HTML table (see Table), captioned with the value.
func (p *Pivot) HTML() string { return p.html(nil) }

// HTMLBest is HTML with the best value of each column (see Best) in bold.
func (p *Pivot) HTMLBest() string { return p.html(p.Best()) }

func (p *Pivot) html(best []int) string {
	h, r := p.Table()
	for j, i := range best {
		if i >= 0 {
			r[i][j+1] = boldMark + r[i][j+1]
		}
	}
	t := strings.ReplaceAll(HTMLTable(h, r), "<td>"+boldMark, "<td style=\"font-weight:bold\">")
	return strings.Replace(t, "<table>", "<table>\n<caption>"+htmlEscape(p.Value)+"</caption>", 1)
}

// boldMark flags a cell for HTML to bold; HTMLTable escapes cells, not it.
const boldMark = "\x00"

// Series returns one line per row, x the column values (which must be
// numbers: it panics otherwise) and y the means, for plot.Lines.
func (p *Pivot) Series() []plot.Series {
	xs := make([]float64, len(p.Cols))
	for j, c := range p.Cols {
		x, err := strconv.ParseFloat(c, 64)
		if err != nil {
			panic(fmt.Sprintf("nb: Pivot.Series: column %s = %q is not a number", p.Col, c))
		}
		xs[j] = x
	}
	var out []plot.Series
	for i, rv := range p.Rows {
		out = append(out, plot.Series{Name: rv, X: xs, Y: p.Mean[i]})
	}
	return out
}

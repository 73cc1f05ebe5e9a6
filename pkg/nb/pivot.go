package nb

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/difflab/difflab/pkg/experiment"
	"github.com/difflab/difflab/pkg/metrics"
	"github.com/difflab/difflab/pkg/plot"
	"github.com/difflab/difflab/pkg/track"
)

// Field returns field f of run r as text and whether the run has it (see
// track.FieldText). Unknown forms panic.
func Field(r track.RunInfo, f string) (string, bool) {
	v, ok, err := track.FieldText(r, f)
	if err != nil {
		panic("nb: " + strings.TrimPrefix(err.Error(), "track: "))
	}
	return v, ok
}

// Pivot is a metric of many runs laid out as a table, e.g. Table 1 of the DDIM
// paper (see track.Pivot), with HTML and plot output for notebooks. Build it
// with NewPivot.
type Pivot struct {
	track.Pivot
}

// NewPivot builds the pivot of field value (a metrics.KEY, or a numeric
// param) over runs, by fields row and col (see track.NewPivot). Fields of an
// unknown form panic.
func NewPivot(runs []track.RunInfo, row, col, value string) *Pivot {
	p, err := track.NewPivot(runs, row, col, value)
	if err != nil {
		panic("nb: " + strings.TrimPrefix(err.Error(), "track: "))
	}
	return &Pivot{*p}
}

// Best returns, for each column, the row index of the best mean when Value is a
// ranked metric of the metrics registry ("metrics.loglik": higher is better;
// "metrics.swd": lower), and -1 for an empty column or any other Value.
func (p *Pivot) Best() []int {
	m, ok := metrics.Lookup(strings.TrimPrefix(p.Value, "metrics."))
	if !ok || !m.Ranked() || !strings.HasPrefix(p.Value, "metrics.") {
		best := make([]int, len(p.Cols))
		for j := range best {
			best[j] = -1
		}
		return best
	}
	goal, ok := experiment.Goals()[m.Name]
	if !ok {
		goal = track.Minimize // the tracker's default, as Goals leaves it out
	}
	return p.BestBy(goal)
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

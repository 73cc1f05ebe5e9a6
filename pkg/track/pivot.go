package track

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// FieldText returns field f of run r as text and whether the run has it. f is
// "id", "name", "experiment", "status", or "params.KEY", "tags.KEY",
// "metrics.KEY" (a metric's last value, in the shortest form that reads back
// exactly). Any other form is an error naming the allowed ones.
func FieldText(r RunInfo, f string) (string, bool, error) {
	kind, key, dotted := strings.Cut(f, ".")
	switch {
	case !dotted && kind == "id":
		return r.ID, true, nil
	case !dotted && kind == "name":
		return r.Name, true, nil
	case !dotted && kind == "experiment":
		return r.Experiment, true, nil
	case !dotted && kind == "status":
		return string(r.Status), true, nil
	case dotted && key != "" && kind == "params":
		v, ok := r.Params[key]
		if !ok {
			return "", false, nil
		}
		return FormatValue(v), true, nil
	case dotted && key != "" && kind == "tags":
		v, ok := r.Tags[key]
		return v, ok, nil
	case dotted && key != "" && kind == "metrics":
		v, ok := r.Metrics[key]
		return strconv.FormatFloat(v, 'g', -1, 64), ok, nil
	}
	return "", false, fmt.Errorf("track: field %q: want id, name, experiment, status, params.KEY, tags.KEY or metrics.KEY", f)
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
	// IDs[i][j] are the ids of the runs in cell (i, j), in the order of the
	// runs given to NewPivot.
	IDs [][][]string
}

// NewPivot builds the pivot of field value (a metrics.KEY, or a numeric
// param) over runs, by fields row and col (see FieldText). Runs that lack any
// of the three fields, or whose value is not a number, are left out. Rows and
// columns are sorted numerically when all their values are numbers, else kept
// in order of first appearance in runs. A field of an unknown form is an error.
func NewPivot(runs []RunInfo, row, col, value string) (*Pivot, error) {
	for _, f := range []string{row, col, value} {
		if _, _, err := FieldText(RunInfo{}, f); err != nil {
			return nil, err
		}
	}
	p := &Pivot{Row: row, Col: col, Value: value}
	type key struct{ r, c string }
	vals := map[key][]float64{}
	ids := map[key][]string{}
	for _, r := range runs {
		rv, ok1, _ := FieldText(r, row)
		cv, ok2, _ := FieldText(r, col)
		vv, ok3, _ := FieldText(r, value)
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
		k := key{rv, cv}
		vals[k] = append(vals[k], v)
		ids[k] = append(ids[k], r.ID)
	}
	sortNumeric(p.Rows)
	sortNumeric(p.Cols)
	for _, rv := range p.Rows {
		var means, stds []float64
		var ns []int
		var cellIDs [][]string
		for _, cv := range p.Cols {
			k := key{rv, cv}
			m, s := meanStd(vals[k])
			means, stds, ns = append(means, m), append(stds, s), append(ns, len(vals[k]))
			cellIDs = append(cellIDs, ids[k])
		}
		p.Mean, p.Std, p.N = append(p.Mean, means), append(p.Std, stds), append(p.N, ns)
		p.IDs = append(p.IDs, cellIDs)
	}
	return p, nil
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

// meanStd returns the mean and the sample standard deviation of v (0 for one
// value, NaN for none).
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
			r = append(r, p.Cell(i, j))
		}
		rows = append(rows, r)
	}
	return header, rows
}

// Cell returns cell (i, j) as Table shows it.
func (p *Pivot) Cell(i, j int) string {
	switch {
	case p.N[i][j] == 0:
		return ""
	case p.N[i][j] == 1:
		return fmt.Sprintf("%.4g", p.Mean[i][j])
	}
	return fmt.Sprintf("%.4g ± %.2g", p.Mean[i][j], p.Std[i][j])
}

// BestBy returns, for each column, the row index of the lowest (Minimize) or
// highest (Maximize) mean, and -1 for an empty column. NaN means never win.
func (p *Pivot) BestBy(goal Goal) []int {
	best := make([]int, len(p.Cols))
	for j := range best {
		best[j] = -1
		for i := range p.Rows {
			m := p.Mean[i][j]
			if p.N[i][j] == 0 || math.IsNaN(m) {
				continue
			}
			if b := best[j]; b < 0 || (goal == Maximize && m > p.Mean[b][j]) || (goal != Maximize && m < p.Mean[b][j]) {
				best[j] = i
			}
		}
	}
	return best
}

package track

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Goal says whether lower or higher values of a metric are better.
type Goal string

// The goals. Minimize is the default for every metric: difflab's metrics
// are mostly losses and distances (loss, fid, mse). There is no guessing
// from names; give Maximize explicitly for accuracies and the like.
const (
	Minimize Goal = "min"
	Maximize Goal = "max"
)

// CompareOptions tunes Store.CompareWith.
type CompareOptions struct {
	// Goals maps metric keys to their goal; keys not listed use Minimize.
	Goals map[string]Goal
}

// Comparison sets several runs side by side.
type Comparison struct {
	// Runs are the compared runs, in the order asked.
	Runs []RunInfo
	// Common holds the params every run has with the same value.
	Common map[string]any
	// Differing lists the params whose value differs across the runs or
	// that some runs lack, sorted by key.
	Differing []ParamDiff
	// Metrics lists every metric any run logged, sorted by key.
	Metrics []MetricComparison
}

// ParamDiff is one param across the compared runs.
type ParamDiff struct {
	Key string
	// Values[i] is the value in Runs[i], nil where the run lacks it.
	Values []any
}

// MetricComparison is one metric across the compared runs. The slices are
// indexed like Comparison.Runs; Has[i] is false (and the numbers NaN) where
// run i never logged the metric.
type MetricComparison struct {
	Key  string
	Goal Goal
	Has  []bool
	// Last is the value at the highest step.
	Last []float64
	// Best is the minimum (Minimize) or maximum (Maximize), ignoring NaN,
	// and BestStep the step where it was first reached.
	Best     []float64
	BestStep []int64
	// BestRun is the index of the run with the best Best, or -1 when no
	// run has a non-NaN value.
	BestRun int
}

// Compare compares the runs ids (exact ids or unique prefixes) with every
// metric minimized; see CompareWith. At least one id is required; an
// unknown id gives an error wrapping ErrNotFound.
func (s *Store) Compare(ids ...string) (*Comparison, error) {
	return s.CompareWith(CompareOptions{}, ids...)
}

// CompareWith compares the runs ids using opts.Goals to pick each metric's
// best value. A goal other than Minimize or Maximize is an error.
func (s *Store) CompareWith(opts CompareOptions, ids ...string) (*Comparison, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("track: Compare: no run ids")
	}
	for k, g := range opts.Goals {
		if g != Minimize && g != Maximize {
			return nil, fmt.Errorf("track: Compare: goal %q for %q: allowed %q, %q", g, k, Minimize, Maximize)
		}
	}
	c := &Comparison{Common: map[string]any{}}
	for _, id := range ids {
		ri, err := s.Run(id)
		if err != nil {
			return nil, fmt.Errorf("track: Compare: %w", err)
		}
		c.Runs = append(c.Runs, ri)
	}
	n := len(c.Runs)
	paramKeys := map[string]bool{}
	metricKeys := map[string]bool{}
	for _, ri := range c.Runs {
		for k := range ri.Params {
			paramKeys[k] = true
		}
		for k := range ri.Summaries {
			metricKeys[k] = true
		}
	}
	for _, k := range sortedKeys(paramKeys) {
		d := ParamDiff{Key: k, Values: make([]any, n)}
		same := true
		for i, ri := range c.Runs {
			v, ok := ri.Params[k]
			if ok {
				d.Values[i] = v
			}
			if !ok || !sameParam(v, c.Runs[0].Params[k]) {
				same = false
			}
		}
		if same {
			c.Common[k] = d.Values[0]
		} else {
			c.Differing = append(c.Differing, d)
		}
	}
	for _, k := range sortedKeys(metricKeys) {
		goal := opts.Goals[k]
		if goal == "" {
			goal = Minimize
		}
		m := MetricComparison{Key: k, Goal: goal, Has: make([]bool, n), Last: make([]float64, n),
			Best: make([]float64, n), BestStep: make([]int64, n), BestRun: -1}
		for i, ri := range c.Runs {
			sm, ok := ri.Summaries[k]
			m.Has[i] = ok
			if !ok {
				m.Last[i], m.Best[i] = math.NaN(), math.NaN()
				continue
			}
			m.Last[i] = sm.Last
			m.Best[i], m.BestStep[i] = sm.Min, sm.MinStep
			if goal == Maximize {
				m.Best[i], m.BestStep[i] = sm.Max, sm.MaxStep
			}
			if math.IsNaN(m.Best[i]) {
				continue
			}
			if b := m.BestRun; b < 0 || (goal == Minimize && m.Best[i] < m.Best[b]) || (goal == Maximize && m.Best[i] > m.Best[b]) {
				m.BestRun = i
			}
		}
		c.Metrics = append(c.Metrics, m)
	}
	return c, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// WriteCSV writes the comparison as one row per item and one column per
// run: a header "field,<run id>...", then "name", "status", the differing
// params ("params.KEY"), the common params, and for each metric
// "metrics.KEY.last" and "metrics.KEY.best". Missing values are empty.
func (c *Comparison) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	row := func(label string, cell func(i int) string) {
		r := []string{label}
		for i := range c.Runs {
			r = append(r, cell(i))
		}
		cw.Write(r)
	}
	row("field", func(i int) string { return c.Runs[i].ID })
	row("name", func(i int) string { return c.Runs[i].Name })
	row("status", func(i int) string { return string(c.Runs[i].Status) })
	for _, d := range c.Differing {
		row("params."+d.Key, func(i int) string { return formatValue(d.Values[i]) })
	}
	for _, k := range sortedKeys(c.Common) {
		v := c.Common[k]
		row("params."+k, func(int) string { return formatValue(v) })
	}
	for _, m := range c.Metrics {
		row("metrics."+m.Key+".last", func(i int) string { return formatMetric(m.Has[i], m.Last[i]) })
		row("metrics."+m.Key+".best", func(i int) string { return formatMetric(m.Has[i], m.Best[i]) })
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON writes the comparison as one JSON object:
//
//	{"runs": [{"id", "name", "experiment", "status"}...],
//	 "common_params": {...},
//	 "differing_params": [{"key", "values": [...]}...],
//	 "metrics": [{"key", "goal", "last": [...], "best": [...], "best_step": [...], "best_run": id}...]}
//
// Missing values are null; NaN and ±Inf are the strings "NaN", "+Inf", "-Inf".
func (c *Comparison) WriteJSON(w io.Writer) error {
	type jrun struct {
		ID         string `json:"id"`
		Name       string `json:"name"`
		Experiment string `json:"experiment"`
		Status     Status `json:"status"`
	}
	type jdiff struct {
		Key    string `json:"key"`
		Values []any  `json:"values"`
	}
	type jmetric struct {
		Key      string  `json:"key"`
		Goal     Goal    `json:"goal"`
		Last     []any   `json:"last"`
		Best     []any   `json:"best"`
		BestStep []any   `json:"best_step"`
		BestRun  *string `json:"best_run"`
	}
	out := struct {
		Runs      []jrun         `json:"runs"`
		Common    map[string]any `json:"common_params"`
		Differing []jdiff        `json:"differing_params"`
		Metrics   []jmetric      `json:"metrics"`
	}{Common: map[string]any{}, Differing: []jdiff{}, Metrics: []jmetric{}}
	for _, ri := range c.Runs {
		out.Runs = append(out.Runs, jrun{ri.ID, ri.Name, ri.Experiment, ri.Status})
	}
	for k, v := range c.Common {
		out.Common[k] = jsonValue(v)
	}
	for _, d := range c.Differing {
		vals := make([]any, len(d.Values))
		for i, v := range d.Values {
			vals[i] = jsonValue(v)
		}
		out.Differing = append(out.Differing, jdiff{d.Key, vals})
	}
	for _, m := range c.Metrics {
		jm := jmetric{Key: m.Key, Goal: m.Goal}
		for i := range m.Has {
			if !m.Has[i] {
				jm.Last, jm.Best, jm.BestStep = append(jm.Last, nil), append(jm.Best, nil), append(jm.BestStep, nil)
				continue
			}
			jm.Last = append(jm.Last, jsonValue(m.Last[i]))
			jm.Best = append(jm.Best, jsonValue(m.Best[i]))
			jm.BestStep = append(jm.BestStep, m.BestStep[i])
		}
		if m.BestRun >= 0 {
			jm.BestRun = &c.Runs[m.BestRun].ID
		}
		out.Metrics = append(out.Metrics, jm)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// jsonValue makes a value encodable: non-finite floats become strings.
func jsonValue(v any) any {
	if f, ok := v.(float64); ok {
		return JSONNumber(f)
	}
	return v
}

// JSONNumber returns f the way the tracker's JSON writes numbers: f itself
// when finite, else the string "NaN", "+Inf" or "-Inf" (JSON has no
// non-finite numbers).
func JSONNumber(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return f
}

// formatValue writes a param value for tables and CSV: floats in the
// shortest form that reads back exactly, nil as "".
func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// FormatValue formats a param value the way tables and CSV files show it:
// floats in the shortest form that reads back exactly, nil as "".
func FormatValue(v any) string { return formatValue(v) }

// Field returns the run's value of a field named "params.KEY", "metrics.KEY" or
// "tags.KEY" as a table shows it (params by FormatValue, metrics to 6 significant
// digits, tags as they are) and whether the run has it.
func (r RunInfo) Field(name string) (string, bool) {
	kind, key, _ := strings.Cut(name, ".")
	switch kind {
	case "params":
		if v, ok := r.Params[key]; ok {
			return FormatValue(v), true
		}
	case "metrics":
		if v, ok := r.Metrics[key]; ok {
			return strconv.FormatFloat(v, 'g', 6, 64), true
		}
	case "tags":
		if v, ok := r.Tags[key]; ok {
			return v, true
		}
	}
	return "", false
}

func formatMetric(has bool, v float64) string {
	if !has {
		return ""
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// csvKeyColumns returns "prefix.key" for the sorted keys.
func csvKeyColumns(prefix string, keys []string) []string {
	cols := make([]string, len(keys))
	for i, k := range keys {
		cols[i] = prefix + "." + k
	}
	return cols
}

package experiment

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/difflab/difflab/pkg/diffusion"
	"github.com/difflab/difflab/pkg/metrics"
	"github.com/difflab/difflab/pkg/plot"
	"github.com/difflab/difflab/pkg/track"
	"gonum.org/v1/gonum/stat"
)

// ReportFile is the report's file name inside the run folder.
const ReportFile = "report.md"

// table holds a metric's mean and spread over seeds by row and S.
type table struct {
	metric metrics.Metric
	T      int    // the schedule's T: S = T makes sigma-hat DDPM itself
	col    string // what the columns count: "S" (steps) or "NFE"
	rows   []string
	steps  []int
	mean   map[string]map[int]float64
	std    map[string]map[int]float64
	count  map[string]map[int]int
}

// floorRow labels the row of the table that compares two true samples.
const floorRow = "true vs true"

func (res *Results) table(schedule diffusion.ScheduleKind, spacing diffusion.Spacing, metric string) *table {
	c := res.Config
	m, _ := metrics.Lookup(metric)
	t := &table{metric: m, T: c.T, col: c.columnName(), rows: c.Rows(), steps: slices.Clone(c.Grid.Steps),
		mean: map[string]map[int]float64{}, std: map[string]map[int]float64{}, count: map[string]map[int]int{}}
	slices.Sort(t.steps)
	vals := map[string]map[int][]float64{}
	for _, cr := range res.Cells {
		if cr.Cell.Schedule != schedule || cr.Cell.Spacing != spacing {
			continue
		}
		v, ok := cr.Metrics[metric]
		if !ok {
			continue
		}
		row := cr.Cell.Row()
		if vals[row] == nil {
			vals[row] = map[int][]float64{}
		}
		vals[row][cr.Cell.Steps] = append(vals[row][cr.Cell.Steps], v)
	}
	for _, f := range res.Floor {
		if v, ok := f[metric]; ok {
			if vals[floorRow] == nil {
				vals[floorRow] = map[int][]float64{}
			}
			for _, S := range t.steps {
				vals[floorRow][S] = append(vals[floorRow][S], v)
			}
		}
	}
	for row, bys := range vals {
		t.mean[row], t.std[row], t.count[row] = map[int]float64{}, map[int]float64{}, map[int]int{}
		for S, vs := range bys {
			m, s := 0.0, 0.0
			for _, v := range vs {
				m += v
			}
			m /= float64(len(vs))
			for _, v := range vs {
				s += (v - m) * (v - m)
			}
			if len(vs) > 1 {
				s = math.Sqrt(s / float64(len(vs)-1))
			}
			t.mean[row][S], t.std[row][S], t.count[row][S] = m, s, len(vs)
		}
	}
	return t
}

func (t *table) get(row string, S int) (float64, bool) {
	v, ok := t.mean[row][S]
	return v, ok
}

// markdown writes the table, Table-1 style: rows by eta, columns by S, the best
// value of each column in bold.
func (t *table) markdown(w io.Writer) {
	fmt.Fprintf(w, "| %s | ", t.metric.Name)
	for _, S := range t.steps {
		fmt.Fprintf(w, "%s = %d | ", t.col, S)
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, "|---|")
	for range t.steps {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w)
	best := map[int]string{}
	for _, S := range t.steps {
		if !t.metric.Ranked() || len(t.rows) < 2 {
			break
		}
		bv := math.NaN()
		for _, row := range t.rows {
			if v, ok := t.get(row, S); ok && (math.IsNaN(bv) || t.metric.Better(v, bv)) {
				bv, best[S] = v, row
			}
		}
	}
	for _, row := range t.rows {
		fmt.Fprintf(w, "| %s | ", row)
		for _, S := range t.steps {
			v, ok := t.get(row, S)
			switch {
			case !ok:
				fmt.Fprint(w, "– | ")
			default:
				s := formatMetric(v)
				if t.count[row][S] > 1 {
					s += " ± " + formatMetric(t.std[row][S])
				}
				if best[S] == row {
					s = "**" + s + "**"
				}
				fmt.Fprint(w, s, " | ")
			}
		}
		fmt.Fprintln(w)
	}
	if _, ok := t.mean[floorRow]; ok && len(t.steps) > 0 {
		S := t.steps[0]
		s := formatMetric(t.mean[floorRow][S])
		if t.count[floorRow][S] > 1 {
			s += " ± " + formatMetric(t.std[floorRow][S])
		}
		fmt.Fprintf(w, "| *%s* | *%s at every S: the value of a perfect sampler* |", floorRow, s)
		for range t.steps[1:] {
			fmt.Fprint(w, " |")
		}
		fmt.Fprintln(w)
	}
}

func formatMetric(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	case a >= 0.01:
		return fmt.Sprintf("%.4f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// observations states, in words and numbers, where the tables of one schedule and
// spacing match the shape of the DDIM paper's Table 1 and where they do not. Every
// ranked metric is weighed, the primary one's numbers first, and where the metrics
// disagree the observation says so and on which.
func observations(primary *table, tables []*table) []string {
	if len(primary.steps) == 0 {
		return nil
	}
	small, large := primary.steps[0], primary.steps[len(primary.steps)-1]
	if primary.metric.Name == "recon_mse" {
		return []string{reconObservation(primary)}
	}
	ranked := []*table{primary}
	for _, t := range tables {
		if t != primary && t.metric.Ranked() {
			ranked = append(ranked, t)
		}
	}
	var out []string
	if o := etaObservation(ranked, small); o != "" {
		out = append(out, o)
	}
	if o := convergeObservation(ranked, small, large); o != "" {
		out = append(out, o)
	}
	if f, ok := primary.get(floorRow, small); ok {
		var near []string
		for _, row := range primary.rows {
			if v, ok := primary.get(row, large); ok && !primary.metric.Better(f, v) {
				near = append(near, row)
			}
		}
		msg := fmt.Sprintf("Two independent true samples of this size score %s (the floor): differences smaller than the floor's spread are noise.", formatMetric(f))
		if len(near) > 0 {
			msg += fmt.Sprintf(" At S = %d, %s reach the floor.", large, strings.Join(near, ", "))
		}
		out = append(out, msg)
	}
	if o := sigmaHatObservation(ranked, small); o != "" {
		out = append(out, o)
	}
	if v, ok := primary.get(RowSigmaHat, large); ok && large == primary.T {
		out = append(out, fmt.Sprintf("At S = T = %d, sigma-hat is DDPM itself (%s %s).", large, primary.metric.Name, formatMetric(v)))
	}
	return out
}

// reconObservation says whether the reconstruction error falls as S grows, as in
// the DDIM paper's Table 2.
func reconObservation(t *table) string {
	prev, mono := math.Inf(1), true
	var vals []string
	for _, S := range t.steps {
		if v, ok := t.get("eta=0", S); ok {
			mono = mono && v < prev
			prev = v
			vals = append(vals, fmt.Sprintf("%s at S = %d", formatMetric(v), S))
		}
	}
	if mono {
		return fmt.Sprintf("The reconstruction error falls as S grows (%s), as in the DDIM paper's Table 2.", strings.Join(vals, ", "))
	}
	return fmt.Sprintf("The reconstruction error does **not** fall steadily as S grows (%s); in the DDIM paper's Table 2 it does.", strings.Join(vals, ", "))
}

// etaObservation compares eta = 0 with eta = 1 at S on every ranked metric: in the
// DDIM paper eta = 0 is better at small S.
func etaObservation(ranked []*table, S int) string {
	var wins, losses []string
	for _, t := range ranked {
		e0, ok0 := t.get("eta=0", S)
		e1, ok1 := t.get("eta=1", S)
		if !ok0 || !ok1 {
			continue
		}
		v := fmt.Sprintf("%s %s vs %s", t.metric.Name, formatMetric(e0), formatMetric(e1))
		if t.metric.Better(e0, e1) {
			wins = append(wins, v)
		} else {
			losses = append(losses, v)
		}
	}
	return claim(fmt.Sprintf("At S = %d, eta = 0 is better than eta = 1", S), wins, losses, len(ranked),
		"as in the DDIM paper", "this differs from the DDIM paper", "in the DDIM paper eta = 0 is better")
}

// claim phrases a claim checked on several metrics: subject, then where it holds
// and where it fails, with the paper's verdict: agree when it holds on every
// metric, differ when on none, paper when the metrics disagree.
func claim(subject string, holds, fails []string, ranked int, agree, differ, paper string) string {
	switch {
	case len(holds) == 0 && len(fails) == 0:
		return ""
	case len(fails) == 0:
		return fmt.Sprintf("%s %s, %s.", subject, onMetrics(holds, ranked), agree)
	case len(holds) == 0:
		return fmt.Sprintf("%s on **no** metric (%s); %s.", subject, strings.Join(fails, "; "), differ)
	}
	return fmt.Sprintf("%s on %s, but **not** on %s: the metrics disagree; %s.", subject, strings.Join(holds, "; "), strings.Join(fails, "; "), paper)
}

// onMetrics phrases the metrics' values of a claim that holds on all of them.
func onMetrics(vals []string, ranked int) string {
	if len(vals) == 1 && ranked == 1 {
		return "(" + vals[0] + ")"
	}
	return "on every metric (" + strings.Join(vals, "; ") + ")"
}

// spread is the range of the rows' values at S, and whether two rows have one.
func (t *table) spread(S int) (float64, bool) {
	lo, hi, n := math.Inf(1), math.Inf(-1), 0
	for _, row := range t.rows {
		if v, ok := t.get(row, S); ok {
			lo, hi, n = math.Min(lo, v), math.Max(hi, v), n+1
		}
	}
	return hi - lo, n > 1
}

// convergeObservation says whether the rows draw together as S grows, as the
// paper's rows do, led by the primary metric and naming the metrics that disagree.
func convergeObservation(ranked []*table, small, large int) string {
	if small == large {
		return ""
	}
	primary := ranked[0]
	s0, okA := primary.spread(small)
	s1, okB := primary.spread(large)
	if !okA || !okB {
		return ""
	}
	converge := s1 < s0
	var others []string
	for _, t := range ranked[1:] {
		a, okA := t.spread(small)
		b, okB := t.spread(large)
		if okA && okB && (b < a) != converge {
			others = append(others, fmt.Sprintf("%s: %s at %s = %d and %s at %s = %d", t.metric.Name, formatMetric(a), t.col, small, formatMetric(b), t.col, large))
		}
	}
	var msg string
	if converge {
		msg = fmt.Sprintf("The rows converge as %s grows: the spread between rows (%s) is %s at %s = %d and %s at %s = %d, as in the paper.", primary.col, primary.metric.Name, formatMetric(s0), primary.col, small, formatMetric(s1), primary.col, large)
	} else {
		msg = fmt.Sprintf("The rows do **not** converge as %s grows: the spread between rows (%s) is %s at %s = %d and %s at %s = %d; the paper's rows converge.", primary.col, primary.metric.Name, formatMetric(s0), primary.col, small, formatMetric(s1), primary.col, large)
	}
	if len(others) > 0 {
		verb := "do **not** converge"
		if !converge {
			verb = "converge"
		}
		msg += fmt.Sprintf(" On %s the rows %s, so the metrics disagree (%s).", metricList(others), verb, strings.Join(others, "; "))
	}
	return msg
}

// metricList names the metrics of "name, ..." entries.
func metricList(entries []string) string {
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i], _, _ = strings.Cut(e, ":")
	}
	return strings.Join(names, " and ")
}

// sigmaHatObservation says on which ranked metrics sigma-hat (strided DDPM) is the
// worst row at S: in the paper it is the worst row at small S.
func sigmaHatObservation(ranked []*table, S int) string {
	var worstOn, notWorstOn []string
	for _, t := range ranked {
		sh, ok := t.get(RowSigmaHat, S)
		if !ok {
			continue
		}
		lo, hi, n := math.Inf(1), math.Inf(-1), 0
		worse := "" // the worst other row, where sigma-hat is not the worst
		worseV := 0.0
		for _, row := range t.rows {
			v, ok := t.get(row, S)
			if !ok || row == RowSigmaHat {
				continue
			}
			lo, hi, n = math.Min(lo, v), math.Max(hi, v), n+1
			if t.metric.Better(sh, v) && (worse == "" || t.metric.Better(worseV, v)) {
				worse, worseV = row, v
			}
		}
		if n == 0 {
			continue
		}
		if worse == "" {
			others := formatMetric(lo)
			if hi != lo {
				others = formatMetric(lo) + " to " + formatMetric(hi)
			}
			worstOn = append(worstOn, fmt.Sprintf("%s %s, the other rows %s", t.metric.Name, formatMetric(sh), others))
		} else {
			notWorstOn = append(notWorstOn, fmt.Sprintf("%s %s, %s worse at %s", t.metric.Name, formatMetric(sh), worse, formatMetric(worseV)))
		}
	}
	return claim(fmt.Sprintf("At S = %d, sigma-hat (strided DDPM) is the worst row", S), worstOn, notWorstOn, len(ranked),
		"as in the paper", "in the paper it is", "in the paper (FID) it is the worst row")
}

// figures are the pictures of a report by file name, PNG-encoded.
type figures map[string][]byte

// figureTag names a schedule and spacing in the figures' file names.
func (c *Config) figureTag(sched diffusion.ScheduleKind, sp diffusion.Spacing) string {
	tag := string(sched)
	if len(c.Grid.Spacings) > 1 {
		tag += "-" + string(sp)
	}
	return tag
}

func plotFile(metric, tag string) string { return fmt.Sprintf("%s_vs_steps_%s.png", metric, tag) }

func samplesFile(tag string) string { return fmt.Sprintf("samples_%s.png", tag) }

// Markdown renders the report: the settings, the metrics' docs, for each schedule
// and spacing the primary metric's table with the best value of each column in
// bold, the floor and the observations, the other metrics' tables, and links to
// the figures found in have, by file name (the primary metric's plot, the sample
// pictures). written is the time stated in the header. It does no I/O.
func (res *Results) Markdown(written time.Time, have figures) []byte {
	c := res.Config
	var md bytes.Buffer
	fmt.Fprintf(&md, "# %s\n\n", c.Name)
	if c.Description != "" {
		fmt.Fprintf(&md, "%s\n\n", strings.TrimSpace(c.Description))
	}
	fmt.Fprintf(&md, "- data: %s", c.Data.Name)
	if c.Data.GMM != "" {
		fmt.Fprintf(&md, " (%s)", c.Data.GMM)
	}
	model := string(c.Model.Kind)
	if c.Model.pinned != "" {
		model = fmt.Sprintf("checkpoint %s (step %d; EMA weights %s)", c.Model.pinned, c.Model.pinnedStep, c.Model.weights)
	}
	zt := ""
	if c.ZeroTerminalSNR {
		zt = " (rescaled to a zero terminal SNR, Lin et al. 2024, Algorithm 1)"
	}
	fmt.Fprintf(&md, "\n- model: %s\n- T = %d; schedules: %s%s; spacing: %s; clip x0: %v\n", model, c.T, join(c.Schedules), zt, join(c.Grid.Spacings), *c.Grid.ClipX0)
	fmt.Fprintf(&md, "- %d samples per cell, seeds %v; each metric against a fresh sample of %d from the true distribution\n", c.Eval.N, c.Seeds, c.Eval.N)
	fmt.Fprintf(&md, "- backend: %s; metrics version %s; eval hash %s\n", res.Backend, metrics.Version, c.evalHash())
	total := 0.0
	for _, cr := range res.Cells {
		total += cr.Seconds
	}
	if res.Extractor != "" {
		fmt.Fprintf(&md, "- feature classifier of the image metrics: hash %s, test accuracy %.2f%% (`difflab features`); metrics compare only under one hash\n",
			res.Extractor, 100*res.ExtractorAccuracy)
		if other := otherExtractors(res); len(other) > 0 {
			fmt.Fprintf(&md, "- **warning: %s measured with another classifier (%s)**: their image metrics are not comparable with the floor or the other cells\n",
				other[0], strings.Join(other[1:], ", "))
		}
	}
	fmt.Fprintf(&md, "- sampling time over all cells: %.1f s; report written %s\n\n", total, written.UTC().Format("2006-01-02 15:04 MST"))
	if c.Mode == ModeInversion {
		fmt.Fprintf(&md, "Each cell encodes %d samples of the data to x_T with the deterministic DDIM update (eta = 0) over S steps and decodes them back over the same steps (Song et al. 2021, section 5.4). Columns: the number of steps S.\n\n", c.Eval.N)
	} else {
		var parts []string
		if len(c.Grid.Etas) > 0 && slices.Contains(c.Grid.Samplers, diffusion.DDIM) {
			etas := make([]string, len(c.Grid.Etas))
			for i, e := range c.Grid.Etas {
				etas[i] = strconv.FormatFloat(e, 'g', -1, 64)
			}
			parts = append(parts, "DDIM with eta = "+strings.Join(etas, ", ")+" (Song et al. 2021, eq. (16))")
		}
		var solvers []string
		for _, smp := range c.Grid.Samplers {
			if smp != diffusion.DDIM && smp != diffusion.DDPMStrided {
				solvers = append(solvers, string(smp))
			}
		}
		if len(solvers) > 0 {
			parts = append(parts, "the ODE solvers "+strings.Join(solvers, ", ")+" (difflab's diffusion package documents each update rule)")
		}
		if slices.Contains(c.Grid.Samplers, diffusion.DDPMStrided) {
			parts = append(parts, "sigma-hat, strided DDPM with sigma-hat_t = sqrt(1 - abar_t/abar_prev)")
		}
		cols := "the number of sampling steps S"
		if c.Grid.EqualNFE {
			cols = "the number of model evaluations NFE (heun takes (NFE + 1)/2 steps, 2S - 1 evaluations)"
		}
		fmt.Fprintf(&md, "Rows: %s; columns: %s. Best value per column in bold.\n\n", strings.Join(parts, "; "), cols)
	}
	fmt.Fprintf(&md, "Metrics:\n")
	for _, name := range c.Eval.Metrics {
		m, _ := metrics.Lookup(name)
		fmt.Fprintf(&md, "- **%s**: %s\n", name, m.Doc)
	}
	fmt.Fprintln(&md)
	if len(c.Schedules) > 1 {
		for _, sp := range c.Grid.Spacings {
			res.scheduleTable(&md, sp)
		}
	}
	for _, sched := range c.Schedules {
		for _, sp := range c.Grid.Spacings {
			tag := c.figureTag(sched, sp)
			fmt.Fprintf(&md, "## Schedule %s, spacing %s\n\n", sched, sp)
			var tables []*table
			var primary *table
			for _, m := range c.Eval.Metrics {
				t := res.table(sched, sp, m)
				tables = append(tables, t)
				if m == c.Eval.Primary {
					primary = t
				}
			}
			primary.markdown(&md)
			fmt.Fprintln(&md)
			for _, o := range observations(primary, tables) {
				fmt.Fprintf(&md, "- %s\n", o)
			}
			fmt.Fprintln(&md)
			for _, t := range tables {
				if t.metric.Domain == metrics.Solutions && len(t.steps) > 1 {
					t.orderMarkdown(&md)
				}
			}
			for _, t := range tables {
				if t == primary {
					if name := plotFile(t.metric.Name, tag); have[name] != nil {
						fmt.Fprintf(&md, "![%s against %s, %s](%s)\n\n", t.metric.Name, t.col, tag, name)
					}
					continue
				}
				fmt.Fprintf(&md, "<details><summary>%s</summary>\n\n", t.metric.Name)
				t.markdown(&md)
				fmt.Fprintf(&md, "\n</details>\n\n")
			}
			if v, ok := res.VLB[sched]; ok {
				fmt.Fprintf(&md, "Bound on the negative log-likelihood (Ho et al. 2020, eq. (5), fixed-small variance, discretized Gaussian decoder) on %d test images: **%.3f bits/dim** = prior %.4f + KL terms %.3f + decoder %.3f.\n\n",
					c.Eval.VLBN, v["total"], v["prior"], v["kl"], v["decoder"])
			}
			if name := samplesFile(tag); have[name] != nil {
				if c.isImage() {
					fmt.Fprintf(&md, "Samples (seed %d, the first %d of each cell; rows as in the table, top to bottom: %s; columns: S = %v):\n\n![samples %s](%s)\n\n",
						c.Seeds[0], gridImages, strings.Join(c.Rows(), ", "), sortedSteps(c), tag, name)
				} else {
					fmt.Fprintf(&md, "Samples (seed %d, first %d points; the last column is the true distribution):\n\n![samples %s](%s)\n\n", c.Seeds[0], c.Report.ScatterPoints, tag, name)
				}
			}
		}
	}
	fmt.Fprintf(&md, "Reproduce: `difflab run %s`\n", c.Dir())
	return md.Bytes()
}

func join[K ~string](ks []K) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// figures draws the report's pictures: each metric against S, and the samples of
// every cell (scatter plots of 2-D data, the cells' pictures of images).
func (r *Runner) figures(res *Results) (figures, error) {
	c := r.Config
	out := figures{}
	for _, sched := range c.Schedules {
		for _, sp := range c.Grid.Spacings {
			tag := c.figureTag(sched, sp)
			for _, m := range c.Eval.Metrics {
				t := res.table(sched, sp, m)
				png, err := plot.PNG(func(w io.Writer) error { return t.plot(w, sched, sp) })
				if err != nil {
					return nil, err
				}
				out[plotFile(m, tag)] = png
			}
			var png []byte
			var err error
			if c.isImage() {
				png, err = r.imageMosaic(res, sched, sp)
			} else {
				png, err = r.sampleGrid(res, sched, sp)
			}
			if err != nil {
				return nil, err
			}
			if png != nil {
				out[samplesFile(tag)] = png
			}
		}
	}
	return out, nil
}

// writeReport writes report.md and the figures into the run folder and logs them
// as artifacts of a "report" run in the tracker.
func (r *Runner) writeReport(res *Results, lease *track.Lease) error {
	c := r.Config
	files, err := r.figures(res)
	if err != nil {
		return err
	}
	files[ReportFile] = res.Markdown(time.Now(), files)
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(r.OutDir, name), b, 0o644); err != nil {
			return fmt.Errorf("experiment: writing report: %w", err)
		}
	}
	res.ReportPath = filepath.Join(r.OutDir, ReportFile)
	run, err := r.Store.StartRun(track.RunOptions{Experiment: c.Name, Name: "report", ConfigHash: c.Hash(),
		Backend: res.Backend, Tags: map[string]string{"kind": "report"}})
	if err != nil {
		return err
	}
	for _, n := range slices.Sorted(maps.Keys(files)) {
		run.LogArtifact(n, bytes.NewReader(files[n]))
	}
	if lease != nil {
		return lease.Finish(run)
	}
	return run.End(nil)
}

// scheduleTable writes the primary metric of every row and schedule side by side,
// rows grouped by sampler row, so schedules can be compared at each S.
func (res *Results) scheduleTable(w io.Writer, spacing diffusion.Spacing) {
	c := res.Config
	primary, _ := metrics.Lookup(c.Eval.Primary)
	tables := map[diffusion.ScheduleKind]*table{}
	for _, sched := range c.Schedules {
		tables[sched] = res.table(sched, spacing, c.Eval.Primary)
	}
	steps := sortedSteps(c)
	fmt.Fprintf(w, "## Schedules compared (%s, spacing %s)\n\n| row | schedule | ", c.Eval.Primary, spacing)
	for _, S := range steps {
		fmt.Fprintf(w, "S = %d | ", S)
	}
	fmt.Fprint(w, "\n|---|---|")
	for range steps {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w)
	for _, row := range c.Rows() {
		best := map[int]diffusion.ScheduleKind{}
		for _, S := range steps {
			bv := math.NaN()
			for _, sched := range c.Schedules {
				if v, ok := tables[sched].get(row, S); ok && (math.IsNaN(bv) || primary.Better(v, bv)) {
					bv, best[S] = v, sched
				}
			}
		}
		for _, sched := range c.Schedules {
			fmt.Fprintf(w, "| %s | %s | ", row, sched)
			for _, S := range steps {
				v, ok := tables[sched].get(row, S)
				switch {
				case !ok:
					fmt.Fprint(w, "– | ")
				case best[S] == sched:
					fmt.Fprintf(w, "**%s** | ", formatMetric(v))
				default:
					fmt.Fprintf(w, "%s | ", formatMetric(v))
				}
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintf(w, "\nBest schedule per row and S in bold.\n\n")
}

func (t *table) plot(w io.Writer, sched diffusion.ScheduleKind, spacing diffusion.Spacing) error {
	var series []plot.Series
	for _, row := range t.rows {
		s := plot.Series{Name: row}
		for _, S := range t.steps {
			if v, ok := t.get(row, S); ok {
				s.X = append(s.X, float64(S))
				s.Y = append(s.Y, v)
			}
		}
		series = append(series, s)
	}
	if f, ok := t.mean[floorRow]; ok {
		s := plot.Series{Name: floorRow}
		for _, S := range t.steps {
			s.X, s.Y = append(s.X, float64(S)), append(s.Y, f[S])
		}
		series = append(series, s)
	}
	logY := t.metric.LogAxis
	for _, s := range series {
		for _, v := range s.Y {
			if v <= 0 {
				logY = false
			}
		}
	}
	xl := "S (sampling steps)"
	if t.col == colNFE {
		xl = "NFE (model evaluations)"
	}
	return plot.Lines(w, plot.LineOptions{Title: fmt.Sprintf("%s against %s (%s, %s)", t.metric.Name, t.col, sched, spacing), XLabel: xl, YLabel: t.metric.Name, LogX: true, LogY: logY}, series...)
}

// colNFE names the columns of an experiment with grid.equal_nfe.
const colNFE = "NFE"

// columnName is what the report's columns count: "S", or "NFE" with
// grid.equal_nfe.
func (c *Config) columnName() string {
	if c.Grid.EqualNFE {
		return colNFE
	}
	return "S"
}

// orders returns, per row, the measured convergence order of the metric: the
// slope -d log(value) / d log(column) of a least-squares line through the
// columns, and between the two largest columns alone (NaN where a row lacks
// positive values there).
func (t *table) orders() (fit, last map[string]float64) {
	fit, last = map[string]float64{}, map[string]float64{}
	for _, row := range t.rows {
		var xs, ys []float64
		for _, S := range t.steps {
			if v, ok := t.get(row, S); ok && v > 0 {
				xs, ys = append(xs, math.Log(float64(S))), append(ys, math.Log(v))
			}
		}
		fit[row], last[row] = math.NaN(), math.NaN()
		if len(xs) < 2 {
			continue
		}
		n := len(xs)
		last[row] = -(ys[n-1] - ys[n-2]) / (xs[n-1] - xs[n-2])
		_, slope := stat.LinearRegression(xs, ys, nil, false)
		fit[row] = -slope
	}
	return fit, last
}

// orderMarkdown writes the measured convergence order of each row.
func (t *table) orderMarkdown(w io.Writer) {
	fit, last := t.orders()
	fmt.Fprintf(w, "Measured convergence order of %s (its slope against %s on log-log axes: 1 is first order, 2 second):\n\n", t.metric.Name, t.col)
	fmt.Fprintf(w, "| row | fit over all %s | between %s = %d and %d |\n|---|---:|---:|\n", t.col, t.col, t.steps[max(0, len(t.steps)-2)], t.steps[len(t.steps)-1])
	for _, row := range t.rows {
		fmt.Fprintf(w, "| %s | %.2f | %.2f |\n", row, fit[row], last[row])
	}
	fmt.Fprintln(w)
}

// sampleGrid draws the first seed's samples of every cell, rows by eta and columns
// by S, next to a sample of the true distribution. It returns nil for data that is
// not 2-D.
func (r *Runner) sampleGrid(res *Results, sched diffusion.ScheduleKind, spacing diffusion.Spacing) ([]byte, error) {
	c := r.Config
	truth, _, err := r.truth()
	if err != nil || truth.Dim() != 2 {
		return nil, err
	}
	steps := slices.Clone(c.Grid.Steps)
	slices.Sort(steps)
	rowsN := c.Rows()
	titles := make([][]string, len(rowsN))
	cells := make([][][]plot.Points, len(rowsN))
	ref := truth.Sample(c.Report.ScatterPoints, newRand(c.Seeds[0], streamReference))
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range ref {
		lo, hi = math.Min(lo, math.Min(p[0], p[1])), math.Max(hi, math.Max(p[0], p[1]))
	}
	pad := 0.15 * (hi - lo)
	for i, row := range rowsN {
		titles[i] = make([]string, len(steps)+1)
		cells[i] = make([][]plot.Points, len(steps)+1)
		for j, S := range steps {
			for _, cr := range res.Cells {
				cl := cr.Cell
				if cl.Schedule == sched && cl.Spacing == spacing && cl.Row() == row && cl.Steps == S && cl.Seed == c.Seeds[0] {
					x := r.loadCellSamples(cl)
					if len(x) > c.Report.ScatterPoints {
						x = x[:c.Report.ScatterPoints]
					}
					titles[i][j] = fmt.Sprintf("%s S=%d", row, S)
					cells[i][j] = []plot.Points{{XY: x}}
				}
			}
		}
		titles[i][len(steps)] = "data"
		cells[i][len(steps)] = []plot.Points{{XY: ref}}
	}
	return plot.PNG(func(w io.Writer) error {
		return plot.ScatterGrid(w, titles, cells, [2]float64{lo - pad, hi + pad}, 170)
	})
}

// otherExtractors describes the cells of res measured with a feature classifier
// other than res.Extractor: nil when there is none, else "N cells" (or "1 cell")
// followed by the hashes of those classifiers, sorted ("no hash" for a cell that
// recorded none).
func otherExtractors(res *Results) []string {
	n := 0
	hashes := map[string]bool{}
	for _, cr := range res.Cells {
		if cr.Extractor != res.Extractor {
			n++
			h := cr.Extractor
			if h == "" {
				h = "no hash"
			}
			hashes[h] = true
		}
	}
	if n == 0 {
		return nil
	}
	count := fmt.Sprintf("%d cells", n)
	if n == 1 {
		count = "1 cell"
	}
	return append([]string{count}, slices.Sorted(maps.Keys(hashes))...)
}

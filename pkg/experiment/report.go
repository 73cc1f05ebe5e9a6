package experiment

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/difflab/difflab/pkg/backend"
	"github.com/difflab/difflab/pkg/diffusion"
	"github.com/difflab/difflab/pkg/metrics"
	"github.com/difflab/difflab/pkg/plot"
	"github.com/difflab/difflab/pkg/track"
)

// ReportFile is the report's file name inside the run folder.
const ReportFile = "report.md"

// noBest lists the metrics that describe rather than rank: no value is marked best.
var noBest = map[string]bool{"latent_std": true}

// higherIsBetter lists the metrics where a larger value is better.
var higherIsBetter = map[string]bool{"loglik": true, "precision": true, "recall": true, "is": true, "confident": true}

// metricDoc says in words what each metric is, for the report.
var metricDoc = map[string]string{
	"swd":        "sliced Wasserstein-2 distance to a fresh sample of the true distribution (256 seeded projections); lower is better",
	"mmd":        "unbiased MMD^2 with a Gaussian kernel, median-heuristic bandwidth, against a fresh true sample; lower is better",
	"energy":     "energy distance to a fresh true sample; lower is better",
	"recon_mse":  "mean squared error per coordinate between data x_0 and its DDIM reconstruction (encode to x_T with the eta = 0 update, decode back); lower is better",
	"latent_std": "standard deviation of the encoded x_T's coordinates (1 for a latent that looks like N(0, I))",
	"loglik":     "mean log-density of the samples under the true mixture (exact); higher is better, but it also rewards collapse onto the modes",
	"modes":      "total-variation distance between the fraction of samples per mixture component and the true weights (samples beyond 3 std of every mode count as their own bin); lower is better",
	"fid":        "Frechet distance in the feature space of difflab's classifier; lower is better",
	"kid":        "kernel inception-style distance in the same feature space; lower is better",
	"precision":  "fraction of samples inside the data manifold (k-NN balls, k = 3); higher is better",
	"recall":     "fraction of data inside the samples' manifold; higher is better",
	"is":         "Inception Score with difflab's classifier, exp E KL(p(y|x) || p(y)): high when each sample is clearly one digit and all digits occur (at most 10); higher is better, up to the true-vs-true row",
	"confident":  "fraction of samples the classifier reads as one class with probability >= 0.9 (recognizable images); higher is better, up to the true-vs-true row",
}

// table holds a metric's mean and spread over seeds by row and S.
type table struct {
	metric string
	T      int // the schedule's T: S = T makes sigma-hat DDPM itself
	rows   []string
	steps  []int
	mean   map[string]map[int]float64
	std    map[string]map[int]float64
	count  map[string]map[int]int
}

// floorRow labels the row of the table that compares two true samples.
const floorRow = "true vs true"

func (res *Results) table(schedule, spacing, metric string) *table {
	c := res.Config
	t := &table{metric: metric, T: c.T, rows: c.Rows(), steps: slices.Clone(c.Grid.Steps),
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
	fmt.Fprintf(w, "| %s | ", t.metric)
	for _, S := range t.steps {
		fmt.Fprintf(w, "S = %d | ", S)
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, "|---|")
	for range t.steps {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w)
	best := map[int]string{}
	for _, S := range t.steps {
		if noBest[t.metric] || len(t.rows) < 2 {
			break
		}
		bv := math.NaN()
		for _, row := range t.rows {
			if v, ok := t.get(row, S); ok && (math.IsNaN(bv) || better(t.metric, v, bv)) {
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

func better(metric string, a, b float64) bool {
	if higherIsBetter[metric] {
		return a > b
	}
	return a < b
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

// observations states, in words and numbers, where the table matches the shape of
// the DDIM paper's Table 1 and where it does not.
func (t *table) observations() []string {
	var out []string
	if len(t.steps) == 0 {
		return nil
	}
	small, large := t.steps[0], t.steps[len(t.steps)-1]
	if t.metric == "recon_mse" {
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
			out = append(out, fmt.Sprintf("The reconstruction error falls as S grows (%s), as in the DDIM paper's Table 2.", strings.Join(vals, ", ")))
		} else {
			out = append(out, fmt.Sprintf("The reconstruction error does **not** fall steadily as S grows (%s); in the DDIM paper's Table 2 it does.", strings.Join(vals, ", ")))
		}
		return out
	}
	dir := "lower"
	if higherIsBetter[t.metric] {
		dir = "higher"
	}
	e0, ok0 := t.get("eta=0", small)
	e1, ok1 := t.get("eta=1", small)
	if ok0 && ok1 {
		if better(t.metric, e0, e1) {
			out = append(out, fmt.Sprintf("At S = %d, eta = 0 is better than eta = 1 (%s %s vs %s), as in the DDIM paper.", small, t.metric, formatMetric(e0), formatMetric(e1)))
		} else {
			out = append(out, fmt.Sprintf("At S = %d, eta = 0 is **not** better than eta = 1 (%s %s vs %s, %s is better): this differs from the DDIM paper.", small, t.metric, formatMetric(e0), formatMetric(e1), dir))
		}
	}
	spread := func(S int) (float64, bool) {
		lo, hi, n := math.Inf(1), math.Inf(-1), 0
		for _, row := range t.rows {
			if v, ok := t.get(row, S); ok {
				lo, hi, n = math.Min(lo, v), math.Max(hi, v), n+1
			}
		}
		return hi - lo, n > 1
	}
	if len(t.steps) > 1 {
		s0, okA := spread(small)
		s1, okB := spread(large)
		if okA && okB {
			if s1 < s0 {
				out = append(out, fmt.Sprintf("The rows converge as S grows: the spread between rows is %s at S = %d and %s at S = %d, as in the paper.", formatMetric(s0), small, formatMetric(s1), large))
			} else {
				out = append(out, fmt.Sprintf("The rows do **not** converge as S grows: the spread between rows is %s at S = %d and %s at S = %d; the paper's rows converge.", formatMetric(s0), small, formatMetric(s1), large))
			}
		}
	}
	if f, ok := t.get(floorRow, small); ok {
		var near []string
		for _, row := range t.rows {
			if v, ok := t.get(row, large); ok && !better(t.metric, f, v) {
				near = append(near, row)
			}
		}
		msg := fmt.Sprintf("Two independent true samples of this size score %s (the floor): differences smaller than the floor's spread are noise.", formatMetric(f))
		if len(near) > 0 {
			msg += fmt.Sprintf(" At S = %d, %s reach the floor.", large, strings.Join(near, ", "))
		}
		out = append(out, msg)
	}
	if sh, ok := t.get(RowSigmaHat, small); ok {
		worst := true
		for _, row := range t.rows {
			if v, ok := t.get(row, small); ok && row != RowSigmaHat && better(t.metric, sh, v) {
				worst = false
			}
		}
		if worst {
			out = append(out, fmt.Sprintf("At S = %d, sigma-hat (strided DDPM) is the worst row (%s %s), as in the paper.", small, t.metric, formatMetric(sh)))
		} else {
			out = append(out, fmt.Sprintf("At S = %d, sigma-hat (strided DDPM) is **not** the worst row (%s %s); in the paper it is.", small, t.metric, formatMetric(sh)))
		}
		if v, ok := t.get(RowSigmaHat, large); ok && large == t.T {
			out = append(out, fmt.Sprintf("At S = T = %d, sigma-hat is DDPM itself (%s %s).", large, t.metric, formatMetric(v)))
		}
	}
	return out
}

// writeReport writes report.md, the plots and the sample grids into the run folder
// and logs them as artifacts of a "report" run in the tracker.
func (r *Runner) writeReport(res *Results) error {
	c := r.Config
	var md bytes.Buffer
	files := map[string][]byte{}
	fmt.Fprintf(&md, "# %s\n\n", c.Name)
	if c.Description != "" {
		fmt.Fprintf(&md, "%s\n\n", strings.TrimSpace(c.Description))
	}
	fmt.Fprintf(&md, "- data: %s", c.Data.Name)
	if c.Data.GMM != "" {
		fmt.Fprintf(&md, " (%s)", c.Data.GMM)
	}
	model := c.Model.Kind
	if c.Model.pinned != "" {
		model = fmt.Sprintf("checkpoint %s (step %d; EMA weights %s)", c.Model.pinned, c.Model.pinnedStep, c.Model.weights)
	}
	fmt.Fprintf(&md, "\n- model: %s\n- T = %d; schedules: %s; spacing: %s; clip x0: %v\n", model, c.T, strings.Join(c.Schedules, ", "), strings.Join(c.Grid.Spacings, ", "), *c.Grid.ClipX0)
	fmt.Fprintf(&md, "- %d samples per cell, seeds %v; each metric against a fresh sample of %d from the true distribution\n", c.Eval.N, c.Seeds, c.Eval.N)
	fmt.Fprintf(&md, "- backend: %s; metrics version %s; eval hash %s\n", backend.Description(), metrics.Version, c.evalHash())
	total := 0.0
	for _, cr := range res.Cells {
		total += cr.Seconds
	}
	fmt.Fprintf(&md, "- sampling time over all cells: %.1f s; report written %s\n\n", total, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	if c.Mode == ModeInversion {
		fmt.Fprintf(&md, "Each cell encodes %d samples of the data to x_T with the deterministic DDIM update (eta = 0) over S steps and decodes them back over the same steps (Song et al. 2021, section 5.4). Columns: the number of steps S.\n\n", c.Eval.N)
	} else {
		var parts []string
		if len(c.Grid.Etas) > 0 && slices.Contains(c.Grid.Samplers, string(diffusion.DDIM)) {
			etas := make([]string, len(c.Grid.Etas))
			for i, e := range c.Grid.Etas {
				etas[i] = strconv.FormatFloat(e, 'g', -1, 64)
			}
			parts = append(parts, "DDIM with eta = "+strings.Join(etas, ", ")+" (Song et al. 2021, eq. 16)")
		}
		if slices.Contains(c.Grid.Samplers, string(diffusion.DDPMStrided)) {
			parts = append(parts, "sigma-hat, strided DDPM with sigma-hat_t = sqrt(1 - abar_t/abar_prev)")
		}
		fmt.Fprintf(&md, "Rows: %s; columns: the number of sampling steps S. Best value per column in bold.\n\n", strings.Join(parts, "; "))
	}
	fmt.Fprintf(&md, "Metrics:\n")
	for _, m := range c.Eval.Metrics {
		fmt.Fprintf(&md, "- **%s**: %s\n", m, metricDoc[m])
	}
	fmt.Fprintln(&md)
	if len(c.Schedules) > 1 {
		for _, sp := range c.Grid.Spacings {
			res.scheduleTable(&md, sp)
		}
	}
	for _, sched := range c.Schedules {
		for _, sp := range c.Grid.Spacings {
			tag := sched
			if len(c.Grid.Spacings) > 1 {
				tag += "-" + sp
			}
			fmt.Fprintf(&md, "## Schedule %s, spacing %s\n\n", sched, sp)
			primary := res.table(sched, sp, c.Eval.Primary)
			primary.markdown(&md)
			fmt.Fprintln(&md)
			for _, o := range primary.observations() {
				fmt.Fprintf(&md, "- %s\n", o)
			}
			fmt.Fprintln(&md)
			for _, m := range c.Eval.Metrics {
				t := res.table(sched, sp, m)
				if m != c.Eval.Primary {
					fmt.Fprintf(&md, "<details><summary>%s</summary>\n\n", m)
					t.markdown(&md)
					fmt.Fprintf(&md, "\n</details>\n\n")
				}
				png, err := plot.PNG(func(w io.Writer) error { return t.plot(w, sched, sp) })
				if err != nil {
					return err
				}
				name := fmt.Sprintf("%s_vs_steps_%s.png", m, tag)
				files[name] = png
				if m == c.Eval.Primary {
					fmt.Fprintf(&md, "![%s against S, %s](%s)\n\n", m, tag, name)
				}
			}
			if v, ok := res.VLB[sched]; ok {
				fmt.Fprintf(&md, "Bound on the negative log-likelihood (Ho et al. eq. 5, fixed-small variance, discretized Gaussian decoder) on %d test images: **%.3f bits/dim** = prior %.4f + KL terms %.3f + decoder %.3f.\n\n",
					c.Eval.VLBN, v["total"], v["prior"], v["kl"], v["decoder"])
			}
			if c.isImage() {
				png, err := r.imageMosaic(res, sched, sp)
				if err != nil {
					return err
				}
				if png != nil {
					name := fmt.Sprintf("samples_%s.png", tag)
					files[name] = png
					fmt.Fprintf(&md, "Samples (seed %d, the first %d of each cell; rows as in the table, top to bottom: %s; columns: S = %v):\n\n![samples %s](%s)\n\n",
						c.Seeds[0], gridImages, strings.Join(c.Rows(), ", "), sortedSteps(c), tag, name)
				}
			} else if png, err := r.sampleGrid(res, sched, sp); err == nil && png != nil {
				name := fmt.Sprintf("samples_%s.png", tag)
				files[name] = png
				fmt.Fprintf(&md, "Samples (seed %d, first %d points; the last column is the true distribution):\n\n![samples %s](%s)\n\n", c.Seeds[0], c.Report.ScatterPoints, tag, name)
			} else if err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(&md, "Reproduce: `difflab run %s`\n", c.Dir())
	files[ReportFile] = md.Bytes()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(r.OutDir, name), b, 0o644); err != nil {
			return fmt.Errorf("experiment: writing report: %w", err)
		}
	}
	run, err := r.Store.StartRun(track.RunOptions{Experiment: c.Name, Name: "report", ConfigHash: c.Hash(),
		Backend: backend.Description(), Tags: map[string]string{"kind": "report"}})
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		run.LogArtifact(n, bytes.NewReader(files[n]))
	}
	return run.End(nil)
}

// scheduleTable writes the primary metric of every row and schedule side by side,
// rows grouped by sampler row, so schedules can be compared at each S.
func (res *Results) scheduleTable(w io.Writer, spacing string) {
	c := res.Config
	tables := map[string]*table{}
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
		best := map[int]string{}
		for _, S := range steps {
			bv := math.NaN()
			for _, sched := range c.Schedules {
				if v, ok := tables[sched].get(row, S); ok && (math.IsNaN(bv) || better(c.Eval.Primary, v, bv)) {
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

func (t *table) plot(w io.Writer, sched, spacing string) error {
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
	logY := !higherIsBetter[t.metric] && t.metric != "modes"
	for _, s := range series {
		for _, v := range s.Y {
			if v <= 0 {
				logY = false
			}
		}
	}
	return plot.Lines(w, plot.LineOptions{Title: fmt.Sprintf("%s against S (%s, %s)", t.metric, sched, spacing), XLabel: "S (sampling steps)", YLabel: t.metric, LogX: true, LogY: logY}, series...)
}

// sampleGrid draws the first seed's samples of every cell, rows by eta and columns
// by S, next to a sample of the true distribution. It returns nil for data that is
// not 2-D.
func (r *Runner) sampleGrid(res *Results, sched, spacing string) ([]byte, error) {
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

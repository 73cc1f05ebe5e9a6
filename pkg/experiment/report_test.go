package experiment

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/difflab/difflab/pkg/diffusion"
)

var update = flag.Bool("update", false, "rewrite the golden reports in testdata/ from the current code")

// goldenTime is the time the golden reports say they were written.
var goldenTime = time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)

// synthetic fills res with one result per cell of its grid and seed, from
// value(metric, cell), and the floors from floor(metric, seed): numbers chosen by
// the test, not computed, so that the report's text is all that is checked.
func synthetic(t *testing.T, config string, value func(string, Cell) float64, floor func(string, uint64) float64) *Results {
	t.Helper()
	cfg, err := Load(writeExperiment(t, config))
	if err != nil {
		t.Fatal(err)
	}
	cfg.dir = "experiments/" + cfg.Name // the folder the report names, the same on every machine
	res := &Results{Config: cfg, Backend: "test backend"}
	for i, cell := range cfg.Cells() {
		m := map[string]float64{}
		for _, name := range cfg.Eval.Metrics {
			m[name] = value(name, cell)
		}
		res.Cells = append(res.Cells, CellResult{Cell: cell, Metrics: m, Seconds: 0.25 * float64(i+1)})
	}
	if floor != nil && cfg.Mode == ModeSample {
		for _, seed := range cfg.Seeds {
			f := map[string]float64{}
			for _, name := range cfg.Eval.Metrics {
				f[name] = floor(name, seed)
			}
			res.Floor = append(res.Floor, f)
		}
	}
	return res
}

// allFigures says that every figure a report can link to exists.
func allFigures(c *Config) figures {
	f := figures{}
	for _, sched := range c.Schedules {
		for _, sp := range c.Grid.Spacings {
			tag := c.figureTag(sched, sp)
			for _, m := range c.Eval.Metrics {
				f[plotFile(m, tag)] = []byte("png")
			}
			f[samplesFile(tag)] = []byte("png")
		}
	}
	return f
}

// checkGolden compares got with testdata/name, or rewrites the file under -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to write it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(gl), len(wl)); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Errorf("%s differs from the golden file, first at line %d:\n got: %s\nwant: %s\n(go test -run %s -update rewrites it after a deliberate change)", name, i+1, g, w, t.Name())
				return
			}
		}
	}
}

// gmmReportConfig is smallConfig with two schedules, a description, S = 10 and 100
// and energy as the primary metric.
var gmmReportConfig = strings.NewReplacer(
	`name = "small"`, `name = "golden-gmm"`+"\n"+`description = "A synthetic Table 1: every number is made up by the test."`,
	`schedules = ["linear"]`, `schedules = ["linear", "cosine"]`,
	`steps = [5, 100]`, `steps = [10, 100]`,
	`n = 300`, "n = 300\nprimary = \"energy\"",
).Replace(smallConfig)

// gmmValue makes up a table where the metrics disagree the way the exact
// denoiser's ddim-table1-gmm does: on energy sigma-hat is not the worst row at
// S = 10 and the rows converge, on loglik and modes sigma-hat is the worst by far,
// and on loglik eta = 1 beats eta = 0.
func gmmValue(metric string, c Cell) float64 {
	row := map[string]float64{"eta=0": 1, "eta=1": 2.2, RowSigmaHat: 1.5}[c.Row()]
	small := c.Steps == 10
	seed := 1 + 0.05*float64(c.Seed)
	sched := 1.0
	if c.Schedule == diffusion.Cosine {
		sched = 0.6
	}
	switch metric {
	case "loglik":
		v := -1.4 + 0.05*row
		if small && c.Row() == RowSigmaHat {
			v = -5.8
		}
		if small && c.Row() == "eta=0" {
			v = -1.47
		}
		return v * seed * sched
	case "modes":
		v := 0.1 + 0.02*row
		if small && c.Row() == RowSigmaHat {
			v = 0.44
		}
		return v * seed * sched
	}
	base := map[string]float64{"energy": 0.01, "swd": 0.05, "mmd": 0.002}[metric]
	if !small {
		return base * 0.1 * (1 + 0.01*row) * seed * sched
	}
	return base * row * seed * sched
}

func gmmFloor(metric string, seed uint64) float64 {
	return map[string]float64{"energy": 0.0012, "swd": 0.02, "mmd": 1e-4, "loglik": -0.8, "modes": 0.01}[metric] * (1 + 0.1*float64(seed))
}

func TestReportGoldenGMM(t *testing.T) {
	res := synthetic(t, gmmReportConfig, gmmValue, gmmFloor)
	checkGolden(t, "report-gmm.md", res.Markdown(goldenTime, allFigures(res.Config)))
}

// TestReportGoldenCatchesChanges changes one table cell, and one observation's
// input, and checks that the report no longer matches the golden file.
func TestReportGoldenCatchesChanges(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "report-gmm.md"))
	if err != nil {
		t.Skip("no golden file yet")
	}
	for _, metric := range []string{"energy", "mmd"} {
		res := synthetic(t, gmmReportConfig, gmmValue, gmmFloor)
		res.Cells[3].Metrics[metric] *= 1.01
		if got := res.Markdown(goldenTime, allFigures(res.Config)); bytes.Equal(got, want) {
			t.Errorf("changing one %s cell by 1%% leaves the report identical to the golden file", metric)
		}
	}
}

func TestReportGoldenInversion(t *testing.T) {
	config := strings.NewReplacer(
		`name = "small"`, `name = "golden-inversion"`+"\n"+`mode = "inversion"`,
		"seeds = [1, 2]\n", "", "etas = [0.0, 1.0]\n", "", `steps = [5, 100]`, `steps = [5, 10, 100]`,
	).Replace(smallConfig)
	res := synthetic(t, config, func(metric string, c Cell) float64 {
		if metric == "latent_std" {
			return 1 - 0.3/float64(c.Steps)
		}
		return 0.2 / float64(c.Steps*c.Steps)
	}, nil)
	checkGolden(t, "report-inversion.md", res.Markdown(goldenTime, allFigures(res.Config)))
}

// imagesConfig is an image experiment on a checkpoint, for the reports of
// synthetic image results.
const imagesConfig = `
name = "golden-images"
T = 100
[data]
name = "mnist"
[model]
kind = "checkpoint"
checkpoint = "ckpt"
[grid]
steps = [10, 50]
spacings = ["leading", "trailing"]
[eval]
n = 100
vlb_n = 10
metrics = ["fid", "precision", "recall"]
`

func TestReportGoldenImages(t *testing.T) {
	res := synthetic(t, imagesConfig, func(metric string, c Cell) float64 {
		row := 1 + 0.1*c.Eta
		if c.Row() == RowSigmaHat {
			row = 1.8
		}
		if c.Spacing == diffusion.Trailing {
			row *= 0.9
		}
		switch metric {
		case "fid":
			return 40 * row * math.Sqrt(10/float64(c.Steps))
		case "precision":
			return 0.9 / row
		}
		return 0.6 / row
	}, func(metric string, _ uint64) float64 {
		return map[string]float64{"fid": 26.3, "precision": 0.95, "recall": 0.94}[metric]
	})
	c := res.Config
	c.Model.pinned, c.Model.pinnedStep, c.Model.weights = "ckpt/ckpt-00005400", 5400, "0123456789abcdef"
	res.VLB = map[diffusion.ScheduleKind]map[string]float64{diffusion.Linear: {"total": 1.234, "prior": 0.0001, "kl": 1.0, "decoder": 0.2339}}
	res.Extractor, res.ExtractorAccuracy = "feedfacecafebeef", 0.9812
	for i := range res.Cells {
		res.Cells[i].Extractor = res.Extractor
	}
	checkGolden(t, "report-images.md", res.Markdown(goldenTime, allFigures(c)))
}

// TestReportWarnsOfOtherExtractors: a report whose cells were measured with
// feature classifiers other than the floor's says how many and which.
func TestReportWarnsOfOtherExtractors(t *testing.T) {
	res := synthetic(t, imagesConfig, func(string, Cell) float64 { return 30 }, func(string, uint64) float64 { return 3 })
	res.Extractor, res.ExtractorAccuracy = "aaaaaaaaaaaaaaaa", 0.98
	for i := range res.Cells {
		res.Cells[i].Extractor = res.Extractor
	}
	md := string(res.Markdown(goldenTime, allFigures(res.Config)))
	if !strings.Contains(md, "- feature classifier of the image metrics: hash aaaaaaaaaaaaaaaa, test accuracy 98.00%") {
		t.Errorf("the report does not name the classifier:\n%s", md)
	}
	if strings.Contains(md, "warning") {
		t.Errorf("one classifier throughout, but the report warns:\n%s", md)
	}
	if len(res.Cells) < 3 {
		t.Fatalf("%d cells, want >= 3", len(res.Cells))
	}
	res.Cells[0].Extractor, res.Cells[2].Extractor = "bbbbbbbbbbbbbbbb", ""
	md = string(res.Markdown(goldenTime, allFigures(res.Config)))
	if want := "**warning: 2 cells measured with another classifier (bbbbbbbbbbbbbbbb, no hash)**"; !strings.Contains(md, want) {
		t.Errorf("the report does not contain %q:\n%s", want, md)
	}
	res.Cells[2].Extractor = res.Extractor
	md = string(res.Markdown(goldenTime, allFigures(res.Config)))
	if want := "**warning: 1 cell measured with another classifier (bbbbbbbbbbbbbbbb)**"; !strings.Contains(md, want) {
		t.Errorf("the report does not contain %q:\n%s", want, md)
	}
}

func TestClaim(t *testing.T) {
	for _, c := range []struct {
		holds, fails []string
		ranked       int
		want         string
	}{
		{nil, nil, 2, ""},
		{[]string{"fid 1 vs 2"}, nil, 1, "X (fid 1 vs 2), agree."},
		{[]string{"a 1 vs 2", "b 3 vs 4"}, nil, 2, "X on every metric (a 1 vs 2; b 3 vs 4), agree."},
		{nil, []string{"a 2 vs 1"}, 1, "X on **no** metric (a 2 vs 1); differ."},
		{[]string{"a 1 vs 2"}, []string{"b 4 vs 3"}, 2, "X on a 1 vs 2, but **not** on b 4 vs 3: the metrics disagree; paper."},
	} {
		if got := claim("X", c.holds, c.fails, c.ranked, "agree", "differ", "paper"); got != c.want {
			t.Errorf("claim(%q, %q) = %q, want %q", c.holds, c.fails, got, c.want)
		}
	}
}

// TestOrders: a value falling as S^-p has order p, in the fit and between the
// last two columns; a row without two positive values has none.
func TestOrders(t *testing.T) {
	tb := &table{rows: []string{"p1", "p2", "short"}, steps: []int{5, 10, 20, 50},
		mean: map[string]map[int]float64{"p1": {}, "p2": {}, "short": {50: 1}}}
	for _, S := range tb.steps {
		tb.mean["p1"][S] = 3 / float64(S)
		tb.mean["p2"][S] = 7 / float64(S*S)
	}
	fit, last := tb.orders()
	for row, want := range map[string]float64{"p1": 1, "p2": 2} {
		if math.Abs(fit[row]-want) > 1e-12 || math.Abs(last[row]-want) > 1e-12 {
			t.Errorf("%s: order %v (fit), %v (last pair); want %v", row, fit[row], last[row], want)
		}
	}
	if !math.IsNaN(fit["short"]) || !math.IsNaN(last["short"]) {
		t.Errorf("one value: order %v, %v; want NaN", fit["short"], last["short"])
	}
}

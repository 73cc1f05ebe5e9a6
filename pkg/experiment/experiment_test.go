package experiment

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/difflab/difflab/pkg/diffusion"
	"github.com/difflab/difflab/pkg/pipeline"
	"github.com/difflab/difflab/pkg/track"
)

const testGMM = `{"weights": [0.5, 0.5], "means": [[-1.5, 0], [1.5, 0.5]], "stds": [0.3, 0.2]}`

// writeExperiment writes a small experiment folder and returns it.
func writeExperiment(t *testing.T, config string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "gmm.json"), []byte(testGMM), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

const smallConfig = `
name = "small"
seeds = [1, 2]
schedules = ["linear"]
T = 100
[data]
name = "gmm"
gmm = "gmm.json"
[model]
kind = "oracle"
[grid]
etas = [0.0, 1.0]
steps = [5, 100]
[eval]
n = 300
`

func runExperiment(t *testing.T, dir string) *Results {
	t.Helper()
	cfg, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := track.Open(filepath.Join(dir, "runs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := &Runner{Config: cfg, Store: st, OutDir: filepath.Join(dir, "out")}
	res, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestSameSeedsSameNumbers runs one experiment twice in fresh folders and compares
// every metric of every cell exactly.
func TestSameSeedsSameNumbers(t *testing.T) {
	a := runExperiment(t, writeExperiment(t, smallConfig))
	b := runExperiment(t, writeExperiment(t, smallConfig))
	if len(a.Cells) != 2*3*2 || len(a.Cells) != len(b.Cells) {
		t.Fatalf("cells: %d and %d, want 12", len(a.Cells), len(b.Cells))
	}
	for i := range a.Cells {
		ca, cb := a.Cells[i], b.Cells[i]
		if ca.Cell != cb.Cell {
			t.Fatalf("cell %d: %v vs %v", i, ca.Cell, cb.Cell)
		}
		for _, m := range []string{"swd", "mmd", "energy", "loglik", "modes"} {
			if ca.Metrics[m] != cb.Metrics[m] {
				t.Errorf("%s %s: %v then %v", ca.Cell.Key(), m, ca.Metrics[m], cb.Metrics[m])
			}
		}
	}
	// Different seeds do differ.
	if a.Cells[0].Metrics["swd"] == a.Cells[6].Metrics["swd"] {
		t.Errorf("seeds 1 and 2 gave the same swd %v", a.Cells[0].Metrics["swd"])
	}
}

// TestResumeSkipsFinishedCells runs an experiment, grows its grid, and checks that
// the second run reuses the finished cells and only runs the new ones, and that the
// tracker holds one run per cell and the report.
func TestResumeSkipsFinishedCells(t *testing.T) {
	dir := writeExperiment(t, smallConfig)
	first := runExperiment(t, dir)
	grown := strings.Replace(smallConfig, "steps = [5, 100]", "steps = [5, 20, 100]", 1)
	os.WriteFile(filepath.Join(dir, ConfigFile), []byte(grown), 0o644)
	second := runExperiment(t, dir)
	resumed := 0
	for _, c := range second.Cells {
		if c.Resumed {
			resumed++
		}
	}
	if resumed != len(first.Cells) || len(second.Cells) != len(first.Cells)+6 {
		t.Errorf("second run: %d cells, %d resumed; want %d cells, %d resumed", len(second.Cells), resumed, len(first.Cells)+6, len(first.Cells))
	}
	st, err := track.Open(filepath.Join(dir, "runs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.Runs(track.Query{Experiment: "small", Filter: `tags.row = "eta=0" and params.steps = 5 and params.seed = 1`})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Params["eta"] != 0.0 || runs[0].Metrics["swd"] != first.Cells[0].Metrics["swd"] {
		t.Errorf("tracker run of the first cell: %+v", runs)
	}
	for _, f := range []string{ReportFile, "energy_vs_steps_linear.png", "samples_linear.png"} {
		if _, err := os.Stat(filepath.Join(dir, "out", f)); err != nil {
			t.Errorf("report file: %v", err)
		}
	}
	report, _ := os.ReadFile(filepath.Join(dir, "out", ReportFile))
	for _, want := range []string{"| eta=0 |", "| sigma-hat |", "S = 20", "true vs true", "Rows: DDIM with eta = 0, 1 (Song"} {
		if !strings.Contains(string(report), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []struct {
		edit func(string) string
		want string
	}{
		{func(s string) string { return strings.Replace(s, `name = "gmm"`, `name = "imagenet"`, 1) }, `field data.name = "imagenet"`},
		{func(s string) string { return strings.Replace(s, `kind = "oracle"`, `kind = "magic"`, 1) }, `field model.kind = "magic"`},
		{func(s string) string { return strings.Replace(s, `steps = [5, 100]`, `steps = [5, 101]`, 1) }, "field grid.steps[1] = 101, want 1 <= S <= T = 100"},
		{func(s string) string { return strings.Replace(s, `etas = [0.0, 1.0]`, `etas = [0.0, -1.0]`, 1) }, "field grid.etas[1] = -1"},
		{func(s string) string {
			return strings.Replace(s, `schedules = ["linear"]`, `schedules = ["linear", "quad"]`, 1)
		}, `field schedules[1] = "quad"`},
		{func(s string) string { return strings.Replace(s, `n = 300`, `n = 300`+"\nmetrics = [\"fid\"]", 1) }, `field eval.metrics[0] = "fid"`},
		{func(s string) string { return strings.Replace(s, `T = 100`, "T = 100\ncolour = 3", 1) }, "unknown field(s) colour"},
		{func(s string) string { return strings.Replace(s, `[grid]`, "[grid]\nsamplers = [\"pndm\"]", 1) }, `field grid.samplers[0] = "pndm"`},
		{func(s string) string { return strings.Replace(s, `[grid]`, "[grid]\nsamplers = [\"ddpm\"]", 1) }, `field grid.samplers[0] = "ddpm"`},
		{func(s string) string {
			return strings.Replace(s, `n = 300`, "n = 300\nmetrics = [\"swd\", \"ode_error\"]", 1)
		}, "but row eta=1 draws noise"},
	} {
		_, err := Load(writeExperiment(t, c.edit(smallConfig)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load: error %v, want %q", err, c.want)
		}
	}
}

// TestShippedExperimentsLoad checks every experiment folder in the repository.
func TestShippedExperimentsLoad(t *testing.T) {
	dirs, _ := filepath.Glob("../../experiments/*/" + ConfigFile)
	if len(dirs) == 0 {
		t.Fatal("no experiments found")
	}
	for _, d := range dirs {
		if _, err := Load(filepath.Dir(d)); err != nil {
			t.Errorf("%v", err)
		}
	}
}

// TestCheckpointModelPinsWeights evaluates a checkpoint folder, trains it further and
// evaluates it again: the second run must not reuse the first run's cells (other
// weights), a third run on unchanged weights must, and the report and the cells'
// params name the checkpoint that was evaluated.
func TestCheckpointModelPinsWeights(t *testing.T) {
	dir := writeExperiment(t, "")
	recipe := func(steps int) *pipeline.Recipe {
		r, err := pipeline.ParseRecipe(fmt.Sprintf(`
[data]
name = "gmm"
gmm = %q
n = 512
[schedule]
T = 100
[train]
steps = %d
batch_size = 64
checkpoint_every = 0
log_every = 0
seed = 2
[preview]
n = 0`, filepath.Join(dir, "gmm.json"), steps))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	ck := filepath.Join(dir, "ck")
	trainTo := func(steps int) {
		if _, err := pipeline.Train(context.Background(), recipe(steps), pipeline.TrainOptions{CheckpointDir: ck}); err != nil {
			t.Fatal(err)
		}
	}
	config := strings.NewReplacer(
		`name = "small"`, `name = "ck"`, "seeds = [1, 2]", "seeds = [1]",
		`kind = "oracle"`, "kind = \"checkpoint\"\ncheckpoint = \"ck\"",
		"etas = [0.0, 1.0]", "samplers = [\"ddim\"]\netas = [0.0]", "steps = [5, 100]", "steps = [5]",
		"n = 300", "n = 200\nmetrics = [\"energy\"]",
	).Replace(smallConfig)
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	trainTo(20)
	first := runExperiment(t, dir)
	trainTo(40)
	second := runExperiment(t, dir)
	third := runExperiment(t, dir)
	if len(first.Cells) != 1 || len(second.Cells) != 1 || len(third.Cells) != 1 {
		t.Fatalf("cells: %d, %d, %d; want 1 each", len(first.Cells), len(second.Cells), len(third.Cells))
	}
	if second.Cells[0].Resumed {
		t.Errorf("the cell of step 20's weights was reused for step 40's")
	}
	if !third.Cells[0].Resumed {
		t.Errorf("the same weights evaluated again were not reused")
	}
	if first.Cells[0].Metrics["energy"] == second.Cells[0].Metrics["energy"] {
		t.Errorf("steps 20 and 40 gave the same energy %v", first.Cells[0].Metrics["energy"])
	}
	report, _ := os.ReadFile(filepath.Join(dir, "out", ReportFile))
	if want := "ckpt-00000040 (step 40; EMA weights "; !strings.Contains(string(report), want) {
		t.Errorf("report does not name the checkpoint evaluated (%q)", want)
	}
	st, err := track.Open(filepath.Join(dir, "runs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.Runs(track.Query{Experiment: "ck", Filter: "params.checkpoint_step = 20"})
	if err != nil || len(runs) != 1 {
		t.Errorf("tracker runs of step 20: %d, %v; want 1", len(runs), err)
	}
}

// trainConfig is smallConfig with a trained MLP per schedule.
var trainConfig = strings.NewReplacer(
	`name = "small"`, `name = "learned"`,
	`schedules = ["linear"]`, `schedules = ["linear", "cosine"]`,
	`gmm = "gmm.json"`, "gmm = \"gmm.json\"\ntrain_n = 500",
	`kind = "oracle"`, `kind = "train"
[model.train.model]
kind = "mlp"
[model.train.model.mlp]
hidden = 32
[model.train.train]
steps = 123
learning_rate = 3e-3
warmup_steps = 10
[model.train.data]
seed = 4`,
).Replace(smallConfig)

// TestTrainRecipe checks that the experiment's [model.train] tables give the recipe
// that "difflab train --config" reads from the same settings written as a recipe
// file, for each schedule.
func TestTrainRecipe(t *testing.T) {
	dir := writeExperiment(t, trainConfig)
	cfg, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, sched := range []string{"linear", "cosine"} {
		got, err := cfg.Recipe(diffusion.ScheduleKind(sched))
		if err != nil {
			t.Fatal(err)
		}
		want, err := pipeline.ParseRecipe(fmt.Sprintf(`
[data]
name = "gmm"
gmm = %q
n = 500
seed = 4
[model]
kind = "mlp"
[model.mlp]
hidden = 32
[schedule]
kind = %q
T = 100
[train]
steps = 123
learning_rate = 3e-3
warmup_steps = 10
`, filepath.Join(dir, "gmm.json"), sched))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) || got.Hash() != want.Hash() {
			t.Errorf("Recipe(%s) =\n%+v\nwant\n%+v", sched, got, want)
		}
	}
	// Recipe copies: one schedule's recipe does not leak into the next.
	if cfg.Model.Train.Schedule.Kind != diffusion.Linear || cfg.Model.Train.Data.N != 0 {
		t.Errorf("Recipe changed Model.Train: %+v", cfg.Model.Train)
	}
}

func TestTrainConfigValidation(t *testing.T) {
	for _, c := range []struct {
		edit func(string) string
		want string
	}{
		{func(s string) string { return strings.Replace(s, "steps = 123", "stepz = 123", 1) }, "unknown field(s) model.train.train.stepz"},
		{func(s string) string { return strings.Replace(s, "seed = 4", "seed = 4\nn = 10", 1) }, "field model.train.data.n: the experiment sets it"},
		{func(s string) string { return s + "[model.train.schedule]\nkind = \"cosine\"\n" }, "field model.train.schedule: the experiment sets it"},
		{func(s string) string { return strings.Replace(s, "learning_rate = 3e-3", "learning_rate = -1.0", 1) }, "field model.train: recipe: "},
		{func(s string) string { return strings.Replace(s, "steps = 123", `steps = "many"`, 1) }, "field model.train: "},
		{func(s string) string { return strings.Replace(s, `kind = "mlp"`, `kind = "unet"`, 1) }, `field model.kind = "unet" is for images`},
		{func(s string) string { return strings.Replace(s, `kind = "train"`, `kind = "oracle"`, 1) }, `field model.train is set but model.kind = "oracle"`},
	} {
		_, err := Load(writeExperiment(t, c.edit(trainConfig)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load: error %v, want %q", err, c.want)
		}
	}
}

func TestGoals(t *testing.T) {
	g := Goals()
	for name, want := range map[string]track.Goal{"loglik": track.Maximize, "recall": track.Maximize, "swd": "", "fid": "", "latent_std": ""} {
		if g[name] != want {
			t.Errorf("Goals()[%q] = %q, want %q", name, g[name], want)
		}
	}
}

// TestSolverRowsAndEqualNFE: each ODE solver is a row of its own, and with
// equal_nfe a column is a budget of model evaluations (heun: (NFE + 1)/2 steps).
func TestSolverRowsAndEqualNFE(t *testing.T) {
	c := &Config{Schedules: []diffusion.ScheduleKind{diffusion.Linear}, Seeds: []uint64{1},
		Grid: GridConfig{Samplers: []diffusion.SamplerKind{diffusion.DDPMStrided, diffusion.Heun, diffusion.DDIM, diffusion.DPMSolverPP2M},
			Etas: []float64{0}, Steps: []int{10}, Spacings: []diffusion.Spacing{diffusion.Leading}, EqualNFE: true}}
	if got, want := c.Rows(), []string{"eta=0", "heun", "dpmpp-2m", "sigma-hat"}; !slices.Equal(got, want) {
		t.Errorf("Rows = %v, want %v", got, want)
	}
	for _, cell := range c.Cells() {
		want := 10
		if cell.Sampler == diffusion.Heun {
			want = 5
		}
		if got := cell.SamplerConfig(0, true).Steps; got != want {
			t.Errorf("%s at NFE 10: %d steps, want %d", cell.Row(), got, want)
		}
		if got := cell.SamplerConfig(0, false).Steps; got != 10 {
			t.Errorf("%s without equal_nfe: %d steps, want 10", cell.Row(), got)
		}
	}
}

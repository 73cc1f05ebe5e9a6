package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/difflab/difflab/pkg/diffusion"
	"github.com/difflab/difflab/pkg/models"
	"github.com/difflab/difflab/pkg/track"
	"github.com/difflab/difflab/pkg/train"
)

const testGMM = `{"weights": [0.5, 0.5], "means": [[-1.5, 0], [1.5, 0.5]], "stds": [0.3, 0.2]}`

// testStore opens a tracker database in a temporary folder, closed when the test ends.
func testStore(t *testing.T) *track.Store {
	t.Helper()
	st, err := track.Open(filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// tinyTraining is tinyRecipe loaded, a fresh tracker and a fresh checkpoint folder.
func tinyTraining(t *testing.T) (*Recipe, *track.Store, string) {
	t.Helper()
	r, err := LoadRecipe(writeRecipe(t, tinyRecipe))
	if err != nil {
		t.Fatal(err)
	}
	return r, testStore(t), filepath.Join(t.TempDir(), "ck")
}

func writeRecipe(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "gmm.json"), []byte(testGMM), 0o644)
	p := filepath.Join(dir, "recipe.toml")
	os.WriteFile(p, []byte(text), 0o644)
	return p
}

const tinyRecipe = `
[data]
name = "gmm"
gmm = "gmm.json"
n = 512
[schedule]
kind = "cosine"
T = 100
[train]
steps = 30
batch_size = 64
learning_rate = 1e-3
checkpoint_every = 10
log_every = 5
seed = 3
[preview]
n = 50
steps = 10
`

func TestRecipeDefaultsAndOverrides(t *testing.T) {
	r, err := LoadRecipe(writeRecipe(t, tinyRecipe), "train.steps=7", "train.decay=cosine", "model.mlp.hidden=32")
	if err != nil {
		t.Fatal(err)
	}
	if r.Train.Steps != 7 || r.Train.Decay != "cosine" || r.Model.MLP.Hidden != 32 {
		t.Errorf("overrides: steps %d decay %q hidden %d, want 7 cosine 32", r.Train.Steps, r.Train.Decay, r.Model.MLP.Hidden)
	}
	if r.Model.Kind != ModelMLP || r.Model.MLP.NumBlocks == 0 || r.Train.AdamBeta2 != 0.999 {
		t.Errorf("defaults not filled: %+v", r.Model)
	}
	if !filepath.IsAbs(r.Data.GMM) && !strings.Contains(r.Data.GMM, string(filepath.Separator)) {
		t.Errorf("gmm path %q not resolved against the recipe's folder", r.Data.GMM)
	}
	r2, _ := LoadRecipe(writeRecipe(t, tinyRecipe), "train.steps=8")
	if r.Hash() == r2.Hash() {
		t.Errorf("recipes with different steps share the hash %s", r.Hash())
	}
}

func TestRecipeErrors(t *testing.T) {
	for _, c := range []struct {
		text      string
		overrides []string
		want      string
	}{
		{strings.Replace(tinyRecipe, `name = "gmm"`, `name = "imagenet"`, 1), nil, `field data.name = "imagenet"`},
		{tinyRecipe, []string{"model.kind=unet"}, `model.kind = "unet" is for images`},
		{tinyRecipe, []string{"train.batch_size=-1"}, "batch_size"},
		{tinyRecipe, []string{"train.stepz=3"}, "unknown field(s) train.stepz"},
		{tinyRecipe, []string{"nonsense"}, "want key=value"},
		{strings.Replace(tinyRecipe, `kind = "cosine"`, `kind = "quad"`, 1), nil, `unknown schedule kind "quad"`},
	} {
		_, err := LoadRecipe(writeRecipe(t, c.text), c.overrides...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("LoadRecipe(%v): %v, want %q", c.overrides, err, c.want)
		}
	}
}

// TestTrainLoadSample trains a tiny MLP, loads its checkpoint back and checks that
// the loaded EMA denoiser gives the same samples as the trainer's, that training
// again is a no-op resume, and that the tracker holds the run.
func TestTrainLoadSample(t *testing.T) {
	r, st, ck := tinyTraining(t)
	res, err := Train(context.Background(), r, TrainOptions{CheckpointDir: ck, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if res.Step != 30 || filepath.Base(res.Checkpoint) != "ckpt-00000030" {
		t.Fatalf("trained to step %d, checkpoint %s", res.Step, res.Checkpoint)
	}
	l, err := LoadCheckpoint(ck, false)
	if err != nil {
		t.Fatal(err)
	}
	if l.Step != 30 || l.Schedule.Config.Kind != diffusion.Cosine || l.Schedule.T() != 100 || len(l.Shape) != 1 || l.Shape[0] != 2 {
		t.Errorf("loaded: step %d schedule %s T %d shape %v", l.Step, l.Schedule.Config.Kind, l.Schedule.T(), l.Shape)
	}
	if want := filepath.Join(ck, "ckpt-00000030"); l.Dir != want {
		t.Errorf("loaded from folder %s: Dir = %s, want the checkpoint read, %s", ck, l.Dir, want)
	}
	sample := func(den diffusion.Denoiser) []float64 {
		sm, err := diffusion.NewSampler(nil, l.Schedule, den, diffusion.SamplerConfig{Kind: diffusion.DDIM, Steps: 10})
		if err != nil {
			t.Fatal(err)
		}
		sm.Backend = backendForTest(t)
		out, err := sm.Sample([]int{5, 2}, nil, diffusion.NewPCGNoise(1), diffusion.SampleOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return out.X0
	}
	a, b := sample(l.Denoiser), sample(l.Denoiser)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("loaded denoiser is not deterministic")
		}
	}
	raw, err := LoadCheckpoint(filepath.Join(ck, "ckpt-00000030"), true)
	if err != nil {
		t.Fatal(err)
	}
	if c := sample(raw.Denoiser); c[0] == a[0] && c[1] == a[1] {
		t.Errorf("raw and EMA weights sample the same values")
	}
	again, err := Train(context.Background(), r, TrainOptions{CheckpointDir: ck})
	if err != nil || again.Step != 30 {
		t.Errorf("training a finished recipe again: step %d, %v", again.Step, err)
	}
	runs, err := st.Runs(track.Query{Experiment: "train"})
	if err != nil || len(runs) != 1 || runs[0].Status != track.StatusFinished || runs[0].Metrics["train/loss"] == 0 {
		t.Errorf("tracker runs: %+v, %v", runs, err)
	}
	arts, _ := st.Artifacts(runs[0].ID)
	found := false
	for _, a := range arts {
		found = found || a.Name == "samples-final.png"
	}
	if !found {
		t.Errorf("no samples-final.png among the run's artifacts %v", arts)
	}
}

// TestTrainSetup checks the Setup hook: it sees the trainer after the resume (step
// 0 on a fresh folder, the checkpoint's step after), hooks it registers fire on
// every step, and its error stops Train before any step.
func TestTrainSetup(t *testing.T) {
	p := writeRecipe(t, tinyRecipe)
	ck := filepath.Join(t.TempDir(), "ck")
	r, err := LoadRecipe(p, "train.steps=10")
	if err != nil {
		t.Fatal(err)
	}
	var starts, steps []int
	setup := func(tr *train.Trainer) error {
		starts = append(starts, tr.Step())
		tr.OnStep(1, func(step int, _ *train.Trainer) error { steps = append(steps, step); return nil })
		return nil
	}
	if _, err := Train(context.Background(), r, TrainOptions{CheckpointDir: ck, Setup: setup}); err != nil {
		t.Fatal(err)
	}
	if r, err = LoadRecipe(p, "train.steps=15"); err != nil {
		t.Fatal(err)
	}
	res, err := Train(context.Background(), r, TrainOptions{CheckpointDir: ck, Setup: setup})
	if err != nil || res.Step != 15 {
		t.Fatalf("resumed training: step %d, %v", res.Step, err)
	}
	if !slices.Equal(starts, []int{0, 10}) {
		t.Errorf("Setup saw steps %v, want [0 10]", starts)
	}
	if want := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}; !slices.Equal(steps, want) {
		t.Errorf("step hook saw %v, want %v", steps, want)
	}
	stop := errors.New("stop here")
	if r, err = LoadRecipe(p, "train.steps=20"); err != nil {
		t.Fatal(err)
	}
	res, err = Train(context.Background(), r, TrainOptions{CheckpointDir: ck, Setup: func(*train.Trainer) error { return stop }})
	if !errors.Is(err, stop) || res != nil {
		t.Errorf("Setup error: got %v, %v; want the error and no result", res, err)
	}
	if latest, err := train.LatestCheckpoint(ck); err != nil || filepath.Base(latest) != "ckpt-00000015" {
		t.Errorf("after a failed Setup the latest checkpoint is %s (%v), want ckpt-00000015", latest, err)
	}
}

// TestTrainCancelled stops a tracked training by cancelling its context (what
// Ctrl-C does in the CLI): Train returns the cancellation, the checkpoint holds the
// step reached, the tracker records the run as killed, and a second Train resumes
// to the end.
func TestTrainCancelled(t *testing.T) {
	r, st, ck := tinyTraining(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	setup := func(tr *train.Trainer) error {
		tr.OnStep(1, func(step int, _ *train.Trainer) error {
			if step == 7 {
				cancel()
			}
			return nil
		})
		return nil
	}
	res, err := Train(ctx, r, TrainOptions{CheckpointDir: ck, Store: st, Setup: setup})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Train returned %v, want context.Canceled", err)
	}
	if res == nil || res.Step < 7 || res.Step >= 30 || res.Checkpoint == "" {
		t.Fatalf("cancelled Train: %+v, want a checkpoint at the step reached (7 or a little after)", res)
	}
	if latest, err := train.LatestCheckpoint(ck); err != nil || latest != res.Checkpoint {
		t.Errorf("latest checkpoint %s (%v), want %s", latest, err, res.Checkpoint)
	}
	ri, err := st.Run(res.RunID)
	if err != nil || ri.Status != track.StatusKilled || !strings.Contains(ri.Error, "context canceled") {
		t.Errorf("tracker run of the cancelled training: status %q error %q (%v), want killed, context canceled", ri.Status, ri.Error, err)
	}
	res2, err := Train(context.Background(), r, TrainOptions{CheckpointDir: ck, Store: st})
	if err != nil || res2.Step != 30 {
		t.Fatalf("resumed Train: %+v, %v", res2, err)
	}
	if ri, err := st.Run(res2.RunID); err != nil || ri.Status != track.StatusFinished || ri.Params["start_step"] != int64(res.Step) {
		t.Errorf("tracker run of the resumed training: status %q start_step %v (%v), want finished from %d", ri.Status, ri.Params["start_step"], err, res.Step)
	}
}

// TestShippedRecipes loads every recipe under configs/ and checks that the MNIST
// UNet recipes build the networks their comments name.
func TestShippedRecipes(t *testing.T) {
	paths, err := filepath.Glob("../../configs/*.toml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no recipes under configs/: %v", err)
	}
	unets := map[string]models.UNetConfig{
		"mnist-unet.toml":       models.DefaultUNetConfig(),
		"mnist-unet-small.toml": models.SmallUNetConfig(),
		"mnist-unet-large.toml": models.LargeUNetConfig(),
	}
	for _, p := range paths {
		r, err := LoadRecipe(p)
		if err != nil {
			t.Errorf("LoadRecipe(%s) = %v", p, err)
			continue
		}
		want, ok := unets[filepath.Base(p)]
		if !ok {
			continue
		}
		delete(unets, filepath.Base(p))
		if r.Model.Kind != ModelUNet || r.Model.UNet.String() != want.String() || r.Model.UNet.NumParams() != want.NumParams() {
			t.Errorf("%s builds %v (%d parameters), want %v (%d)", p, r.Model.UNet, r.Model.UNet.NumParams(), want, want.NumParams())
		}
	}
	for name := range unets {
		t.Errorf("configs/%s is missing", name)
	}
}

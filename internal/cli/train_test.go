package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/difflab/difflab/internal/cmdline"
	"github.com/difflab/difflab/pkg/models"
	"github.com/difflab/difflab/pkg/track"
)

// writeTinyGMMRecipe writes a 2-step recipe for an MLP on 256 points of gmmJSON's
// mixture, and the mixture, and returns the recipe's path.
func writeTinyGMMRecipe(t *testing.T) string {
	t.Helper()
	return writeFile(t, "tiny-gmm.toml", `
[data]
name = "gmm"
gmm = "`+writeFile(t, "gmm.json", gmmJSON)+`"
n = 256
[schedule]
T = 10
[train]
steps = 2
batch_size = 32
warmup_steps = 0
log_every = 1
[preview]
n = 0
steps = 5
`)
}

// TestTrainCheck: --check reports the model's parameter count and where training
// would start, and trains nothing; after a training it reports the checkpoint.
func TestTrainCheck(t *testing.T) {
	dir := t.TempDir()
	recipe := writeTinyGMMRecipe(t)
	ck := filepath.Join(dir, "ck")
	mlp := models.DefaultMLPConfig()
	mlp.Dim = 2
	check := func(extra ...string) string {
		t.Helper()
		args := append([]string{"train", "--config", recipe, "--checkpoint-dir", ck, "--check"}, extra...)
		code, out, errs := run(t, args...)
		if code != cmdline.ExitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		if want := fmt.Sprintf(": %d parameters\n", mlp.NumParams()); !strings.Contains(out, want) || !strings.Contains(out, "256 examples of shape [2]") {
			t.Errorf("%v printed\n%s\nwant the data (256 examples of shape [2]) and %q", args, out, want)
		}
		return out
	}
	if out := check(); !strings.Contains(out, "training starts at step 0") {
		t.Errorf("--check before training:\n%s\nwant \"training starts at step 0\"", out)
	}
	if _, err := os.Stat(ck); !os.IsNotExist(err) {
		t.Errorf("--check created %s (stat: %v)", ck, err)
	}
	if code, _, errs := run(t, "train", "--config", recipe, "--checkpoint-dir", ck, "--no-track", "--quiet"); code != cmdline.ExitOK {
		t.Fatalf("train: exit %d: %s", code, errs)
	}
	if out := check(); !strings.Contains(out, "at step 2: finished") {
		t.Errorf("--check after 2 of 2 steps:\n%s\nwant \"at step 2: finished\"", out)
	}
	if out := check("--steps", "5"); !strings.Contains(out, "at step 2: training resumes there") {
		t.Errorf("--check --steps 5 after 2 steps:\n%s\nwant \"at step 2: training resumes there\"", out)
	}
	if code, _, errs := run(t, "train", "--config", recipe, "--check", "--set", "model.kind=unet"); code != cmdline.ExitUsage || !strings.Contains(errs, "model.kind") {
		t.Errorf("--check with model.kind=unet on 2-D data: exit %d, %q; want a usage error naming model.kind", code, errs)
	}
}

// TestTrainRunNames: a tracked training run is named after its recipe file unless
// --name says otherwise, and --experiment files it under another experiment.
func TestTrainRunNames(t *testing.T) {
	dir := t.TempDir()
	recipe := writeTinyGMMRecipe(t)
	db := filepath.Join(dir, "runs.db")
	for i, extra := range [][]string{nil, {"--name", "lr sweep a", "--experiment", "sweeps"}} {
		args := append([]string{"train", "--config", recipe, "--checkpoint-dir", filepath.Join(dir, "ck", string(rune('a'+i))), "--db", db, "--quiet"}, extra...)
		if code, _, errs := run(t, args...); code != cmdline.ExitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
	}
	st, err := track.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.Runs(track.Query{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, r.Experiment+"/"+r.Name)
	}
	slices.Sort(got)
	if want := []string{"sweeps/lr sweep a", "train/tiny-gmm"}; !slices.Equal(got, want) {
		t.Errorf("runs %q, want %q", got, want)
	}
}

package cli

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/difflab/difflab/pkg/track"
)

// TestTrainRunNames: a tracked training run is named after its recipe file unless
// --name says otherwise, and --experiment files it under another experiment.
func TestTrainRunNames(t *testing.T) {
	dir := t.TempDir()
	gmm := writeFile(t, "gmm.json", gmmJSON)
	recipe := writeFile(t, "tiny-gmm.toml", `
[data]
name = "gmm"
gmm = "`+gmm+`"
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
	db := filepath.Join(dir, "runs.db")
	for i, extra := range [][]string{nil, {"--name", "lr sweep a", "--experiment", "sweeps"}} {
		args := append([]string{"train", "--config", recipe, "--checkpoint-dir", filepath.Join(dir, "ck", string(rune('a'+i))), "--db", db, "--quiet"}, extra...)
		if code, _, errs := run(t, args...); code != ExitOK {
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

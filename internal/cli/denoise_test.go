package cli

import (
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/difflab/difflab/internal/cmdline"
)

// TestTrainSampleDenoise trains a tiny MLP through the CLI, samples its checkpoint
// and runs denoise on it: the table has one row per timestep, the x0 error grows
// with t (x_t holds less of x_0), the picture is a PNG, and bad flags are usage
// errors that name the flag.
func TestTrainSampleDenoise(t *testing.T) {
	dir := t.TempDir()
	gmm := writeFile(t, "gmm.json", `{"weights": [0.5, 0.5], "means": [[-1.5, 0], [1.5, 0.5]], "stds": [0.3, 0.2]}`)
	recipe := writeFile(t, "r.toml", `
[data]
name = "gmm"
gmm = "`+gmm+`"
n = 2000
[schedule]
T = 100
[train]
steps = 150
batch_size = 128
learning_rate = 2e-3
log_every = 0
[preview]
n = 0
`)
	ck := filepath.Join(dir, "ck")
	if code, _, errs := run(t, "train", "--config", recipe, "--checkpoint-dir", ck, "--no-track", "--quiet"); code != cmdline.ExitOK {
		t.Fatalf("train: exit %d: %s", code, errs)
	}
	if code, _, errs := run(t, "sample", "--checkpoint", ck, "--sampler", "ddim", "--steps", "10", "--n", "20", "--seed", "1", "--out", filepath.Join(dir, "s.json")); code != cmdline.ExitOK {
		t.Fatalf("sample --checkpoint: exit %d: %s", code, errs)
	}
	pic := filepath.Join(dir, "d.png")
	code, out, errs := run(t, "denoise", "--checkpoint", ck, "--t", "0,30,60,99", "--n", "500", "--out", pic)
	if code != cmdline.ExitOK {
		t.Fatalf("denoise: exit %d: %s", code, errs)
	}
	var x0mse []float64
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[2:] {
		f := strings.Fields(line)
		if len(f) != 4 {
			t.Fatalf("table row %q: want t, abar_t, eps MSE, x0 MSE", line)
		}
		v, err := strconv.ParseFloat(f[3], 64)
		if err != nil {
			t.Fatalf("table row %q: %v", line, err)
		}
		x0mse = append(x0mse, v)
	}
	if len(x0mse) != 4 {
		t.Fatalf("%d table rows, want 4:\n%s", len(x0mse), out)
	}
	for i := 1; i < len(x0mse); i++ {
		if !(x0mse[i] > x0mse[i-1]) {
			t.Errorf("x0 MSE does not grow with t: %v\n%s", x0mse, out)
		}
	}
	f, err := os.Open(pic)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("%s: %v", pic, err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"denoise", "--checkpoint", ck, "--t", "100"}, "--t \"100\": want comma-separated integers in 0..99"},
		{[]string{"denoise", "--checkpoint", ck, "--t", "5,x"}, "--t \"5,x\""},
		{[]string{"denoise", "--checkpoint", ck, "--n", "0"}, "--n 0: want N >= 1"},
		{[]string{"denoise", "--checkpoint", ck, "--out", "d.jpg"}, "--out \"d.jpg\": want a FILE.png"},
		{[]string{"denoise"}, "--checkpoint is required"},
		{[]string{"denoise", "--checkpoint", filepath.Join(dir, "nothing")}, "--checkpoint:"},
	} {
		code, _, errs := run(t, c.args...)
		if code != cmdline.ExitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q; want exit %d and %q", c.args, code, errs, cmdline.ExitUsage, c.want)
		}
	}
}

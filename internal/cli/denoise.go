package cli

import (
	"fmt"
	"image"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/difflab/difflab/internal/cmdline"
	"github.com/difflab/difflab/pkg/backend"
	"github.com/difflab/difflab/pkg/data"
	"github.com/difflab/difflab/pkg/diffusion"
	"github.com/difflab/difflab/pkg/pipeline"
	"github.com/difflab/difflab/pkg/plot"
)

func init() {
	register(command{"denoise", "one-step predictions of a trained denoiser at chosen timesteps: the loss per t and a picture", runDenoise})
}

// defaultDenoiseT are the timesteps of "difflab denoise" when --t is not given.
const defaultDenoiseT = "10,100,300,500,700,900"

func runDenoise(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("denoise", "denoise --checkpoint DIR [--raw-weights] [--t "+defaultDenoiseT+"] [--n N] [--seed S] [--out FILE.png]", stdout)
	checkpoint := fs.String("checkpoint", "", "a checkpoint (or checkpoint folder) written by difflab train (required)")
	raw := fs.Bool("raw-weights", false, "use the raw weights instead of their EMA")
	tList := fs.String("t", defaultDenoiseT, "comma-separated 0-based timesteps, each in 0..T-1")
	n := fs.Int("n", 8, "number of examples N >= 1: test images chosen by the seed, or fresh draws of 2-D data")
	seed := fs.Uint64("seed", 1, "seed of the examples and of the noise")
	out := fs.String("out", "", "optional PNG: for images, a row of x_0, then for each t a row of x_t and a row of x0_hat; for 2-D data, x_t and x0_hat scatter plots per t")
	if done, code := parse(fs, args, stderr); done {
		return code
	}
	return finish("denoise", func() error {
		if *checkpoint == "" {
			return cmdline.Usagef("--checkpoint is required: a checkpoint folder written by difflab train")
		}
		if *n < 1 {
			return cmdline.Usagef("--n %d: want N >= 1", *n)
		}
		if *out != "" && !strings.HasSuffix(*out, ".png") {
			return cmdline.Usagef("--out %q: want a FILE.png", *out)
		}
		l, err := pipeline.LoadCheckpoint(*checkpoint, *raw)
		if err != nil {
			return cmdline.Usagef("--checkpoint: %v", err)
		}
		T := l.Schedule.T()
		var ts []int
		for _, f := range strings.Split(*tList, ",") {
			t, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || t < 0 || t >= T {
				return cmdline.Usagef("--t %q: want comma-separated integers in 0..%d", *tList, T-1)
			}
			ts = append(ts, t)
		}
		x0, err := denoiseExamples(l.Recipe, *n, *seed)
		if err != nil {
			return err
		}
		b, err := backend.New()
		if err != nil {
			return err
		}
		full := append([]int{*n}, l.Shape...)
		res, err := diffusion.DenoiseAt(b, l.Schedule, l.Denoiser, x0, full, ts, diffusion.NewPCGNoise(*seed))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s (step %d, %s weights), %d examples of %s\n", l.Dir, l.Step, map[bool]string{true: "raw", false: "EMA"}[*raw], *n, l.Recipe.Data.Name)
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "t\tabar_t\teps MSE\tx0 MSE\t")
		for _, r := range res {
			fmt.Fprintf(tw, "%d\t%.4g\t%.4g\t%.4g\t\n", r.T, l.Schedule.AlphasCumprod[r.T], r.EpsMSE, r.X0MSE)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if *out == "" {
			return nil
		}
		png, err := denoisePicture(x0, full, res)
		if err != nil {
			return err
		}
		return writeFileAtomic(*out, png)
	}(), stderr)
}

// denoiseExamples returns n examples of the recipe's data: test images chosen by a
// seeded permutation, or n fresh draws of a synthetic dataset with the given seed.
func denoiseExamples(r *pipeline.Recipe, n int, seed uint64) ([]float64, error) {
	if !data.IsImage(r.Data.Name) {
		ds, err := data.Load(r.Data.Name, data.Options{N: n, Seed: seed, GMMPath: r.Data.GMM})
		if err != nil {
			return nil, err
		}
		return toFloat64(ds.X), nil
	}
	ds, err := data.Load(r.Data.Name, data.Options{Split: data.Test, DataDir: r.Data.DataDir, Pad: r.Data.Pad})
	if err != nil {
		return nil, err
	}
	if n > ds.Len() {
		return nil, cmdline.Usagef("--n %d: the %s test split has %d images", n, r.Data.Name, ds.Len())
	}
	perm := rand.New(rand.NewPCG(seed, 0x64656e6f)).Perm(ds.Len())
	var x []float64
	for _, i := range perm[:n] {
		x = append(x, toFloat64(ds.Example(i))...)
	}
	return x, nil
}

func toFloat64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// denoisePicture draws the examples and, per timestep, x_t and x0_hat: image rows
// for [N, H, W, C], scatter plots for 2-D data.
func denoisePicture(x0 []float64, full []int, res []diffusion.DenoiseResult) ([]byte, error) {
	if len(full) == 4 {
		n, h, w, c := full[0], full[1], full[2], full[3]
		rows := [][]image.Image{{plot.ImageGrid(x0, n, h, w, c, n, 2)}}
		for _, r := range res {
			rows = append(rows, []image.Image{plot.ImageGrid(r.Xt, n, h, w, c, n, 2)}, []image.Image{plot.ImageGrid(r.X0Hat, n, h, w, c, n, 2)})
		}
		img := plot.Tile(rows, plot.TileOptions{Gap: 4}) // one column on black
		return plot.PNG(func(wr io.Writer) error { return plot.WriteImagePNG(wr, img) })
	}
	d := full[len(full)-1]
	pts := func(x []float64) [][]float64 {
		out := make([][]float64, len(x)/d)
		for i := range out {
			out[i] = x[i*d : (i+1)*d]
		}
		return out
	}
	var titles [][]string
	var cells [][][]plot.Points
	for _, r := range res {
		titles = append(titles, []string{fmt.Sprintf("x_t, t = %d", r.T), fmt.Sprintf("x0_hat, t = %d", r.T)})
		cells = append(cells, [][]plot.Points{{{Name: "x_t", XY: pts(r.Xt)}}, {{Name: "x_0", XY: pts(x0)}, {Name: "x0_hat", XY: pts(r.X0Hat)}}})
	}
	return plot.PNG(func(w io.Writer) error { return plot.ScatterGrid(w, titles, cells, [2]float64{-4, 4}, 260) })
}

package experiment

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gomlx/compute"

	"github.com/difflab/difflab/pkg/data"
	"github.com/difflab/difflab/pkg/diffusion"
	"github.com/difflab/difflab/pkg/features"
	"github.com/difflab/difflab/pkg/plot"
	"github.com/difflab/difflab/pkg/progress"
	"github.com/difflab/difflab/pkg/track"
)

// FeatureCacheDir is where the classifier that defines the image metrics' feature
// space is cached, trained once per dataset and configuration.
const FeatureCacheDir = features.DefaultCacheDir

// gridImages is how many samples of each image cell are kept as a picture.
const gridImages = 16

// realImages returns n images of the dataset's test split, chosen by a seeded
// permutation (stream picks which of the reference and floor subsets).
func (r *Runner) realImages(seed, stream uint64, n int) ([]float32, []int, error) {
	if r.testSet == nil {
		ds, err := data.Load(r.Config.Data.Name, data.Options{Split: data.Test, DataDir: r.Config.Data.DataDir})
		if err != nil {
			return nil, nil, err
		}
		r.testSet = ds
	}
	ds := r.testSet
	if n > ds.Len() {
		return nil, nil, fmt.Errorf("experiment: eval.n = %d but the %s test split has %d images", n, ds.Name, ds.Len())
	}
	perm := newRand(seed, stream).Perm(ds.Len())
	size := ds.ExampleSize()
	out := make([]float32, 0, n*size)
	for _, i := range perm[:n] {
		out = append(out, ds.Example(i)...)
	}
	return out, ds.Shape, nil
}

// classifier returns the feature extractor of the image metrics (FeatureClassifier
// on the runner's backend), loading it once per runner.
func (r *Runner) classifier() (*features.Classifier, error) {
	if r.cls != nil {
		return r.cls, nil
	}
	cls, err := FeatureClassifier(r.Backend, r.Config.Data.Name, r.Progress)
	if err != nil {
		return nil, fmt.Errorf("experiment: feature classifier: %w", err)
	}
	r.cls = cls
	return cls, nil
}

// FeatureClassifier returns the classifier whose feature space the image metrics
// are measured in: pkg/features' default classifier of dataset, loaded from
// FeatureCacheDir, or trained on b the first time (a few minutes on a CPU) with a
// progress line every tenth of the way to w (nil: silent) and cached there.
// Its Hash is stored with every metric: numbers compare only under one hash.
func FeatureClassifier(b compute.Backend, dataset string, w io.Writer) (*features.Classifier, error) {
	cfg := features.ClassifierConfig{}
	if w != nil {
		start := time.Now()
		cfg.Progress = func(step, steps int, loss float64) {
			if step == 1 || step%max(1, steps/10) == 0 || step == steps {
				fmt.Fprintf(w, "feature classifier for %s (trained once, cached in %s): step %d/%d  loss %.4f  %s\n",
					dataset, FeatureCacheDir, step, steps, loss, progress.FormatDuration(time.Since(start)))
			}
		}
	}
	return features.LoadOrTrain(b, dataset, FeatureCacheDir, cfg)
}

// imageCell samples an image cell and evaluates it in the classifier's feature
// space. It returns the metric values and the params that qualify them.
func (r *Runner) imageCell(cell Cell, sm *diffusion.Sampler) (vals map[string]float64, params track.Params, secs float64, err error) {
	c := r.Config
	n := c.Eval.N
	real, shape, err := r.realImages(cell.Seed, streamReference, n)
	if err != nil {
		return nil, nil, 0, err
	}
	bs := c.Eval.BatchSize
	if bs == 0 || bs > n {
		bs = min(n, 250)
	}
	noise := diffusion.NewPCGNoise(cell.Seed)
	t0 := time.Now()
	gen := make([]float32, 0, len(real))
	var firstBatch []float64
	for done := 0; done < n; done += bs {
		b := min(bs, n-done)
		out, err := sm.Sample(append([]int{b}, shape...), nil, noise, diffusion.SampleOptions{})
		if err != nil {
			return nil, nil, 0, err
		}
		if firstBatch == nil {
			firstBatch = out.X0
		}
		for _, v := range out.X0 {
			gen = append(gen, float32(v))
		}
	}
	secs = time.Now().Sub(t0).Seconds()
	vals, params, err = r.evalImages(gen, real, n, cell.Seed)
	if err != nil {
		return nil, nil, 0, err
	}
	size := len(real) / n
	k := min(gridImages, len(firstBatch)/size)
	img := plot.ImageGrid(firstBatch[:k*size], k, shape[0], shape[1], shape[2], 4, 2)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, nil, 0, err
	}
	if err := os.WriteFile(r.cellPicture(cell), buf.Bytes(), 0o644); err != nil {
		return nil, nil, 0, err
	}
	return vals, params, secs, nil
}

// evalImages computes the image metrics of gen against real, with the class
// histogram of gen as classes/entropy, classes/tv_uniform and classes/missing.
func (r *Runner) evalImages(gen, real []float32, n int, seed uint64) (map[string]float64, track.Params, error) {
	cls, err := r.classifier()
	if err != nil {
		return nil, nil, err
	}
	res, summary, err := features.EvalImages(cls, gen, real, n, seed)
	if err != nil {
		return nil, nil, err
	}
	vals := map[string]float64{}
	params := track.Params{}
	for name, m := range res {
		vals[name] = m.Value
		for k, v := range m.Params {
			params[name+"."+k] = v
		}
		params[name+".n"] = m.N
	}
	vals["classes/entropy"] = summary.Entropy
	vals["classes/tv_uniform"] = summary.TVUniform
	vals["classes/missing"] = float64(summary.Missing)
	for k, h := range summary.Hist {
		vals[fmt.Sprintf("classes/p%d", k)] = h
	}
	params["extractor"] = cls.Hash()
	return vals, params, nil
}

// imageFloor is the image metrics between two disjoint sets of real test images.
func (r *Runner) imageFloor(seed uint64) (map[string]float64, error) {
	n := r.Config.Eval.N
	real, _, err := r.realImages(seed, streamReference, n)
	if err != nil {
		return nil, err
	}
	// A second subset from another permutation may overlap the first; take the
	// complement of the first n images of the reference permutation instead.
	ds := r.testSet
	if 2*n > ds.Len() {
		return nil, fmt.Errorf("experiment: eval.n = %d: the floor needs 2n = %d test images, the split has %d", n, 2*n, ds.Len())
	}
	perm := newRand(seed, streamReference).Perm(ds.Len())
	other := make([]float32, 0, len(real))
	for _, i := range perm[n : 2*n] {
		other = append(other, ds.Example(i)...)
	}
	vals, _, err := r.evalImages(other, real, n, seed)
	return vals, err
}

func (r *Runner) cellPicture(cell Cell) string {
	f := r.cellFile(cell)
	return f[:len(f)-len(filepath.Ext(f))] + ".png"
}

// imageMosaic tiles each cell's picture of the first seed, rows as in the table and
// columns by S, with a white gap, into one PNG. Missing cells stay blank.
func (r *Runner) imageMosaic(res *Results, sched diffusion.ScheduleKind, spacing diffusion.Spacing) ([]byte, error) {
	c := r.Config
	steps := sortedSteps(c)
	rows := c.Rows()
	var tiles [][]image.Image
	found := false
	for _, row := range rows {
		var line []image.Image
		for _, S := range steps {
			var img image.Image
			for _, cr := range res.Cells {
				cl := cr.Cell
				if cl.Schedule == sched && cl.Spacing == spacing && cl.Row() == row && cl.Steps == S && cl.Seed == c.Seeds[0] {
					if f, err := os.Open(r.cellPicture(cl)); err == nil {
						img, _ = png.Decode(f)
						f.Close()
					}
				}
			}
			found = found || img != nil
			line = append(line, img)
		}
		tiles = append(tiles, line)
	}
	if !found {
		return nil, nil
	}
	const gap = 8
	out := plot.Tile(tiles, plot.TileOptions{Gap: gap, Margin: gap, Background: color.White})
	var buf bytes.Buffer
	err := png.Encode(&buf, out)
	return buf.Bytes(), err
}

// vlb computes the bound on the negative log-likelihood in bits/dim of the
// schedule's denoiser on eval.vlb_n test images (Ho et al. 2020, eq. (5)).
func (r *Runner) vlb(s *diffusion.Schedule, den diffusion.Denoiser, seed uint64) (*diffusion.VLBResult, error) {
	n := r.Config.Eval.VLBN
	real, shape, err := r.realImages(seed, streamVLB, n)
	if err != nil {
		return nil, err
	}
	x := make([]float64, len(real))
	for i, v := range real {
		x[i] = float64(v)
	}
	return diffusion.VLB(r.Backend, s, den, x, append([]int{n}, shape...), diffusion.FixedSmall, diffusion.NewPCGNoise(seed))
}

func sortedSteps(c *Config) []int { return slices.Sorted(slices.Values(c.Grid.Steps)) }

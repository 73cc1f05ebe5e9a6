package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/difflab/difflab/pkg/backend"
	"github.com/difflab/difflab/pkg/data"
	"github.com/difflab/difflab/pkg/diffusion"
	"github.com/difflab/difflab/pkg/models"
	"github.com/difflab/difflab/pkg/plot"
	"github.com/difflab/difflab/pkg/track"
	"github.com/difflab/difflab/pkg/train"
	"github.com/gofrs/flock"
	"github.com/gomlx/compute"
)

// metadataKey is where a checkpoint's manifest keeps the recipe, so that
// LoadCheckpoint can rebuild the model.
const metadataKey = "recipe"

// TrainOptions tune Train.
type TrainOptions struct {
	// CheckpointDir overrides Recipe.Train.CheckpointDir; default
	// runs/checkpoints/<recipe hash>.
	CheckpointDir string
	// Store, when set, receives a run with the recipe as params, the loss curve,
	// preview PNGs and the checkpoint path.
	Store *track.Store
	// Experiment and RunName of the tracker run. Default "train" and "DATA MODEL SCHEDULE"
	// (e.g. "mnist unet linear"); difflab train names its runs after the recipe file.
	Experiment, RunName string
	// Progress receives the trainer's progress line (train.AttachProgressBar): on a
	// terminal redrawn in place, elsewhere a plain line every few seconds (nil: none).
	// For a notebook's progress bar, call nb.AttachProgressBar in Setup.
	Progress io.Writer
	// Backend runs the graphs; nil means backend.New().
	Backend compute.Backend
	// Setup, when set, is called with the trainer after it resumed from the latest
	// checkpoint (if any) and before it runs: the place to register step hooks (a
	// live loss plot) or to report the step training starts from. An error stops
	// Train before any step.
	Setup func(tr *train.Trainer) error
}

// TrainResult describes a finished training.
type TrainResult struct {
	CheckpointDir string // the folder holding the checkpoints (ckpt-NNNNNNNN)
	Checkpoint    string // the last checkpoint written
	Step          int
	Loss          float64
	NumParams     int
	RunID         string
}

// DefaultCheckpointRoot is where checkpoints go when no folder is given.
const DefaultCheckpointRoot = "runs/checkpoints"

// CheckpointDirFor is the default checkpoint folder of a recipe.
func CheckpointDirFor(r *Recipe) string { return filepath.Join(DefaultCheckpointRoot, r.Hash()) }

// CheckpointDirOf is the folder Train writes to: dir when it is not empty, else the
// recipe's train.checkpoint_dir, else CheckpointDirFor(r).
func CheckpointDirOf(r *Recipe, dir string) string {
	switch {
	case dir != "":
		return dir
	case r.Train.CheckpointDir != "":
		return r.Train.CheckpointDir
	}
	return CheckpointDirFor(r)
}

// LoadDataset loads the recipe's training data.
func LoadDataset(r *Recipe) (*data.Dataset, error) {
	return data.Load(r.Data.Name, data.Options{N: r.Data.N, Seed: r.Data.Seed, GMMPath: r.Data.GMM, DataDir: r.Data.DataDir,
		Split: data.Train, Pad: r.Data.Pad})
}

// DescribeModel returns the description and the number of parameters of the
// recipe's model for examples of the given shape.
func DescribeModel(r *Recipe, shape []int) (desc string, params int, err error) {
	mlp, unet, err := sizedModel(r, shape)
	switch {
	case err != nil:
		return "", 0, err
	case r.Model.Kind == ModelMLP:
		return mlp.String(), mlp.NumParams(), nil
	}
	return unet.String(), unet.NumParams(), nil
}

// NewDenoiser builds the recipe's untrained model for examples of the given shape.
func NewDenoiser(r *Recipe, shape []int) (diffusion.Denoiser, error) {
	mlp, unet, err := sizedModel(r, shape)
	switch {
	case err != nil:
		return diffusion.Denoiser{}, err
	case r.Model.Kind == ModelMLP:
		return models.NewMLP(mlp)
	}
	return models.NewUNet(unet)
}

// sizedModel returns the recipe's model configurations with the data's shape filled
// in: the MLP's input dimension, the UNet's image size and channels.
func sizedModel(r *Recipe, shape []int) (models.MLPConfig, models.UNetConfig, error) {
	mlp, unet := r.Model.MLP, r.Model.UNet
	switch r.Model.Kind {
	case ModelMLP:
		mlp.Dim = shape[len(shape)-1]
	case ModelUNet:
		if len(shape) != 3 {
			return mlp, unet, fmt.Errorf("recipe: model.kind unet needs images (height, width, channels), the data has shape %v", shape)
		}
		unet.ImageSize, unet.InChannels = shape[0], shape[2]
	default:
		return mlp, unet, fmt.Errorf("recipe: model.kind %q, want mlp or unet", r.Model.Kind)
	}
	return mlp, unet, nil
}

// Train trains the recipe's model, resuming from the latest checkpoint in the
// checkpoint folder when there is one (so an interrupted training continues where
// it stopped, and a finished one returns at once). Cancelling ctx saves a
// checkpoint and returns ctx's error.
func Train(ctx context.Context, r *Recipe, o TrainOptions) (*TrainResult, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	b := o.Backend
	if b == nil {
		var err error
		if b, err = backend.New(); err != nil {
			return nil, err
		}
	}
	s, err := diffusion.NewSchedule(r.Schedule)
	if err != nil {
		return nil, err
	}
	ds, err := LoadDataset(r)
	if err != nil {
		return nil, err
	}
	den, err := NewDenoiser(r, ds.Shape)
	if err != nil {
		return nil, err
	}
	var opts []data.LoaderOption
	if r.Data.Flip {
		opts = append(opts, data.WithHorizontalFlip())
	}
	loader, err := data.NewLoader(ds, r.Train.BatchSize, r.Train.Seed, opts...)
	if err != nil {
		return nil, err
	}
	cfg := r.Train
	cfg.CheckpointDir = CheckpointDirOf(r, o.CheckpointDir)
	unlock, err := lockCheckpointDir(ctx, cfg.CheckpointDir, o.Progress)
	if err != nil {
		return nil, err
	}
	defer unlock()
	tr, err := train.New(b, s, den, cfg, train.SourceOf(func() []float32 { return loader.Next().X }, loader.State, loader.Restore), ds.Shape)
	if err != nil {
		return nil, err
	}
	train.AttachProgressBar(tr, o.Progress)
	if err := tr.SetMetadata(metadataKey, r); err != nil {
		return nil, err
	}
	if err := tr.Resume(""); err != nil && !errors.Is(err, train.ErrNoCheckpoint) {
		return nil, err
	}
	if o.Setup != nil {
		if err := o.Setup(tr); err != nil {
			return nil, err
		}
	}
	res := &TrainResult{CheckpointDir: cfg.CheckpointDir, NumParams: tr.NumParameters()}
	var logger train.Logger
	var run *track.Run
	if o.Store != nil {
		exp, name := o.Experiment, o.RunName
		if exp == "" {
			exp = "train"
		}
		if name == "" {
			name = fmt.Sprintf("%s %s %s", r.Data.Name, r.Model.Kind, r.Schedule.Kind)
		}
		seed := int64(r.Train.Seed)
		run, err = o.Store.StartRun(track.RunOptions{Experiment: exp, Name: name, ConfigHash: r.Hash(), Seed: &seed,
			Backend: backend.Description(), Tags: map[string]string{"kind": "train", "data": r.Data.Name, "model": r.Model.Kind},
			Params: map[string]any{"data": r.Data.Name, "model": r.Model.Kind, "schedule": string(r.Schedule.Kind), "T": r.Schedule.T,
				"recipe_hash": r.Hash(), "checkpoint_dir": cfg.CheckpointDir, "start_step": tr.Step()}})
		if err != nil {
			return nil, err
		}
		logger = run
		res.RunID = run.ID()
	}
	if r.Preview.N > 0 && r.Preview.Steps > 0 && cfg.SampleEvery > 0 {
		tr.OnSample(func(step int, tr *train.Trainer) error {
			png, err := previewPNG(b, s, tr, r, ds.Shape, fmt.Sprintf("step %d", step))
			if err != nil {
				return err
			}
			if l := tr.Logger(); l != nil {
				return l.LogArtifact(fmt.Sprintf("samples-step%08d.png", step), bytes.NewReader(png))
			}
			return nil
		})
	}
	err = tr.Run(ctx, logger)
	res.Step, res.Loss, res.Checkpoint = tr.Step(), tr.Loss(), tr.LastCheckpoint()
	if run != nil {
		if err == nil && r.Preview.N > 0 && r.Preview.Steps > 0 {
			if png, perr := previewPNG(b, s, tr, r, ds.Shape, fmt.Sprintf("step %d (final)", tr.Step())); perr == nil {
				run.LogArtifact("samples-final.png", bytes.NewReader(png))
			}
		}
		run.SetNote("checkpoint: " + res.Checkpoint)
		if endErr := run.End(err); err == nil {
			err = endErr
		}
	}
	return res, err
}

// lockCheckpointDir takes a lock on the checkpoint folder dir (the file
// dir + ".lock") for this process, waiting while another process holds it:
// two processes training the same recipe on one machine (the workers of a
// sweep, say) take turns, and the second resumes from the first's finished
// checkpoint instead of writing the same folder at once.
func lockCheckpointDir(ctx context.Context, dir string, progress io.Writer) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(filepath.Clean(dir)), 0o755); err != nil {
		return nil, fmt.Errorf("train: checkpoint folder: %w", err)
	}
	l := flock.New(filepath.Clean(dir) + ".lock")
	ok, err := l.TryLock()
	if err == nil && !ok {
		if progress != nil {
			fmt.Fprintf(progress, "waiting for another process that trains into %s\n", dir)
		}
		ok, err = l.TryLockContext(ctx, 200*time.Millisecond)
	}
	if err == nil && !ok {
		err = ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("train: locking checkpoint folder %s: %w", dir, err)
	}
	return func() { l.Unlock() }, nil
}

// previewPNG samples the trainer's EMA weights with DDIM (eta = 0) and draws them.
func previewPNG(b compute.Backend, s *diffusion.Schedule, tr *train.Trainer, r *Recipe, shape []int, title string) ([]byte, error) {
	den, err := tr.EMADenoiser()
	if err != nil {
		return nil, err
	}
	clip := 0.0
	if data.IsImage(r.Data.Name) {
		clip = 1
	}
	sm, err := diffusion.NewSampler(b, s, den, diffusion.SamplerConfig{Kind: diffusion.DDIM, Steps: r.Preview.Steps, ClipX0: clip})
	if err != nil {
		return nil, err
	}
	full := append([]int{r.Preview.N}, shape...)
	res, err := sm.Sample(full, nil, diffusion.NewPCGNoise(r.Preview.Seed), diffusion.SampleOptions{})
	if err != nil {
		return nil, err
	}
	return Picture(res.X0, full, title)
}

// Picture draws samples of the given full shape [N, ...]: a grid of images for
// [N, H, W, C], a scatter plot for [N, 2] (or more dimensions, drawing the first two).
func Picture(x []float64, shape []int, title string) ([]byte, error) {
	if len(shape) == 4 {
		img := plot.ImageGrid(x, shape[0], shape[1], shape[2], shape[3], 0, 2)
		return plot.PNG(func(w io.Writer) error { return plot.WriteImagePNG(w, img) })
	}
	d := shape[len(shape)-1]
	pts := make([][]float64, shape[0])
	for i := range pts {
		pts[i] = x[i*d : (i+1)*d]
	}
	return plot.PNG(func(w io.Writer) error { return plot.Scatter(w, title, 480, nil, plot.Points{XY: pts}) })
}

// Loaded is a trained denoiser ready to sample.
type Loaded struct {
	Recipe   *Recipe
	Schedule *diffusion.Schedule
	Denoiser diffusion.Denoiser
	// Shape is the per-example shape, e.g. [2] or [28, 28, 1].
	Shape []int
	// Step is the training step of the checkpoint; Dir the checkpoint read.
	Step int
	Dir  string
}

// LoadCheckpoint loads a checkpoint written by Train. dir is either one
// checkpoint (ckpt-NNNNNNNN) or a checkpoint folder, whose latest checkpoint is
// used. raw selects the raw weights instead of the EMA (the default for sampling).
func LoadCheckpoint(dir string, raw bool) (*Loaded, error) {
	m, err := train.ReadManifest(dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	ckpt := m.Dir // the checkpoint itself, also when dir is a checkpoint folder
	rawRecipe, ok := m.Metadata[metadataKey]
	if !ok {
		return nil, fmt.Errorf("checkpoint %s: no recipe in its manifest (not written by difflab train)", ckpt)
	}
	var r Recipe
	if err := json.Unmarshal(rawRecipe, &r); err != nil {
		return nil, fmt.Errorf("checkpoint %s: recipe: %w", ckpt, err)
	}
	s, err := diffusion.NewSchedule(r.Schedule)
	if err != nil {
		return nil, err
	}
	den, err := NewDenoiser(&r, m.XShape)
	if err != nil {
		return nil, err
	}
	w := train.EMAWeights
	if raw {
		w = train.RawWeights
	}
	den, err = train.LoadDenoiser(ckpt, den, w)
	if err != nil {
		return nil, err
	}
	return &Loaded{Recipe: &r, Schedule: s, Denoiser: den, Shape: m.XShape, Step: m.Step, Dir: ckpt}, nil
}

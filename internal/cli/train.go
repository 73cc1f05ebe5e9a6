package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/difflab/difflab/internal/cmdline"
	"github.com/difflab/difflab/pkg/pipeline"
	"github.com/difflab/difflab/pkg/train"
)

func init() {
	register(command{"train", "train a denoiser from a recipe (TOML); resumes from its latest checkpoint", runTrain})
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runTrain(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("train", "train --config FILE.toml [--set key=value ...] [--steps N] [--checkpoint-dir DIR] [--db FILE|DSN] [--name NAME] [--experiment NAME] [--no-track] [--check]", stdout)
	config := fs.String("config", "", "recipe file (TOML): [data], [model], [schedule], [train], [preview] (required)")
	var sets multiFlag
	fs.Var(&sets, "set", "override a recipe field, e.g. --set train.steps=200 --set model.unet.basechannels=16 (repeatable)")
	steps := fs.Int("steps", 0, "override train.steps")
	ckpt := fs.String("checkpoint-dir", "", "checkpoint folder (default runs/checkpoints/<recipe hash>)")
	sf := addStoreFlags(fs)
	name := fs.String("name", "", "the tracker run's name (default: the recipe file's name without .toml)")
	experiment := fs.String("experiment", "train", "the tracker run's experiment")
	noTrack := fs.Bool("no-track", false, "do not log the run to the tracker")
	quiet := fs.Bool("quiet", false, "no progress line")
	check := fs.Bool("check", false, "load the recipe and its data, print the model, its parameters and where training would start, and exit")
	if done, code := parse(fs, args, stderr); done {
		return code
	}
	return finish("train", func() error {
		if *config == "" {
			return cmdline.Usagef("--config is required: a recipe file (see configs/ for examples)")
		}
		if *steps != 0 {
			sets = append(sets, fmt.Sprintf("train.steps=%d", *steps))
		}
		r, err := pipeline.LoadRecipe(*config, sets...)
		if err != nil {
			return cmdline.Usagef("%v", err)
		}
		if *check {
			return checkTrain(stdout, *config, r, pipeline.CheckpointDirOf(r, *ckpt))
		}
		runName := *name
		if runName == "" {
			runName = strings.TrimSuffix(filepath.Base(*config), filepath.Ext(*config))
		}
		o := pipeline.TrainOptions{CheckpointDir: *ckpt, Progress: stderr, Experiment: *experiment, RunName: runName}
		if *quiet {
			o.Progress = nil
		}
		if !*noTrack {
			st, err := sf.open(stderr)
			if err != nil {
				return err
			}
			defer st.Close()
			o.Store = st
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		res, err := pipeline.Train(ctx, r, o)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "trained %s (%d parameters) to step %d, loss %.5f\ncheckpoint: %s\n", r.Model.Kind, res.NumParams, res.Step, res.Loss, res.Checkpoint)
		return nil
	}(), stderr)
}

// checkTrain prints what "difflab train" would do with recipe r (read and validated
// by pipeline.LoadRecipe from path):
// the data, the model and its parameter count, the schedule, the optimisation, and
// the checkpoint it would resume from. It loads the data but builds no graph.
func checkTrain(w io.Writer, path string, r *pipeline.Recipe, ckptDir string) error {
	ds, err := pipeline.LoadDataset(r)
	if err != nil {
		return err
	}
	desc, params, err := pipeline.DescribeModel(r, ds.Shape)
	if err != nil {
		return cmdline.Usagef("%v", err)
	}
	n := len(ds.X) / ds.ExampleSize()
	t := r.Train
	fmt.Fprintf(w, "recipe:     %s (hash %s)\n", path, r.Hash())
	fmt.Fprintf(w, "data:       %s, %d examples of shape %v\n", ds.Name, n, ds.Shape)
	fmt.Fprintf(w, "model:      %s: %d parameters\n", desc, params)
	fmt.Fprintf(w, "schedule:   %s, T = %d\n", r.Schedule.Kind, r.Schedule.T)
	fmt.Fprintf(w, "training:   %d steps at batch %d (%.2f epochs), lr %g (warm-up %d, %s), EMA %g, seed %d\n",
		t.Steps, t.BatchSize, float64(t.Steps*t.BatchSize)/float64(n), t.LearningRate, t.WarmupSteps, t.Decay, t.EMADecay, t.Seed)
	m, err := train.ReadManifest(ckptDir)
	switch {
	case errors.Is(err, train.ErrNoCheckpoint):
		fmt.Fprintf(w, "checkpoint: none in %s: training starts at step 0\n", ckptDir)
	case err != nil:
		return err
	case m.Step >= t.Steps:
		fmt.Fprintf(w, "checkpoint: %s at step %d: finished (train.steps = %d), training returns at once\n", m.Dir, m.Step, t.Steps)
	default:
		fmt.Fprintf(w, "checkpoint: %s at step %d: training resumes there\n", m.Dir, m.Step)
	}
	return nil
}

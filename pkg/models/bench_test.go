package models

import (
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/difflab/difflab/pkg/diffusion"
)

// benchBatch returns seeded inputs x [B, dims...], steps t [B] in 0..999 and targets eps.
func benchBatch(b int, dims ...int) (x, ts, eps *tensors.Tensor) {
	rng := rand.New(rand.NewPCG(11, 12))
	n := b
	for _, d := range dims {
		n *= d
	}
	all := append([]int{b}, dims...)
	steps := make([]int32, b)
	for i := range steps {
		steps[i] = int32(rng.IntN(1000))
	}
	return tensors.FromFlatDataAndDimensions(toF32(randSlice(rng, n, 1)), all...),
		tensors.FromFlatDataAndDimensions(steps, b),
		tensors.FromFlatDataAndDimensions(toF32(randSlice(rng, n, 1)), all...)
}

// benchTrainStep times Adam steps (MSE on eps, GoMLX trainer) at batch size bs; the
// first step, which compiles the graph and initialises the weights, is not timed.
func benchTrainStep(b *testing.B, den diffusion.Denoiser, bs int, dims ...int) {
	trainer := train.NewTrainer(testBackend(b), den.Store, den.Fn, loss.MeanSquaredError,
		optimizer.Adam().LearningRate(1e-3).Done(), nil, nil)
	x, ts, eps := benchBatch(bs, dims...)
	step := func() {
		batch := train.Batch{Inputs: []*tensors.Tensor{clone(b, x), clone(b, ts)}, Labels: []*tensors.Tensor{clone(b, eps)}}
		if _, err := trainer.TrainStep(batch); err != nil {
			b.Fatal(err)
		}
	}
	step()
	b.ResetTimer()
	for b.Loop() {
		step()
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/sec, "steps/s")
	b.ReportMetric(float64(b.N*bs)/sec, "images/s")
	b.ReportMetric(float64(ParamCount(den.Store)), "params")
}

// unetBenches are the UNets the benchmarks time, with their parameter counts
// (bench/pytorch_unet.py --config NAME prints the same).
var unetBenches = []struct {
	name   string
	cfg    func() UNetConfig
	params int
}{
	{"default", DefaultUNetConfig, 679601},
	{"small", SmallUNetConfig, 190737},
	{"large", LargeUNetConfig, 1112801},
}

// BenchmarkUNetTrainStep times a training step of the default and the large UNet at
// batch 64 (-bench 'UNetTrainStep/default').
func BenchmarkUNetTrainStep(b *testing.B) {
	for _, u := range unetBenches {
		b.Run(u.name, func(b *testing.B) {
			den := benchUNet(b, u.cfg(), u.params)
			benchTrainStep(b, den, 64, 28, 28, 1)
		})
	}
}

// benchUNet builds the UNet of cfg after checking its parameter count.
func benchUNet(b *testing.B, cfg UNetConfig, params int) diffusion.Denoiser {
	if n := cfg.NumParams(); n != params {
		b.Fatalf("UNet %v has %d parameters, want %d", cfg, n, params)
	}
	den, err := NewUNet(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return den
}

// BenchmarkUNetForward times one forward pass at batch 256.
func BenchmarkUNetForward(b *testing.B) {
	for _, u := range unetBenches {
		b.Run(u.name, func(b *testing.B) {
			den := benchUNet(b, u.cfg(), u.params)
			const bs = 256
			exec := model.MustNewExec(testBackend(b), den.Store, den.Fn)
			x, ts, _ := benchBatch(bs, 28, 28, 1)
			exec.MustCall1(x, ts).FinalizeAll()
			b.ResetTimer()
			for b.Loop() {
				exec.MustCall1(x, ts).FinalizeAll()
			}
			b.ReportMetric(float64(b.N*bs)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// BenchmarkUNetSampleDDIM50 times DDIM sampling with S = 50 steps (eta = 1, linear
// schedule, T = 1000) of a batch of 256 images with each UNet of unetBenches
// (untrained: the time does not depend on the weights), x_T and the noise drawn by
// the sampler; the first call, which compiles the step graph, is not timed
// (-bench 'UNetSampleDDIM50/default').
func BenchmarkUNetSampleDDIM50(b *testing.B) {
	const bs, steps = 256, 50
	for _, u := range unetBenches {
		b.Run(u.name, func(b *testing.B) {
			den := benchUNet(b, u.cfg(), u.params)
			s := diffusion.MustNewSchedule(diffusion.ScheduleConfig{Kind: diffusion.Linear})
			sm, err := diffusion.NewSampler(testBackend(b), s, den, diffusion.SamplerConfig{Kind: diffusion.DDIM, Steps: steps, Eta: 1})
			if err != nil {
				b.Fatal(err)
			}
			shape := []int{bs, 28, 28, 1}
			noise := diffusion.NewPCGNoise(1)
			full := sm.Config
			sm.Config.Steps = 1 // compile the step graph (it takes t as an input) in one step
			if _, err := sm.Sample(shape, nil, noise, diffusion.SampleOptions{}); err != nil {
				b.Fatal(err)
			}
			sm.Config = full
			b.ResetTimer()
			for b.Loop() {
				if _, err := sm.Sample(shape, nil, noise, diffusion.SampleOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(b.N*bs)/sec, "images/s")
			b.ReportMetric(sec/float64(b.N*steps), "s/step")
		})
	}
}

func BenchmarkMLPTrainStep(b *testing.B) {
	den, err := NewMLP(DefaultMLPConfig())
	if err != nil {
		b.Fatal(err)
	}
	benchTrainStep(b, den, 512, 2)
}

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

func BenchmarkUNetTrainStep(b *testing.B) {
	den, err := NewUNet(DefaultUNetConfig())
	if err != nil {
		b.Fatal(err)
	}
	benchTrainStep(b, den, 64, 28, 28, 1)
}

// BenchmarkUNetSmallTrainStep times a training step of the UNet of
// configs/mnist-unet-small.toml (two levels of 16 and 32 channels, attention only
// in the middle block, no dropout: 190,737 parameters) at batch 64.
func BenchmarkUNetSmallTrainStep(b *testing.B) {
	c := DefaultUNetConfig()
	c.BaseChannels, c.ChannelMult, c.AttentionResolutions, c.Dropout = 16, []int{1, 2}, nil, 0
	den, err := NewUNet(c)
	if err != nil {
		b.Fatal(err)
	}
	if n := c.NumParams(); n != 190737 {
		b.Fatalf("small UNet has %d parameters, want 190737 (configs/mnist-unet-small.toml)", n)
	}
	benchTrainStep(b, den, 64, 28, 28, 1)
}

func BenchmarkUNetForward(b *testing.B) {
	den, err := NewUNet(DefaultUNetConfig())
	if err != nil {
		b.Fatal(err)
	}
	const bs = 256
	exec := model.MustNewExec(testBackend(b), den.Store, den.Fn)
	x, ts, _ := benchBatch(bs, 28, 28, 1)
	exec.MustCall1(x, ts).FinalizeAll()
	b.ResetTimer()
	for b.Loop() {
		exec.MustCall1(x, ts).FinalizeAll()
	}
	b.ReportMetric(float64(b.N*bs)/b.Elapsed().Seconds(), "images/s")
}

func BenchmarkMLPTrainStep(b *testing.B) {
	den, err := NewMLP(DefaultMLPConfig())
	if err != nil {
		b.Fatal(err)
	}
	benchTrainStep(b, den, 512, 2)
}

package models

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/difflab/difflab/internal/backendtest"
	"github.com/difflab/difflab/pkg/diffusion"
)

// TestBackendParity runs the default UNet and MLP, and a DDIM sampling loop, on
// every backend this machine has (backend.Installed: the pure-Go backend, each
// PJRT plugin, ONNX Runtime) with the same weights and inputs, and checks that the
// outputs agree with the pure-Go backend's within float32 tolerance, although the
// UNet's convolution is formulated differently there (convRows against the native
// convolution; see formulationOf). With DIFFLAB_REQUIRE_ONNX=1 (make test) a
// missing ONNX Runtime library fails the test instead of leaving one backend out
// (internal/backendtest).
func TestBackendParity(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the default UNet on every backend")
	}
	ref, others := backendtest.Open(t)
	unet, mlp := defaultNets(t)
	for _, tc := range []struct {
		name string
		den  diffusion.Denoiser
		dims []int
	}{{"unet", unet, []int{28, 28, 1}}, {"mlp", mlp, []int{2}}} {
		const bs = 8
		x, ts, _ := benchBatch(bs, tc.dims...)
		model.MustNewExec(ref, tc.den.Store, tc.den.Fn).MustCall1(clone(t, x), clone(t, ts)) // initialises the weights
		perturb(t, tc.den)
		want := flat[float32](t, model.MustNewExec(ref, tc.den.Store, tc.den.Fn).MustCall1(clone(t, x), clone(t, ts)))
		scale := maxAbs(want)
		for _, b := range others {
			den := detached(t, tc.den)
			got := flat[float32](t, model.MustNewExec(b, den.Store, den.Fn).MustCall1(clone(t, x), clone(t, ts)))
			if d := maxAbsDiff(got, want); d > 1e-4*scale || math.IsNaN(d) {
				t.Errorf("%s forward on %s: max |difference| %.3g from the pure-Go backend's (max |output| %.3g), want <= 1e-4 of it", tc.name, b.Name(), d, scale)
			}
		}
	}

	// A whole DDIM-5 loop of 4 images from the same seed: the sampler's arithmetic
	// is float64 on the host, so only the network's rounding separates backends.
	s := diffusion.MustNewSchedule(diffusion.ScheduleConfig{Kind: diffusion.Linear})
	cfg := diffusion.SamplerConfig{Kind: diffusion.DDIM, Steps: 5, Eta: 1}
	sample := func(b compute.Backend) []float64 {
		sm, err := diffusion.NewSampler(b, s, detached(t, unet), cfg)
		if err != nil {
			t.Fatal(err)
		}
		res, err := sm.Sample([]int{4, 28, 28, 1}, nil, diffusion.NewPCGNoise(3), diffusion.SampleOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return res.X0
	}
	want := sample(ref)
	for _, b := range others {
		got := sample(b)
		var d float64
		for i := range want {
			d = math.Max(d, math.Abs(got[i]-want[i]))
		}
		if d > 1e-3 || math.IsNaN(d) {
			t.Errorf("DDIM-5 samples on %s: max |difference| %.3g from the pure-Go backend's, want <= 1e-3", b.Name(), d)
		}
	}
}

// TestBackendTrainParity takes one Adam step of the default UNet (batch 64) and
// the default MLP (batch 512), MSE on eps, from the same weights on every installed
// backend and checks the loss and every updated
// weight and Adam moment against the pure-Go backend's, then takes four more steps
// and checks that the loss stays finite and falls: a backend trains difflab's
// networks only if this passes.
func TestBackendTrainParity(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the default UNet on every backend")
	}
	ref, trainers := backendtest.Open(t)
	unet, mlp := defaultNets(t)
	for _, tc := range []struct {
		name  string
		den   diffusion.Denoiser
		batch int
		dims  []int
	}{{"unet", unet, 64, []int{28, 28, 1}}, {"mlp", mlp, 512, []int{2}}} {
		x, ts, eps := benchBatch(tc.batch, tc.dims...)
		batch := func() train.Batch {
			return train.Batch{Inputs: []*tensors.Tensor{clone(t, x), clone(t, ts)}, Labels: []*tensors.Tensor{clone(t, eps)}}
		}
		model.MustNewExec(ref, tc.den.Store, tc.den.Fn).MustCall1(clone(t, x), clone(t, ts)) // initialises the weights
		perturb(t, tc.den)
		step := func(b compute.Backend, den diffusion.Denoiser) (*train.Trainer, float64) {
			tr := train.NewTrainer(b, den.Store, den.Fn, loss.MeanSquaredError, optimizer.Adam().LearningRate(1e-3).Done(), nil, nil)
			m, err := tr.TrainStep(batch())
			if err != nil {
				t.Fatalf("%s on %s: TrainStep: %v", tc.name, b.Name(), err)
			}
			return tr, float64(m[0].Value().(float32))
		}
		weights := func(den diffusion.Denoiser) map[string][]float32 {
			out := map[string][]float32{}
			for v := range den.Store.IterVariables() {
				if val, err := v.Value(); err == nil && val.DType() == dtypes.Float32 && strings.Contains(v.Path(), "/"+tc.name+"/") {
					out[v.Path()] = flat[float32](t, val)
				}
			}
			return out
		}
		refDen := detached(t, tc.den)
		_, wantLoss := step(ref, refDen)
		want := weights(refDen)
		for _, b := range trainers {
			den := detached(t, tc.den)
			tr, gotLoss := step(b, den)
			if math.Abs(gotLoss-wantLoss) > 1e-4*math.Abs(wantLoss) || math.IsNaN(gotLoss) {
				t.Errorf("%s on %s: first loss %.7g, pure-Go backend %.7g", tc.name, b.Name(), gotLoss, wantLoss)
			}
			got := weights(den)
			if len(got) != len(want) || len(want) == 0 {
				t.Fatalf("%s on %s: %d weight tensors after the step, pure-Go backend %d", tc.name, b.Name(), len(got), len(want))
			}
			for path, w := range want {
				// Adam's first step moves each weight by about the learning rate, 1e-3.
				if d := maxAbsDiff(got[path], w); d > 2e-5 || math.IsNaN(d) {
					t.Errorf("%s on %s: %s after one step differs from the pure-Go backend's by %.3g, want <= 2e-5", tc.name, b.Name(), path, d)
				}
			}
			for i := range 4 {
				m, err := tr.TrainStep(batch())
				if err != nil {
					t.Fatalf("%s on %s: step %d: %v", tc.name, b.Name(), i+2, err)
				}
				if l := float64(m[0].Value().(float32)); math.IsNaN(l) || math.IsInf(l, 0) || (i == 3 && l >= gotLoss) {
					t.Errorf("%s on %s: loss %g at step %d (first %g): want finite and falling on a repeated batch", tc.name, b.Name(), l, i+2, gotLoss)
				}
			}
		}
	}
}

// defaultNets returns a new default UNet and a new default MLP.
func defaultNets(t *testing.T) (unet, mlp diffusion.Denoiser) {
	t.Helper()
	unet, err := NewUNet(DefaultUNetConfig())
	if err != nil {
		t.Fatal(err)
	}
	if mlp, err = NewMLP(DefaultMLPConfig()); err != nil {
		t.Fatal(err)
	}
	return unet, mlp
}

// perturb adds N(0, 0.05²) noise (seeded) to every weight of den, so that biases,
// norm scales and offsets differ from their initial zeros and ones and a
// formulation that drops one of them cannot pass.
func perturb(t *testing.T, den diffusion.Denoiser) {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	for v := range den.Store.IterVariables() {
		val, err := v.Value()
		if err != nil || val.DType() != dtypes.Float32 {
			continue
		}
		w := flat[float32](t, val)
		for i := range w {
			w[i] += float32(0.05 * rng.NormFloat64())
		}
		if err := v.SetValue(tensors.FromFlatDataAndDimensions(w, val.Shape().Dimensions...)); err != nil {
			t.Fatal(err)
		}
	}
}

// detached returns den.Detached(), failing t on error.
func detached(t *testing.T, den diffusion.Denoiser) diffusion.Denoiser {
	t.Helper()
	d, err := den.Detached()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func maxAbs(v []float32) float64 {
	var m float64
	for _, x := range v {
		m = math.Max(m, math.Abs(float64(x)))
	}
	return m
}

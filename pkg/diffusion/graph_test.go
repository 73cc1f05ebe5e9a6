package diffusion

import (
	"math"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// evalDenoiser runs d.Fn in float64 on x [B, D] at timesteps ts.
func evalDenoiser(t *testing.T, d Denoiser, x []float64, ts []int32, D int) []float64 {
	t.Helper()
	e := model.MustNewExec(testBackend(t), model.NewStore(), func(scope *model.Scope, x, tt *graph.Node) *graph.Node {
		return d.Fn(scope, x, tt)
	})
	out := e.MustExec(tensors.FromFlatDataAndDimensions(x, len(ts), D), tensors.FromValue(ts))
	return toFloat64(out[0])
}

func TestQSampleAndPosteriorGraph(t *testing.T) {
	s := MustNewSchedule(ScheduleConfig{Kind: Cosine, T: 50})
	x0 := []float64{1, -2, 0.5, 3}
	eps := []float64{0.3, 0.1, -1, 2}
	ts := []int32{0, 49}
	e := graph.MustNewExec(testBackend(t), func(in []*graph.Node) []*graph.Node {
		x0, tt, eps := in[0], in[1], in[2]
		xt := QSample(s, x0, tt, eps)
		mean, v := QPosterior(s, x0, xt, tt)
		return []*graph.Node{xt, mean, v, Target(s, PredictV, x0, tt, eps)}
	})
	out := e.MustExec(tensors.FromFlatDataAndDimensions(x0, 2, 2), tensors.FromValue(ts), tensors.FromFlatDataAndDimensions(eps, 2, 2))
	xt, mean, variance, v := toFloat64(out[0]), toFloat64(out[1]), toFloat64(out[2]), toFloat64(out[3])
	for i := 0; i < 4; i++ {
		tt := int(ts[i/2])
		ab := s.AlphasCumprod[tt]
		want := math.Sqrt(ab)*x0[i] + math.Sqrt(1-ab)*eps[i]
		if !near(xt[i], want, 1e-12) {
			t.Errorf("QSample[%d] = %v, want %v", i, xt[i], want)
		}
		wm := s.PosteriorMeanCoef1[tt]*x0[i] + s.PosteriorMeanCoef2[tt]*want
		if !near(mean[i], wm, 1e-12) {
			t.Errorf("posterior mean[%d] = %v, want %v", i, mean[i], wm)
		}
		if wv := VFromEpsX0(eps[i], x0[i], ab); !near(v[i], wv, 1e-12) {
			t.Errorf("v target[%d] = %v, want %v", i, v[i], wv)
		}
	}
	if variance[0] != 0 || !near(variance[1], s.PosteriorVariance[49], 1e-15) {
		t.Errorf("posterior variance = %v, want [0 %v]", variance, s.PosteriorVariance[49])
	}
}

// TestEpsAndX0 checks that every prediction type, fed its exact target, gives back
// the true eps and x_0.
func TestEpsAndX0(t *testing.T) {
	s := MustNewSchedule(ScheduleConfig{Kind: Linear, T: 100})
	x0 := []float64{0.5, -1.5}
	eps := []float64{-0.7, 1.1}
	for _, p := range Predictions {
		e := graph.MustNewExec(testBackend(t), func(x0, tt, eps *graph.Node) (*graph.Node, *graph.Node) {
			xt := QSample(s, x0, tt, eps)
			return EpsAndX0At(s, p, Target(s, p, x0, tt, eps), xt, tt)
		})
		out := e.MustExec(tensors.FromFlatDataAndDimensions(x0, 2, 1), tensors.FromValue([]int32{3, 90}), tensors.FromFlatDataAndDimensions(eps, 2, 1))
		ge, gx := toFloat64(out[0]), toFloat64(out[1])
		for i := range x0 {
			if !near(ge[i], eps[i], 1e-9) || !near(gx[i], x0[i], 1e-9) {
				t.Errorf("%s: (eps, x0)[%d] = (%v, %v), want (%v, %v)", p, i, ge[i], gx[i], eps[i], x0[i])
			}
		}
	}
	_ = dtypes.Float64
}

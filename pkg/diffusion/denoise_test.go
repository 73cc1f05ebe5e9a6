package diffusion

import (
	"math"
	"strings"
	"testing"

	"github.com/difflab/difflab/pkg/gmm"
)

// TestDenoiseAtGaussianOracle checks DenoiseAt with the exact denoiser of Gaussian
// data x_0 ~ N(mu, sigma^2 I), for which the minimum eps error is known in closed
// form: with a = sqrt(abar_t), b = sqrt(1 - abar_t), E[eps | x_t] = b (x_t - a mu) /
// (a^2 sigma^2 + b^2), so
//
//	E (eps_hat - eps)^2 = Var(eps | x_t) = a^2 sigma^2 / (a^2 sigma^2 + b^2)
//
// and the x0 error is that times b^2 / a^2.
func TestDenoiseAtGaussianOracle(t *testing.T) {
	s := MustNewSchedule(ScheduleConfig{Kind: Linear, T: 1000})
	const mu, sigma, B, D = 0.7, 0.5, 4000, 2
	g := &gmm.Mixture{Weights: []float64{1}, Means: [][]float64{{mu, mu}}, Stds: []float64{sigma}}
	x0 := make([]float64, B*D)
	NewPCGNoise(1).Fill(x0)
	for i := range x0 {
		x0[i] = mu + sigma*x0[i]
	}
	ts := []int{0, 50, 300, 700, 999}
	res, err := DenoiseAt(testBackend(t), s, ExactDenoiser(g, s), x0, []int{B, D}, ts, NewPCGNoise(2))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(ts) {
		t.Fatalf("%d results, want %d", len(res), len(ts))
	}
	for i, r := range res {
		a2, b2 := s.AlphasCumprod[ts[i]], 1-s.AlphasCumprod[ts[i]]
		want := a2 * sigma * sigma / (a2*sigma*sigma + b2)
		// The estimate is a mean of B·D squared Gaussians: relative standard error sqrt(2/(B·D)) = 1.6%.
		if r.T != ts[i] || math.Abs(r.EpsMSE-want) > 0.05*want {
			t.Errorf("t = %d: eps MSE %.5g, want %.5g (closed form)", r.T, r.EpsMSE, want)
		}
		if wantX0 := want * b2 / a2; math.Abs(r.X0MSE-wantX0) > 0.05*wantX0 {
			t.Errorf("t = %d: x0 MSE %.5g, want %.5g", r.T, r.X0MSE, wantX0)
		}
		if len(r.Xt) != B*D || len(r.X0Hat) != B*D {
			t.Errorf("t = %d: %d x_t and %d x0_hat values, want %d", r.T, len(r.Xt), len(r.X0Hat), B*D)
		}
	}
	// A worse denoiser (the mean off by 0.3) has a larger error where x_0 still
	// shows in x_t.
	bad := &gmm.Mixture{Weights: []float64{1}, Means: [][]float64{{mu + 0.3, mu}}, Stds: []float64{sigma}}
	worse, err := DenoiseAt(testBackend(t), s, ExactDenoiser(bad, s), x0, []int{B, D}, ts, NewPCGNoise(2))
	if err != nil {
		t.Fatal(err)
	}
	if !(worse[2].EpsMSE > 1.1*res[2].EpsMSE) {
		t.Errorf("t = 300: a denoiser with a wrong mean has eps MSE %.4g, the exact one %.4g", worse[2].EpsMSE, res[2].EpsMSE)
	}
}

func TestDenoiseAtErrors(t *testing.T) {
	s := MustNewSchedule(ScheduleConfig{Kind: Linear, T: 100})
	g := &gmm.Mixture{Weights: []float64{1}, Means: [][]float64{{0}}, Stds: []float64{1}}
	d := ExactDenoiser(g, s)
	for _, c := range []struct {
		x0    []float64
		shape []int
		ts    []int
		want  string
	}{
		{[]float64{1, 2}, []int{2}, []int{1}, "want [B, ...]"},
		{[]float64{1, 2}, []int{3, 1}, []int{1}, "x0 has 2 values, want 3"},
		{[]float64{1, 2}, []int{2, 1}, []int{100}, "timestep 100 outside 0..99"},
		{[]float64{1, 2}, []int{2, 1}, []int{-1}, "timestep -1 outside"},
	} {
		_, err := DenoiseAt(testBackend(t), s, d, c.x0, c.shape, c.ts, NewPCGNoise(1))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("DenoiseAt(shape %v, ts %v) = %v, want an error containing %q", c.shape, c.ts, err, c.want)
		}
	}
}

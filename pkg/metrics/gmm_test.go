package metrics

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/difflab/difflab/pkg/gmm"
)

// For one Gaussian N(mu, s^2 I_D), E[log p(X)] = -D/2 (1 + log(2 pi s^2)).
func TestMeanLogLikelihoodGaussian(t *testing.T) {
	for _, tc := range []struct {
		name string
		mean []float64
		s    float64
	}{
		{"standard 2-D", []float64{0, 0}, 1},
		{"3-D", []float64{1, -1, 2}, 0.3},
	} {
		g := &gmm.Mixture{Weights: []float64{1}, Means: [][]float64{tc.mean}, Stds: []float64{tc.s}}
		const n = 20000
		x := g.Sample(n, rand.New(rand.NewPCG(1, 2)))
		r := MeanLogLikelihood(g, x)
		d := float64(len(tc.mean))
		want := -d / 2 * (1 + math.Log(2*math.Pi*tc.s*tc.s))
		checkClose(t, "MeanLogLikelihood("+tc.name+")", r.Value, want, 4*r.Std/math.Sqrt(n))
		// Var[log p(X)] = Var[chi^2_D / 2] = D / 2.
		checkClose(t, "MeanLogLikelihood("+tc.name+").Std", r.Std, math.Sqrt(d/2), 0.05)
		if r.Name != "loglik" || r.N != n || r.Version != Version {
			t.Errorf("MeanLogLikelihood Result = %+v, want name loglik, n = %d, version %s", r, n, Version)
		}
		// At the mean, log p = -D/2 log(2 pi s^2) exactly.
		got := MeanLogLikelihood(g, [][]float64{tc.mean}).Value
		checkClose(t, "MeanLogLikelihood(at the mean)", got, -d/2*math.Log(2*math.Pi*tc.s*tc.s), 1e-14)
	}
}

// fourModes is a 2-D mixture with well separated modes of unequal weights.
func fourModes() *gmm.Mixture {
	return &gmm.Mixture{
		Weights: []float64{0.1, 0.2, 0.3, 0.4},
		Means:   [][]float64{{-10, 0}, {10, 0}, {0, -10}, {0, 10}},
		Stds:    []float64{0.5, 0.5, 1, 1},
	}
}

func TestModeWeightsExact(t *testing.T) {
	g := fourModes()
	x := [][]float64{
		{-10, 0}, // mode 0
		{10, 1},  // mode 1, 2 stds out
		{0, 10},  // mode 3
		{0, -12}, // mode 2, 2 stds out
		{0, 0},   // 10 stds from modes 2, 3: off-mode
		{10, 2},  // mode 1, 4 stds out: off-mode at k = 3, mode 1 at k = 5
	}
	st := ModeWeights(g, x, 0)
	want := []float64{1.0 / 6, 1.0 / 6, 1.0 / 6, 1.0 / 6}
	for k := range want {
		checkClose(t, "ModeWeights(k=3).Weights["+string(rune('0'+k))+"]", st.Weights[k], want[k], 1e-15)
	}
	checkClose(t, "ModeWeights(k=3).OffMode", st.OffMode, 2.0/6, 1e-15)
	if st.K != DefaultOffModeStds || st.N != 6 || st.Version != Version {
		t.Errorf("ModeWeights(k=0) = %+v, want K = %v, N = 6, version %s", st, DefaultOffModeStds, Version)
	}
	st = ModeWeights(g, x, 5)
	checkClose(t, "ModeWeights(k=5).Weights[1]", st.Weights[1], 2.0/6, 1e-15)
	checkClose(t, "ModeWeights(k=5).OffMode", st.OffMode, 1.0/6, 1e-15)
	st = ModeWeights(g, x, math.Inf(1))
	checkClose(t, "ModeWeights(k=Inf).OffMode", st.OffMode, 0, 0)
}

// Samples of the mixture itself: each mode keeps its weight less the chance
// exp(-k^2/2) of a 2-D Gaussian sample lying beyond k stds; binomial tolerances.
func TestModeWeightsSampled(t *testing.T) {
	g := fourModes()
	const n = 20000
	x := g.Sample(n, rand.New(rand.NewPCG(1, 2)))
	st := ModeWeights(g, x, 0)
	tail := math.Exp(-DefaultOffModeStds * DefaultOffModeStds / 2)
	for k, w := range g.Weights {
		p := w * (1 - tail)
		checkClose(t, "ModeWeights(GMM sample).Weights", st.Weights[k], p, 4*math.Sqrt(p*(1-p)/n))
	}
	checkClose(t, "ModeWeights(GMM sample).OffMode", st.OffMode, tail, 4*math.Sqrt(tail*(1-tail)/n))
}

func TestGMMMetricsPanics(t *testing.T) {
	g := fourModes()
	checkPanics(t, "MeanLogLikelihood(nil, x)", "nil GMM", func() { MeanLogLikelihood(nil, [][]float64{{0, 0}}) })
	checkPanics(t, "MeanLogLikelihood(g, empty)", "x has 0 points", func() { MeanLogLikelihood(g, nil) })
	checkPanics(t, "MeanLogLikelihood(g, 3-D)", "x has dimension 3, but the GMM has dimension 2", func() { MeanLogLikelihood(g, [][]float64{{0, 0, 0}}) })
	checkPanics(t, "ModeWeights(k=-1)", "k = -1", func() { ModeWeights(g, [][]float64{{0, 0}}, -1) })
	checkPanics(t, "ModeWeights(k=NaN)", "k = NaN", func() { ModeWeights(g, [][]float64{{0, 0}}, math.NaN()) })
}

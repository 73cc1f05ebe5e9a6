package metrics

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestSlicedWassersteinSelf(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := gaussianSample(rng, 200, []float64{1, -2}, 1.5)
	for _, p := range []float64{1, 2, 3} {
		got := SlicedWasserstein(x, x, SWDConfig{P: p, Seed: 7}).Value
		if got != 0 {
			t.Errorf("SlicedWasserstein(x, x, P=%v) = %v, want 0", p, got)
		}
	}
	// A sample and the same sample repeated twice are one empirical measure.
	xx := append(append([][]float64{}, x...), x...)
	checkClose(t, "SlicedWasserstein(x, x∪x)", SlicedWasserstein(x, xx, SWDConfig{Seed: 7}).Value, 0, 1e-12)
}

func TestSlicedWasserstein1D(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := gaussianSample(rng, 100, []float64{0}, 1)
	for _, c := range []float64{-2.5, 0.3, 4} {
		for _, p := range []float64{1, 2, 3.5} {
			got := SlicedWasserstein(x, shifted(x, []float64{c}), SWDConfig{P: p, Projections: 8}).Value
			checkClose(t, "SlicedWasserstein(x, x+c)", got, math.Abs(c), 1e-12)
		}
	}
	// Unequal sizes, by hand from the quantile functions: F^{-1} = 0 on [0, 1/2),
	// 1 on [1/2, 1); G^{-1} = 0, 0.5, 1 on thirds. They differ by 0.5 on [1/3, 2/3).
	a := [][]float64{{1}, {0}}
	b := [][]float64{{0.5}, {1}, {0}}
	for _, tc := range []struct{ p, want float64 }{
		{1, 1.0 / 6},
		{2, math.Sqrt(1.0 / 12)},
		{3, math.Cbrt(1.0 / 24)},
	} {
		got := SlicedWasserstein(a, b, SWDConfig{P: tc.p}).Value
		checkClose(t, "SlicedWasserstein({0,1}, {0,0.5,1})", got, tc.want, 1e-14)
		got = SlicedWasserstein(b, a, SWDConfig{P: tc.p}).Value
		checkClose(t, "SlicedWasserstein({0,0.5,1}, {0,1})", got, tc.want, 1e-14)
	}
}

// For y = x + s and p = 2, SWD^2 is the mean of (s.theta)^2 over the directions,
// with E = |s|^2/D and, for D = 3, Var = |s|^4 (1/5 - 1/9).
func TestSlicedWassersteinShiftD(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := gaussianSample(rng, 5, []float64{0, 0, 0}, 1)
	s := []float64{1, 2, -0.5}
	s2 := 1 + 4 + 0.25
	const L = 100000
	got := SlicedWasserstein(x, shifted(x, s), SWDConfig{Projections: L, Seed: 3}).Value
	se := s2 * math.Sqrt((1.0/5-1.0/9)/L)
	checkClose(t, "SlicedWasserstein(x, x+s)^2", got*got, s2/3, 4*se)
}

func TestSlicedWassersteinSeed(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := gaussianSample(rng, 100, []float64{0, 0}, 1)
	y := gaussianSample(rng, 150, []float64{1, 0}, 1)
	r1 := SlicedWasserstein(x, y, SWDConfig{Seed: 5})
	r2 := SlicedWasserstein(x, y, SWDConfig{Seed: 5})
	r3 := SlicedWasserstein(x, y, SWDConfig{Seed: 6})
	if r1.Value != r2.Value {
		t.Errorf("SlicedWasserstein with Seed 5 twice: %v then %v, want equal", r1.Value, r2.Value)
	}
	if r1.Value == r3.Value {
		t.Errorf("SlicedWasserstein with Seeds 5 and 6 both %v, want different directions", r1.Value)
	}
	if r1.Name != "swd" || r1.N != 100 || r1.M != 150 || r1.Seed != 5 || r1.Version != Version ||
		r1.Params["p"] != DefaultSWDP || r1.Params["projections"] != DefaultSWDProjections {
		t.Errorf("SlicedWasserstein Result = %+v, want name swd, n=100, m=150, seed 5, default params, version %s", r1, Version)
	}
}

func TestSlicedWassersteinPanics(t *testing.T) {
	ok := [][]float64{{0, 0}, {1, 1}}
	checkPanics(t, "SlicedWasserstein(empty, y)", "x has 0 points", func() { SlicedWasserstein(nil, ok, SWDConfig{}) })
	checkPanics(t, "SlicedWasserstein(x, ragged)", "y[1] has dimension 1", func() { SlicedWasserstein(ok, [][]float64{{0, 0}, {1}}, SWDConfig{}) })
	checkPanics(t, "SlicedWasserstein(2-D, 3-D)", "x has dimension 2 but y has dimension 3", func() { SlicedWasserstein(ok, [][]float64{{0, 0, 0}}, SWDConfig{}) })
	checkPanics(t, "SlicedWasserstein(P=0.5)", "SWDConfig.P = 0.5", func() { SlicedWasserstein(ok, ok, SWDConfig{P: 0.5}) })
	checkPanics(t, "SlicedWasserstein(Projections=-1)", "SWDConfig.Projections = -1", func() { SlicedWasserstein(ok, ok, SWDConfig{Projections: -1}) })
}

package metrics

import (
	"math"
	"math/rand/v2"
	"testing"
)

// mmd2Gaussians is the population MMD^2 with bandwidth h between N(0, s^2 I) and
// N(delta, s^2 I) in D dimensions. Per coordinate, for z ~ N(mu, v),
// E exp(-z^2/(2h^2)) = sqrt(h^2/(h^2+v)) exp(-mu^2/(2(h^2+v))); the differences
// X-X', Y-Y' and X-Y have v = 2 s^2 and mean 0, 0 and delta.
func mmd2Gaussians(d int, s, h float64, delta []float64) float64 {
	v := h*h + 2*s*s
	return 2 * math.Pow(h*h/v, float64(d)/2) * (1 - math.Exp(-dot(delta, delta)/(2*v)))
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func TestMMD2Gaussians(t *testing.T) {
	const n, reps = 300, 20
	for _, tc := range []struct {
		name  string
		s, h  float64
		delta []float64
	}{
		{"1D", 1, 1, []float64{1}},
		{"2D", 1, 2, []float64{1, 1}},
		{"3D", 0.5, 1.5, []float64{0.5, 0, 0}},
		{"2D-same", 1, 1, []float64{0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			zero := make([]float64, len(tc.delta))
			mean, se := replicate(reps, func(rng *rand.Rand) float64 {
				x := gaussianSample(rng, n, zero, tc.s)
				y := gaussianSample(rng, n, tc.delta, tc.s)
				return MMD2(x, y, MMDConfig{Bandwidth: tc.h}).Value
			})
			want := mmd2Gaussians(len(tc.delta), tc.s, tc.h, tc.delta)
			checkClose(t, "mean of MMD2(N(0), N(delta))", mean, want, 4*se)
			if want == 0 && se > 0.005 {
				t.Errorf("MMD2 under equal laws: standard error %v over %d runs, want <= 0.005", se, reps)
			}
		})
	}
}

func TestMMD2Exact(t *testing.T) {
	// x = y = {0, 1}, h = 1: kxx = kyy = exp(-1/2), kxy = (2 + 2 exp(-1/2))/4, so the
	// unbiased estimate is exp(-1/2) - 1 < 0.
	x := [][]float64{{0}, {1}}
	r := MMD2(x, x, MMDConfig{Bandwidth: 1})
	checkClose(t, "MMD2({0,1}, {0,1}, h=1)", r.Value, math.Exp(-0.5)-1, 1e-15)
	if r.Name != "mmd2_rbf" || r.N != 2 || r.M != 2 || r.Params["bandwidth"] != 1.0 || r.Params["bandwidth_rule"] != "given" || r.Version != Version {
		t.Errorf("MMD2 Result = %+v, want name mmd2_rbf, n = m = 2, bandwidth 1 given, version %s", r, Version)
	}
	// Median heuristic on {0, 1} ∪ {0, 3}: squared distances 1, 0, 9, 1, 4, 9; median
	// (1 + 4)/2 = 2.5, h^2 = 1.25.
	y := [][]float64{{0}, {3}}
	r = MMD2(x, y, MMDConfig{})
	if h := r.Params["bandwidth"]; h != math.Sqrt(1.25) || r.Params["bandwidth_rule"] != "median" {
		t.Errorf("MMD2(median) bandwidth = %v (%v), want %v (median)", h, r.Params["bandwidth_rule"], math.Sqrt(1.25))
	}
	g := -1 / 2.5
	want := (math.Exp(g*1) + math.Exp(g*9) - (1+math.Exp(g*9)+math.Exp(g*1)+math.Exp(g*4))/2)
	checkClose(t, "MMD2({0,1}, {0,3}, median)", r.Value, want, 1e-15)
}

func TestMedianBandwidth(t *testing.T) {
	// Squared distances 1, 9, 4: median 4, h = sqrt(2).
	got := MedianBandwidth([][]float64{{0}, {1}}, [][]float64{{3}}, 0)
	checkClose(t, "MedianBandwidth({0,1}, {3})", got, math.Sqrt2, 1e-15)
	// Above MedianMaxPoints the subsample is fixed by the seed.
	rng := rand.New(rand.NewPCG(1, 2))
	x := gaussianSample(rng, 900, []float64{0, 0}, 1)
	y := gaussianSample(rng, 900, []float64{0, 0}, 1)
	h1, h2 := MedianBandwidth(x, y, 4), MedianBandwidth(x, y, 4)
	if h1 != h2 {
		t.Errorf("MedianBandwidth with seed 4 twice: %v then %v, want equal", h1, h2)
	}
	// For X, X' ~ N(0, I_2), |X - X'|^2 / 2 is chi-squared with 2 degrees of freedom,
	// median 2 ln 2; so the median of |X - X'|^2 is 4 ln 2 and h^2 = 2 ln 2.
	checkClose(t, "MedianBandwidth(N(0,I_2))^2", h1*h1, 2*math.Ln2, 0.1)
}

func TestMMD2Panics(t *testing.T) {
	ok := [][]float64{{0, 0}, {1, 1}}
	checkPanics(t, "MMD2(one point, y)", "x has 1 points, want at least 2", func() { MMD2(ok[:1], ok, MMDConfig{}) })
	checkPanics(t, "MMD2(2-D, 1-D)", "x has dimension 2 but y has dimension 1", func() { MMD2(ok, [][]float64{{0}, {1}}, MMDConfig{}) })
	checkPanics(t, "MMD2(Bandwidth=-1)", "MMDConfig.Bandwidth = -1", func() { MMD2(ok, ok, MMDConfig{Bandwidth: -1}) })
	same := [][]float64{{1, 1}, {1, 1}}
	checkPanics(t, "MMD2(all points equal)", "median squared distance", func() { MMD2(same, same, MMDConfig{}) })
}

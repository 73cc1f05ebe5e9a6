package metrics

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestEnergyDistanceExact(t *testing.T) {
	for _, tc := range []struct {
		name string
		x, y [][]float64
		want float64
	}{
		{"point masses 1-D", [][]float64{{-1}}, [][]float64{{2.5}}, 7},
		{"point masses 2-D", [][]float64{{0, 0}}, [][]float64{{3, 4}}, 10},
		// 2 (0 + 1)/2 - (1 + 1)/4 - 0.
		{"{0,1} vs {0}", [][]float64{{0}, {1}}, [][]float64{{0}}, 0.5},
	} {
		got := EnergyDistance(tc.x, tc.y).Value
		checkClose(t, "EnergyDistance("+tc.name+")", got, tc.want, 1e-14)
		got = EnergyDistance(tc.y, tc.x).Value
		checkClose(t, "EnergyDistance("+tc.name+", swapped)", got, tc.want, 1e-14)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := gaussianSample(rng, 300, []float64{0, 1, 2}, 1)
	r := EnergyDistance(x, x)
	checkClose(t, "EnergyDistance(x, x)", r.Value, 0, 1e-12)
	if r.Name != "energy" || r.N != 300 || r.M != 300 || r.Version != Version {
		t.Errorf("EnergyDistance Result = %+v, want name energy, n = m = 300, version %s", r, Version)
	}
}

// meanAbsNormal is E|Z| for Z ~ N(mu, sigma^2).
func meanAbsNormal(mu, sigma float64) float64 {
	phi := 0.5 * math.Erfc(mu/sigma/math.Sqrt2) // Phi(-mu/sigma)
	return sigma*math.Sqrt(2/math.Pi)*math.Exp(-mu*mu/(2*sigma*sigma)) + mu*(1-2*phi)
}

// X ~ N(0, 1), Y ~ N(d, 1): E|X-Y| = meanAbsNormal(d, sqrt 2), E|X-X'| = 2/sqrt(pi).
// The V-statistic's expectation keeps the (1 - 1/n) factors.
func TestEnergyDistanceGaussians(t *testing.T) {
	const n, m, reps = 400, 300, 20
	for _, d := range []float64{0, 0.5, 2} {
		mean, se := replicate(reps, func(rng *rand.Rand) float64 {
			x := gaussianSample(rng, n, []float64{0}, 1)
			y := gaussianSample(rng, m, []float64{d}, 1)
			return EnergyDistance(x, y).Value
		})
		exx := 2 / math.Sqrt(math.Pi)
		want := 2*meanAbsNormal(d, math.Sqrt2) - (1-1.0/n)*exx - (1-1.0/m)*exx
		checkClose(t, "mean of EnergyDistance(N(0,1), N(d,1))", mean, want, 4*se)
	}
}

func TestEnergyDistancePanics(t *testing.T) {
	checkPanics(t, "EnergyDistance(x, empty)", "y has 0 points", func() { EnergyDistance([][]float64{{0}}, [][]float64{}) })
	checkPanics(t, "EnergyDistance(x, {[]})", "y[0] is empty", func() { EnergyDistance([][]float64{{0}}, [][]float64{{}}) })
}

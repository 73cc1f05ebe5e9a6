package metrics

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// gaussianSample draws n points from N(mean, s^2 I).
func gaussianSample(rng *rand.Rand, n int, mean []float64, s float64) [][]float64 {
	x := make([][]float64, n)
	for i := range x {
		x[i] = make([]float64, len(mean))
		for j, m := range mean {
			x[i][j] = m + s*rng.NormFloat64()
		}
	}
	return x
}

// shifted returns x + s, row by row.
func shifted(x [][]float64, s []float64) [][]float64 {
	y := make([][]float64, len(x))
	for i, row := range x {
		y[i] = make([]float64, len(row))
		for j, v := range row {
			y[i][j] = v + s[j]
		}
	}
	return y
}

// checkClose fails the test unless |got - want| <= tol.
func checkClose(t *testing.T, call string, got, want, tol float64) {
	t.Helper()
	if !(math.Abs(got-want) <= tol) {
		t.Errorf("%s = %.10g, want %.10g ± %.3g (off by %.3g)", call, got, want, tol, got-want)
	}
}

// checkPanics fails the test unless f panics with a message containing want.
func checkPanics(t *testing.T, call, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Errorf("%s did not panic, want a panic containing %q", call, want)
			return
		}
		if msg, _ := r.(string); !strings.Contains(msg, want) {
			t.Errorf("%s panicked with %v, want a message containing %q", call, r, want)
		}
	}()
	f()
}

// replicate runs f for seeds 1..reps and returns the mean of its values and the
// standard error of that mean.
func replicate(reps int, f func(rng *rand.Rand) float64) (mean, se float64) {
	v := make([]float64, reps)
	for r := range v {
		v[r] = f(rand.New(rand.NewPCG(1, uint64(r+2))))
	}
	mean, std := meanStd(v)
	return mean, std / math.Sqrt(float64(reps))
}

package metrics

import (
	"fmt"
	"math"
)

// Version identifies the formulas and estimators of this package. It is stored in
// every Result and bumped whenever any formula, estimator, default or random stream
// changes, so that values recorded under different versions are never compared
// silently.
const Version = "1"

// Result is one metric value with what is needed to reproduce and compare it.
type Result struct {
	// Name is the metric, e.g. "swd", "mmd2_rbf", "fid" (see each function).
	Name string `json:"name"`
	// Value is the metric's value.
	Value float64 `json:"value"`
	// Std is the standard deviation of the terms averaged into Value, where the
	// metric is such an average (KID: over subsets; MeanLogLikelihood: over samples),
	// and 0 otherwise. Each function's doc says which.
	Std float64 `json:"std,omitempty"`
	// N is the size of the first sample (the generated one, by convention, except
	// where a function says otherwise), M the size of the second (0 if none).
	N int `json:"n"`
	M int `json:"m,omitempty"`
	// Seed is the seed of the metric's own randomness (0 for deterministic metrics).
	Seed uint64 `json:"seed"`
	// Params holds the resolved parameters, defaults filled in.
	Params map[string]any `json:"params,omitempty"`
	// Parts holds named sub-values behind Value, e.g. the weight of each mode
	// behind "modes"; a tracker logs them as NAME/KEY.
	Parts map[string]float64 `json:"parts,omitempty"`
	// Version is the package Version that computed Value.
	Version string `json:"version"`
}

// String formats r on one line, e.g. "swd=0.0123 (n=1000 m=1000 seed=1 v1)".
func (r Result) String() string {
	s := fmt.Sprintf("%s=%.6g", r.Name, r.Value)
	if r.Std != 0 {
		s += fmt.Sprintf("±%.3g", r.Std)
	}
	return s + fmt.Sprintf(" (n=%d m=%d seed=%d v%s)", r.N, r.M, r.Seed, r.Version)
}

// checkSample panics unless x has at least minN rows, all of the same length D >= 1,
// and returns D. fn and name are used in the message.
func checkSample(fn, name string, x [][]float64, minN int) int {
	if len(x) < minN {
		panic(fmt.Sprintf("metrics: %s: %s has %d points, want at least %d", fn, name, len(x), minN))
	}
	d := len(x[0])
	if d == 0 {
		panic(fmt.Sprintf("metrics: %s: %s[0] is empty, want a point of dimension >= 1", fn, name))
	}
	for i, row := range x {
		if len(row) != d {
			panic(fmt.Sprintf("metrics: %s: %s[%d] has dimension %d, want %d (the dimension of %s[0])", fn, name, i, len(row), d, name))
		}
	}
	return d
}

// checkPair checks x and y as checkSample does and that they share one dimension,
// which it returns. The samples are called x and y in messages.
func checkPair(fn string, x, y [][]float64, minN int) int {
	return checkNamedPair(fn, "x", "y", x, y, minN)
}

// checkNamedPair is checkPair with the samples called xName and yName.
func checkNamedPair(fn, xName, yName string, x, y [][]float64, minN int) int {
	dx := checkSample(fn, xName, x, minN)
	dy := checkSample(fn, yName, y, minN)
	if dx != dy {
		panic(fmt.Sprintf("metrics: %s: %s has dimension %d but %s has dimension %d", fn, xName, dx, yName, dy))
	}
	return dx
}

// sqDist is |a - b|^2.
func sqDist(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		d := v - b[i]
		s += d * d
	}
	return s
}

// meanStd is the mean of v and its standard deviation with divisor len(v)-1
// (0 when len(v) < 2).
func meanStd(v []float64) (mean, std float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	if len(v) < 2 {
		return mean, 0
	}
	ss := 0.0
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(v)-1))
}

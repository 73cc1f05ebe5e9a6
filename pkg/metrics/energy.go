package metrics

import "math"

// EnergyDistance is the energy distance of Székely and Rizzo between the empirical
// measures of x (n points) and y (m points), the V-statistic
//
//	E(x, y) = 2/(n m) sum_{i,j} |x_i - y_j| - 1/n^2 sum_{i,j} |x_i - x_j| - 1/m^2 sum_{i,j} |y_i - y_j|
//
// with |.| the Euclidean norm. It is the population formula
//
//	E = 2 E|X - Y| - E|X - X'| - E|Y - Y'|
//
// applied to the two empirical measures, so E(x, x) = 0 exactly and E >= 0 always
// (up to rounding). As an estimate of the population value it is biased upwards:
//
//	E[E(x, y)] = 2 E|X - Y| - (1 - 1/n) E|X - X'| - (1 - 1/m) E|Y - Y'|
//
// This is the squared form (no square root, no n m / (n + m) factor of the test
// statistic). For single points, E({a}, {b}) = 2 |a - b|.
//
// The Result is named "energy"; N = n, M = m. Cost O((n + m)^2 D). EnergyDistance
// panics if x or y is empty or if rows differ in length.
func EnergyDistance(x, y [][]float64) Result {
	checkPair("EnergyDistance", x, y, 1)
	dist := func(a, b []float64) float64 { return math.Sqrt(sqDist(a, b)) }
	dxy := 0.0
	for _, a := range x {
		for _, b := range y {
			dxy += dist(a, b)
		}
	}
	dxx := sumOffDiagonal(x, dist)
	dyy := sumOffDiagonal(y, dist)
	n, m := float64(len(x)), float64(len(y))
	return Result{
		Name:    "energy",
		Value:   2*dxy/(n*m) - dxx/(n*n) - dyy/(m*m),
		N:       len(x),
		M:       len(y),
		Version: Version,
	}
}

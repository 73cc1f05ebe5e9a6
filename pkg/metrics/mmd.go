package metrics

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/difflab/difflab/internal/fastmath"
)

// MedianMaxPoints is the largest pooled sample on which MedianBandwidth computes
// all pairwise distances; larger pools are subsampled to this many points.
const MedianMaxPoints = 1000

// medianStream is the PCG stream of the median heuristic's subsample.
const medianStream = 0x4d4d445f6d656469 // "MMD_medi"

// MMDConfig holds the parameters of MMD2. A zero field means its default.
type MMDConfig struct {
	// Bandwidth is h > 0 in the Gaussian kernel k(x, y) = exp(-|x - y|^2 / (2 h^2)).
	// Default (0): the median heuristic, h = MedianBandwidth(x, y, Seed).
	Bandwidth float64
	// Seed picks the subsample of the median heuristic when the pooled sample has
	// more than MedianMaxPoints points. Unused when Bandwidth > 0.
	Seed uint64
}

// Validate reports whether c is usable: Bandwidth is 0 (median heuristic) or a
// finite number > 0.
func (c MMDConfig) Validate() error {
	if c.Bandwidth != 0 && !(c.Bandwidth > 0 && !math.IsInf(c.Bandwidth, 0)) {
		return fmt.Errorf("MMDConfig.Bandwidth = %v, want a finite number > 0 (or 0 for the median heuristic)", c.Bandwidth)
	}
	return nil
}

// MMD2 is the squared maximum mean discrepancy between the distributions of x (n
// points) and y (m points) with the Gaussian (RBF) kernel
//
//	k(x, y) = exp(-|x - y|^2 / (2 h^2)),
//
// estimated without bias (Gretton et al. 2012, eq. (3)):
//
//	MMD^2_u = 1/(n(n-1)) sum_{i != j} k(x_i, x_j) + 1/(m(m-1)) sum_{i != j} k(y_i, y_j)
//	        - 2/(n m) sum_{i, j} k(x_i, y_j)
//
// Being unbiased, it can be negative when the distributions are equal; its standard
// deviation is O(1/n) then, and O(1/sqrt(n)) when they differ. The bandwidth h is
// c.Bandwidth or, if that is 0, the median heuristic MedianBandwidth(x, y, c.Seed).
// Compare values only at one bandwidth: the Result records it.
//
// For x ~ N(0, s^2 I) and y ~ N(delta, s^2 I) in D dimensions the population value is
//
//	MMD^2 = 2 (h^2 / (h^2 + 2 s^2))^{D/2} (1 - exp(-|delta|^2 / (2 (h^2 + 2 s^2))))
//
// The Result is named "mmd2_rbf" with Params "bandwidth" (h) and "bandwidth_rule"
// ("median" or "given"); N = n, M = m, Seed = c.Seed. Cost O((n + m)^2 D). MMD2
// panics if x or y has fewer than 2 points, if rows differ in length, if c fails
// Validate, or if the median heuristic finds a zero median (most points equal).
func MMD2(x, y [][]float64, c MMDConfig) Result {
	const fn = "MMD2"
	checkPair(fn, x, y, 2)
	if err := c.Validate(); err != nil {
		panic("metrics: " + fn + ": " + err.Error())
	}
	h, rule := c.Bandwidth, "given"
	if h == 0 {
		h, rule = MedianBandwidth(x, y, c.Seed), "median"
	}
	g := -1 / (2 * h * h)
	kxx := sumOffDiagonal(x, func(a, b []float64) float64 { return fastmath.Exp(g * sqDist(a, b)) })
	kyy := sumOffDiagonal(y, func(a, b []float64) float64 { return fastmath.Exp(g * sqDist(a, b)) })
	kxy := 0.0
	for _, a := range x {
		for _, b := range y {
			kxy += fastmath.Exp(g * sqDist(a, b))
		}
	}
	return Result{
		Name:    "mmd2_rbf",
		Value:   unbiasedMMD2(kxx, kyy, kxy, len(x), len(y)),
		N:       len(x),
		M:       len(y),
		Seed:    c.Seed,
		Params:  map[string]any{"bandwidth": h, "bandwidth_rule": rule},
		Version: Version,
	}
}

// sumOffDiagonal is sum_{i != j} k(x_i, x_j) for a symmetric k, i.e. twice the sum
// over i < j.
func sumOffDiagonal(x [][]float64, k func(a, b []float64) float64) float64 {
	s := 0.0
	for i, a := range x {
		for _, b := range x[i+1:] {
			s += k(a, b)
		}
	}
	return 2 * s
}

// unbiasedMMD2 combines the kernel sums of MMD^2_u: kxx and kyy summed over i != j,
// kxy over all pairs.
func unbiasedMMD2(kxx, kyy, kxy float64, n, m int) float64 {
	fn, fm := float64(n), float64(m)
	return kxx/(fn*(fn-1)) + kyy/(fm*(fm-1)) - 2*kxy/(fn*fm)
}

// MedianBandwidth is the median heuristic for the Gaussian kernel's bandwidth on the
// pooled sample z = x ∪ y:
//
//	h^2 = median{ |z_i - z_j|^2 : i < j } / 2
//
// so that k(z_i, z_j) = exp(-|z_i - z_j|^2 / median) and a typical pair has kernel
// value 1/e. The median of an even number of distances is the mean of the middle
// two. When len(x) + len(y) > MedianMaxPoints, z is a subsample of MedianMaxPoints
// points drawn without replacement with rand.NewPCG(seed, medianStream); otherwise
// seed is unused and the result exact.
//
// MedianBandwidth panics if the pooled sample has fewer than 2 points, if rows
// differ in length, or if the median is 0 (more than half the pairs coincide), where
// no bandwidth is meaningful.
func MedianBandwidth(x, y [][]float64, seed uint64) float64 {
	const fn = "MedianBandwidth"
	z := append(slices.Clip(x), y...)
	checkSample(fn, "x ∪ y", z, 2)
	if len(z) > MedianMaxPoints {
		rng := rand.New(rand.NewPCG(seed, medianStream))
		perm := rng.Perm(len(z))[:MedianMaxPoints]
		sub := make([][]float64, len(perm))
		for i, p := range perm {
			sub[i] = z[p]
		}
		z = sub
	}
	d2 := make([]float64, 0, len(z)*(len(z)-1)/2)
	for i, a := range z {
		for _, b := range z[i+1:] {
			d2 = append(d2, sqDist(a, b))
		}
	}
	slices.Sort(d2)
	med := d2[len(d2)/2]
	if len(d2)%2 == 0 {
		med = (d2[len(d2)/2-1] + med) / 2
	}
	if med == 0 {
		panic(fmt.Sprintf("metrics: %s: median squared distance of %d points is 0; give the bandwidth explicitly", fn, len(z)))
	}
	return math.Sqrt(med / 2)
}

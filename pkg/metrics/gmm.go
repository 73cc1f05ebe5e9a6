package metrics

import (
	"fmt"
	"math"

	"github.com/difflab/difflab/pkg/gmm"
)

// DefaultOffModeStds is the default of ModeWeights' k: a sample farther than 3
// standard deviations from every mean is off-mode. For a D = 2 Gaussian a sample
// falls there with probability exp(-9/2) ≈ 0.011.
const DefaultOffModeStds = 3.0

// MeanLogLikelihood is the mean log-density of the samples x under the mixture g,
// exact (no density estimate):
//
//	L = 1/n sum_i log p_g(x_i)
//
// For samples drawn from g it estimates -H(g), the negative differential entropy,
// without bias; e.g. for one standard Gaussian in D dimensions,
// E[log p(X)] = -D/2 (1 + log 2 pi). Higher is better, but L alone rewards samples
// collapsed onto the modes: read it with ModeWeights or a two-sample distance.
//
// The Result is named "loglik" with Std the standard deviation (divisor n - 1) of
// log p_g(x_i), so Std/sqrt(n) is the standard error of L; N = n. It panics if g is
// nil, if x is empty, or if a row's length is not g.Dim().
func MeanLogLikelihood(g *gmm.Mixture, x [][]float64) Result {
	const fn = "MeanLogLikelihood"
	checkGMM(fn, g, x)
	lp := make([]float64, len(x))
	for i, row := range x {
		lp[i] = g.LogDensity(row)
	}
	mean, std := meanStd(lp)
	return Result{Name: "loglik", Value: mean, Std: std, N: len(x), Version: Version}
}

// ModeStats is the share of samples at each mode of a mixture, from ModeWeights.
type ModeStats struct {
	// Weights[k] is the fraction of all N samples assigned to component k.
	// Weights sum to 1 - OffMode.
	Weights []float64
	// OffMode is the fraction of samples farther than K standard deviations from
	// every component's mean; they are assigned to no component.
	OffMode float64
	// N is the number of samples, K the off-mode threshold in standard deviations.
	N int
	K float64
	// Version is the package Version that computed the stats.
	Version string
}

// ModeWeights assigns each sample x_i to the component of g with the highest
// posterior responsibility,
//
//	k(x) = argmax_k [ log pi_k - D log s_k - |x - mu_k|^2 / (2 s_k^2) ]
//
// unless it lies farther than k standard deviations from every mean,
//
//	|x - mu_j| > k s_j   for all j,
//
// in which case it is off-mode. It returns the fraction of samples per component and
// off-mode (see ModeStats). Compare Weights with g.Weights to see dropped or
// over-weighted modes. k = 0 means DefaultOffModeStds (3); k = +Inf disables the
// off-mode test. Ties go to the lower component index.
//
// ModeWeights panics if g is nil, if x is empty, if a row's length is not g.Dim(),
// or if k is negative or NaN.
func ModeWeights(g *gmm.Mixture, x [][]float64, k float64) ModeStats {
	const fn = "ModeWeights"
	checkGMM(fn, g, x)
	if !(k >= 0) {
		panic(fmt.Sprintf("metrics: %s: k = %v, want >= 0 standard deviations (0 for the default %v)", fn, k, DefaultOffModeStds))
	}
	if k == 0 {
		k = DefaultOffModeStds
	}
	nk := len(g.Weights)
	logPrior := make([]float64, nk)
	for j, w := range g.Weights {
		logPrior[j] = math.Log(w) - float64(g.Dim())*math.Log(g.Stds[j])
	}
	counts := make([]int, nk)
	off := 0
	for _, row := range x {
		best, bestScore, near := 0, math.Inf(-1), false
		for j, mu := range g.Means {
			r2 := sqDist(row, mu)
			s := g.Stds[j]
			if r2 <= k*k*s*s {
				near = true
			}
			if score := logPrior[j] - r2/(2*s*s); score > bestScore {
				best, bestScore = j, score
			}
		}
		if !near {
			off++
			continue
		}
		counts[best]++
	}
	st := ModeStats{Weights: make([]float64, nk), OffMode: float64(off) / float64(len(x)), N: len(x), K: k, Version: Version}
	for j, c := range counts {
		st.Weights[j] = float64(c) / float64(len(x))
	}
	return st
}

// ModeError is the total-variation distance between the share of samples at each
// component of g (ModeWeights with the default off-mode threshold) and the true
// weights pi_k, the off-mode samples counted as a bin of their own whose true
// weight is 0:
//
//	modes = 1/2 (sum_k |w_k - pi_k| + off)
//
// 0 when every mode holds its weight; 1 when all samples are off-mode. The Result
// is named "modes", with Parts "w0", "w1", ... (the sampled weights) and "off",
// Params "off_mode_stds", N = len(x). It panics as ModeWeights does.
func ModeError(g *gmm.Mixture, x [][]float64) Result {
	ms := ModeWeights(g, x, 0)
	tv := ms.OffMode
	parts := map[string]float64{"off": ms.OffMode}
	for k, w := range ms.Weights {
		tv += math.Abs(w - g.Weights[k])
		parts[fmt.Sprintf("w%d", k)] = w
	}
	return Result{Name: "modes", Value: tv / 2, N: ms.N, Params: map[string]any{"off_mode_stds": ms.K}, Parts: parts, Version: ms.Version}
}

// checkGMM panics unless g is non-nil and x is a non-empty sample of g's dimension.
func checkGMM(fn string, g *gmm.Mixture, x [][]float64) {
	if g == nil {
		panic(fmt.Sprintf("metrics: %s: nil GMM", fn))
	}
	if len(g.Means) == 0 {
		panic(fmt.Sprintf("metrics: %s: GMM has no components", fn))
	}
	if d := checkSample(fn, "x", x, 1); d != g.Dim() {
		panic(fmt.Sprintf("metrics: %s: x has dimension %d, but the GMM has dimension %d", fn, d, g.Dim()))
	}
}

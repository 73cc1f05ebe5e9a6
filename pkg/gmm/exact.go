package gmm

import (
	"fmt"
	"math"
)

// EpsAt is the exact (MMSE-optimal) noise prediction for data drawn from the mixture,
// E[eps | x_t], at noise level abar = abar_t of the forward process
// x_t = sqrt(abar) x_0 + sqrt(1 - abar) eps (Ho et al. 2020, eq. (4)). With
// v_k = abar s_k^2 + 1 - abar and responsibilities w_k proportional to
// pi_k N(x_t; sqrt(abar) mu_k, v_k I),
//
//	eps*(x_t, t) = sqrt(1 - abar) sum_k w_k (x_t - sqrt(abar) mu_k) / v_k
//
// This is -sqrt(1 - abar) times the score of the marginal q(x_t) (Tweedie's
// formula), which is again an isotropic mixture. It panics if len(x) != D.
func (g *Mixture) EpsAt(x []float64, abar float64) []float64 {
	if len(x) != g.Dim() {
		panic(fmt.Sprintf("gmm: Mixture.EpsAt: len(x) = %d, want %d", len(x), g.Dim()))
	}
	m := g.marginal(abar)
	eps := make([]float64, len(x))
	for k, w := range g.responsibilities(x, abar) {
		v := m.Stds[k] * m.Stds[k]
		for j, xj := range x {
			eps[j] += w * (xj - m.Means[k][j]) / v
		}
	}
	for j := range eps {
		eps[j] *= math.Sqrt(1 - abar)
	}
	return eps
}

// X0At is the exact (MMSE-optimal) prediction of the data, E[x_0 | x_t], at noise
// level abar: with the responsibilities w_k of EpsAt and v_k = abar s_k^2 + 1 - abar,
//
//	x0*(x_t, t) = sum_k w_k (mu_k + sqrt(abar) s_k^2 (x_t - sqrt(abar) mu_k) / v_k)
//
// the posterior mean of each component weighted by its responsibility. It equals
// (x_t - sqrt(1 - abar) eps*) / sqrt(abar) (Tweedie's formula, Ho et al. 2020,
// eq. (4) solved for x_0) and stays defined at abar = 0, where it is the
// mixture's mean. It panics if len(x) != D.
func (g *Mixture) X0At(x []float64, abar float64) []float64 {
	if len(x) != g.Dim() {
		panic(fmt.Sprintf("gmm: Mixture.X0At: len(x) = %d, want %d", len(x), g.Dim()))
	}
	w := g.responsibilities(x, abar)
	sa := math.Sqrt(abar)
	x0 := make([]float64, len(x))
	for k, wk := range w {
		s2 := g.Stds[k] * g.Stds[k]
		v := abar*s2 + 1 - abar
		for j, xj := range x {
			mu := g.Means[k][j]
			x0[j] += wk * (mu + sa*s2*(xj-sa*mu)/v)
		}
	}
	return x0
}

// responsibilities are w_k = P(component k | x_t) at noise level abar.
func (g *Mixture) responsibilities(x []float64, abar float64) []float64 {
	m := g.marginal(abar)
	d := float64(len(x))
	logw := make([]float64, len(g.Weights))
	for k := range logw {
		v := m.Stds[k] * m.Stds[k]
		r2 := 0.0
		for j, xj := range x {
			diff := xj - m.Means[k][j]
			r2 += diff * diff
		}
		logw[k] = math.Log(g.Weights[k]) - 0.5*d*math.Log(v) - r2/(2*v)
	}
	lse := logSumExp(logw)
	for k := range logw {
		logw[k] = math.Exp(logw[k] - lse)
	}
	return logw
}

// marginal is the law of x_t = sqrt(abar) x_0 + sqrt(1 - abar) eps when x_0 ~ g:
// again an isotropic mixture with means sqrt(abar) mu_k and variances
// v_k = abar s_k^2 + 1 - abar. marginal(1) is g itself.
func (g *Mixture) marginal(abar float64) *Mixture {
	sa := math.Sqrt(abar)
	m := &Mixture{Weights: g.Weights, Means: make([][]float64, len(g.Means)), Stds: make([]float64, len(g.Stds))}
	for k := range g.Means {
		m.Means[k] = make([]float64, len(g.Means[k]))
		for j, v := range g.Means[k] {
			m.Means[k][j] = sa * v
		}
		m.Stds[k] = math.Sqrt(abar*g.Stds[k]*g.Stds[k] + 1 - abar)
	}
	return m
}

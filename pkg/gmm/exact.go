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
	eps := make([]float64, len(x))
	for k := range logw {
		w := math.Exp(logw[k] - lse)
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
// level abar: by Tweedie's formula it is x_t with the exact noise removed,
//
//	x0*(x_t, t) = (x_t - sqrt(1 - abar) eps*(x_t, t)) / sqrt(abar)
//
// with eps* = EpsAt(x_t, abar) (Ho et al. 2020, eq. (4) solved for x_0). For one
// component N(mu, s^2 I) it is mu + sqrt(abar) s^2 (x_t - sqrt(abar) mu) / v,
// v = abar s^2 + 1 - abar. It panics if len(x) != D.
func (g *Mixture) X0At(x []float64, abar float64) []float64 {
	if len(x) != g.Dim() {
		panic(fmt.Sprintf("gmm: Mixture.X0At: len(x) = %d, want %d", len(x), g.Dim()))
	}
	eps := g.EpsAt(x, abar)
	x0 := make([]float64, len(x))
	for j, xj := range x {
		x0[j] = (xj - math.Sqrt(1-abar)*eps[j]) / math.Sqrt(abar)
	}
	return x0
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

package diffusion

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// EpsAt is the exact (MMSE-optimal) noise prediction for data drawn from the mixture,
// E[eps | x_t], at noise level abar = abar_t. With v_k = abar s_k^2 + 1 - abar and
// responsibilities w_k proportional to pi_k N(x_t; sqrt(abar) mu_k, v_k I),
//
//	eps*(x_t, t) = sqrt(1 - abar) sum_k w_k (x_t - sqrt(abar) mu_k) / v_k
//
// This is -sqrt(1 - abar) times the score of the marginal q(x_t) (Tweedie's
// formula), which is again an isotropic mixture. It panics if len(x) != D.
func (g *GMM) EpsAt(x []float64, abar float64) []float64 {
	if len(x) != g.Dim() {
		panic(fmt.Sprintf("diffusion: GMM.EpsAt: len(x) = %d, want %d", len(x), g.Dim()))
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

// Denoiser returns the exact epsilon-prediction denoiser of the mixture under
// schedule s as graph code (see EpsAt), to drive any sampler where a trained model
// would. It holds no weights. x must have shape [B, D] and t shape [B].
func (g *GMM) Denoiser(s *Schedule) Denoiser {
	K, D := len(g.Weights), g.Dim()
	means := make([]float64, 0, K*D)
	logPi := make([]float64, K)
	vars0 := make([]float64, K)
	for k := range g.Weights {
		means = append(means, g.Means[k]...)
		logPi[k] = math.Log(g.Weights[k])
		vars0[k] = g.Stds[k] * g.Stds[k]
	}
	return Denoiser{
		Prediction: PredictEps,
		Fn: func(_ *model.Scope, x, t *graph.Node) *graph.Node {
			if x.Rank() != 2 || x.Shape().Dimensions[1] != D {
				panic(fmt.Sprintf("diffusion: GMM denoiser wants x of shape [B, %d], got %s", D, x.Shape()))
			}
			gr, dt := x.Graph(), x.DType()
			cst := func(v []float64, dims ...int) *graph.Node {
				return graph.Reshape(TableConst(gr, v, dt), dims...)
			}
			abar := gatherPerExample(s.AlphasCumprod, t, x) // [B, 1]
			sa := graph.Sqrt(abar)
			mu := cst(means, 1, K, D)                                                          // [1, K, D]
			diff := graph.Sub(graph.ExpandAxes(x, 1), graph.Mul(graph.ExpandAxes(sa, -1), mu)) // [B, K, D]
			v := graph.Add(graph.Mul(abar, cst(vars0, 1, K)), graph.OneMinus(abar))            // [B, K]
			r2 := graph.ReduceSum(graph.Square(diff), -1)                                      // [B, K]
			logw := graph.Sub(graph.Sub(cst(logPi, 1, K), graph.MulScalar(graph.Log(v), 0.5*float64(D))),
				graph.Div(r2, graph.MulScalar(v, 2)))
			w := graph.Softmax(logw, -1)                                                      // [B, K]
			eps := graph.ReduceSum(graph.Mul(graph.ExpandAxes(graph.Div(w, v), -1), diff), 1) // [B, D]
			return graph.Mul(graph.Sqrt(graph.OneMinus(abar)), eps)
		},
	}
}

package diffusion

import (
	"fmt"
	"math"

	"github.com/difflab/difflab/pkg/gmm"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// ExactDenoiser returns the exact (MMSE-optimal) epsilon-prediction denoiser of
// data drawn from the mixture g under schedule s, as graph code: for each example,
// with a = AlphasCumprod[t], v_k = a s_k^2 + 1 - a and w = softmax_k of
// log pi_k - D/2 log v_k - |x_t - sqrt(a) mu_k|^2 / (2 v_k),
//
//	eps*(x_t, t) = E[eps | x_t] = sqrt(1 - a) sum_k w_k (x_t - sqrt(a) mu_k) / v_k
//
// the formula of gmm.Mixture.EpsAt, for x_t = sqrt(a) x_0 + sqrt(1 - a) eps (Ho et
// al. 2020, eq. (4)). It drives any sampler where a trained model would, and holds
// no weights (Store is nil). Its graph panics unless x has shape [B, D] and t shape [B].
func ExactDenoiser(g *gmm.Mixture, s *Schedule) Denoiser { return exactDenoiser(g, s, PredictEps) }

// ExactX0Denoiser is ExactDenoiser predicting x_0 instead of eps: the formula of
// gmm.Mixture.X0At,
//
//	x0*(x_t, t) = E[x_0 | x_t] = sum_k w_k (mu_k + sqrt(a) s_k^2 (x_t - sqrt(a) mu_k) / v_k)
//
// which stays defined where a = abar_t = 0 (a zero terminal SNR, see
// ScheduleConfig.ZeroTerminalSNR) and an epsilon prediction cannot give x_0.
func ExactX0Denoiser(g *gmm.Mixture, s *Schedule) Denoiser { return exactDenoiser(g, s, PredictX0) }

func exactDenoiser(g *gmm.Mixture, s *Schedule, p Prediction) Denoiser {
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
		Prediction: p,
		Fn: func(_ *model.Scope, x, t *graph.Node) *graph.Node {
			if x.Rank() != 2 || x.Shape().Dimensions[1] != D {
				panic(fmt.Sprintf("diffusion: ExactDenoiser wants x of shape [B, %d], got %s", D, x.Shape()))
			}
			gr, dt := x.Graph(), x.DType()
			cst := func(v []float64, dims ...int) *graph.Node {
				return graph.Reshape(TableConst(gr, v, dt), dims...)
			}
			abar := gatherPerExample(s.AlphasCumprod, t, x) // [B, 1]
			sa := graph.Sqrt(abar)
			mu := cst(means, 1, K, D)                                                          // [1, K, D]
			diff := graph.Sub(graph.ExpandAxes(x, 1), graph.Mul(graph.ExpandAxes(sa, -1), mu)) // [B, K, D]
			s2 := cst(vars0, 1, K)
			v := graph.Add(graph.Mul(abar, s2), graph.OneMinus(abar)) // [B, K]
			r2 := graph.ReduceSum(graph.Square(diff), -1)             // [B, K]
			logw := graph.Sub(graph.Sub(cst(logPi, 1, K), graph.MulScalar(graph.Log(v), 0.5*float64(D))),
				graph.Div(r2, graph.MulScalar(v, 2)))
			w := graph.Softmax(logw, -1) // [B, K]
			if p == PredictX0 {
				// sum_k w_k (mu_k + sqrt(a) s_k^2 diff_k / v_k)
				shrink := graph.ExpandAxes(graph.Div(graph.Mul(sa, s2), v), -1) // [B, K, 1]
				post := graph.Add(graph.BroadcastToShape(mu, diff.Shape()), graph.Mul(shrink, diff))
				return graph.ReduceSum(graph.Mul(graph.ExpandAxes(w, -1), post), 1)
			}
			eps := graph.ReduceSum(graph.Mul(graph.ExpandAxes(graph.Div(w, v), -1), diff), 1) // [B, D]
			return graph.Mul(graph.Sqrt(graph.OneMinus(abar)), eps)
		},
	}
}

package train

import (
	"fmt"

	"github.com/difflab/difflab/pkg/diffusion"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the maths
)

// MinSNRWeights returns the per-timestep loss weights of min-SNR-gamma (Hang et al.
// 2023, "Efficient Diffusion Training via Min-SNR Weighting Strategy", arXiv
// 2303.09556, eq. (8) and section 3.4), for a model of prediction type p:
//
//	epsilon:  w_t = min(SNR_t, gamma) / SNR_t
//	x0:       w_t = min(SNR_t, gamma)
//	v:        w_t = min(SNR_t, gamma) / (SNR_t + 1)
//
// with SNR_t = abar_t / (1 - abar_t) (Schedule.SNR). gamma <= 0 means no weighting:
// every w_t is 1. It panics on an unknown prediction type.
func MinSNRWeights(s *diffusion.Schedule, p diffusion.Prediction, gamma float64) []float64 {
	w := make([]float64, len(s.SNR))
	for t, snr := range s.SNR {
		if gamma <= 0 {
			w[t] = 1
			continue
		}
		m := min(snr, gamma)
		switch p {
		case diffusion.PredictEps:
			w[t] = m / snr
		case diffusion.PredictX0:
			w[t] = m
		case diffusion.PredictV:
			w[t] = m / (snr + 1)
		default:
			panic(fmt.Sprintf("train: unknown prediction type %q", p))
		}
	}
	return w
}

// lossGraph is the training loss for a batch (Ho et al. 2020, eq. (14), "L_simple",
// generalised to the three prediction types and optionally weighted):
//
//	x_t  = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps          (diffusion.QSample)
//	L    = 1/B sum_b w_{t_b} * mean_i (target_b,i - f(x_t, t)_b,i)^2
//
// where target is eps, x_0 or v (diffusion.Target), f is the network and
// w = MinSNRWeights (all ones when gamma is 0, which makes L the plain mean squared
// error over every element). weights may be nil for all ones.
func lossGraph(target, out, t *Node, weights []float64) *Node {
	perElem := Square(Sub(target, out))
	axes := make([]int, perElem.Rank()-1)
	for i := range axes {
		axes[i] = i + 1
	}
	perExample := perElem
	if len(axes) > 0 {
		perExample = ReduceMean(perElem, axes...)
	}
	if weights != nil {
		w := diffusion.TableConst(t.Graph(), weights, perExample.DType())
		perExample = Mul(perExample, Gather(w, ExpandAxes(ConvertDType(t, dtypes.Int32), -1)))
	}
	return ReduceAllMean(perExample)
}

// clipByGlobalNorm scales every gradient by the same factor so that their global
// L2 norm is at most maxNorm (Pascanu et al. 2013; the rule of PyTorch's
// clip_grad_norm_):
//
//	norm  = sqrt(sum_i ||g_i||^2)
//	g_i  <- g_i * min(1, maxNorm / (norm + 1e-6))
//
// It returns the clipped gradients and the norm before clipping (a scalar of the
// gradients' dtype). maxNorm <= 0 returns the gradients unchanged.
func clipByGlobalNorm(grads []*Node, maxNorm float64) (clipped []*Node, norm *Node) {
	if len(grads) == 0 {
		panic("train: clipByGlobalNorm needs at least one gradient")
	}
	var sumSq *Node
	for _, g := range grads {
		s := ReduceAllSum(Square(g))
		if sumSq == nil {
			sumSq = s
		} else {
			sumSq = Add(sumSq, s)
		}
	}
	norm = Sqrt(sumSq)
	if maxNorm <= 0 {
		return grads, norm
	}
	dt := norm.DType()
	scale := Min(ScalarOne(norm.Graph(), dt), Div(Scalar(norm.Graph(), dt, maxNorm), AddScalar(norm, 1e-6)))
	clipped = make([]*Node, len(grads))
	for i, g := range grads {
		clipped[i] = Mul(g, scale)
	}
	return clipped, norm
}

// adamWHyper are AdamW's constant hyperparameters.
type adamWHyper struct {
	beta1, beta2, epsilon, weightDecay float64
}

// adamWUpdate is one AdamW update of a variable w with gradient g (Loshchilov &
// Hutter 2019, "Decoupled Weight Decay Regularization", Algorithm 2, in the form of
// PyTorch's torch.optim.AdamW where the decay is scaled by the learning rate):
//
//	m  <- beta1 m + (1 - beta1) g
//	v  <- beta2 v + (1 - beta2) g^2
//	w  <- w - lr ( (m * bc1) / (sqrt(v * bc2) + epsilon) + lambda w )
//
// where bc1 = 1/(1 - beta1^k) and bc2 = 1/(1 - beta2^k) are Adam's bias corrections
// for update k (Kingma & Ba 2015, Algorithm 1). lr, bc1 and bc2 are scalar nodes
// computed in float64 on the Go side, so that no schedule is compiled into the graph.
func adamWUpdate(h adamWHyper, w, g, m, v, lr, bc1, bc2 *Node) (w2, m2, v2 *Node) {
	m2 = Add(MulScalar(m, h.beta1), MulScalar(g, 1-h.beta1))
	v2 = Add(MulScalar(v, h.beta2), MulScalar(Square(g), 1-h.beta2))
	dir := Div(Mul(m2, bc1), AddScalar(Sqrt(Mul(v2, bc2)), h.epsilon))
	if h.weightDecay > 0 {
		dir = Add(dir, MulScalar(w, h.weightDecay))
	}
	w2 = Sub(w, Mul(lr, dir))
	return w2, m2, v2
}

// emaUpdate is ema <- d ema + (1 - d) w, with d a scalar node (see Config.EMADecayAt).
func emaUpdate(ema, w, d *Node) *Node {
	return Add(Mul(d, ema), Mul(OneMinus(d), w))
}

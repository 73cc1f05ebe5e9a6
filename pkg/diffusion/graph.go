package diffusion

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// A Denoiser is what the samplers call at every step: a network with weights, or a
// closed form such as the exact GMM denoiser. Samplers know nothing else about it.
type Denoiser struct {
	// Prediction says what Fn returns: the noise, x_0 or v.
	Prediction Prediction
	// Store holds the weights Fn reads. Nil for a closed form (an empty store is used).
	Store *model.Store
	// Fn builds the prediction for x of shape [B, ...] and t of shape [B] (int32,
	// 0-based timesteps), in x's dtype and shape. It must not use randomness at
	// sampling time (dropout is off when the scope is not training).
	Fn func(scope *model.Scope, x, t *graph.Node) *graph.Node
}

// Detached returns a copy of d whose Store holds host copies of every variable, so
// that it can run on another backend than the one d's weights were last used on
// (GoMLX ties a tensor to one backend instance): a network trained on the pure-Go
// backend samples on ONNX Runtime this way. Later changes to either store do not
// reach the other. A nil Store stays nil.
func (d Denoiser) Detached() (Denoiser, error) {
	if d.Store == nil {
		return d, nil
	}
	out := d
	out.Store = model.NewStore()
	for path, value := range d.Store.IterParams() {
		out.Store.SetParam(path, value)
	}
	for v := range d.Store.IterVariables() {
		if !v.HasValue() {
			return Denoiser{}, fmt.Errorf("diffusion: Detached: variable %s has no value yet (run the network once first)", v.Path())
		}
		val, err := v.Value()
		if err != nil {
			return Denoiser{}, fmt.Errorf("diffusion: Detached: variable %s: %w", v.Path(), err)
		}
		host, err := val.LocalClone()
		if err != nil {
			return Denoiser{}, fmt.Errorf("diffusion: Detached: variable %s: %w", v.Path(), err)
		}
		nv, err := out.Store.CreateVariable(v.Path(), host)
		if err != nil {
			return Denoiser{}, fmt.Errorf("diffusion: Detached: %w", err)
		}
		nv.Trainable = v.Trainable
	}
	return out, nil
}

// TableConst returns a schedule table as a constant of the given dtype, shape [T].
func TableConst(g *graph.Graph, table []float64, dtype dtypes.DType) *graph.Node {
	return graph.ConvertDType(graph.Const(g, table), dtype)
}

// gatherPerExample picks table[t_b] for each example b and reshapes it to
// [B, 1, ..., 1] of rank like, so it broadcasts against a batch of that rank.
func gatherPerExample(table []float64, t *graph.Node, like *graph.Node) *graph.Node {
	g := t.Graph()
	if t.Rank() != 1 {
		panic(fmt.Sprintf("diffusion: t must have shape [B], got %s", t.Shape()))
	}
	tab := TableConst(g, table, like.DType())
	v := graph.Gather(tab, graph.ExpandAxes(graph.ConvertDType(t, dtypes.Int32), -1))
	dims := make([]int, like.Rank())
	for i := range dims {
		dims[i] = 1
	}
	dims[0] = t.Shape().Dimensions[0]
	return graph.Reshape(v, dims...)
}

// QSample draws x_t from q(x_t | x_0) in one step for a batch with a different t per
// example (Ho et al. 2020, eq. (4)):
//
//	x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps
//
// x0 and eps have shape [B, ...]; t has shape [B] with values in 0..T-1. It is the
// graph twin of Schedule.QSampleTo and the one place graph code writes the formula.
func QSample(s *Schedule, x0, t, eps *graph.Node) *graph.Node {
	a := gatherPerExample(s.SqrtAlphasCumprod, t, x0)
	b := gatherPerExample(s.SqrtOneMinusAlphasCumprod, t, x0)
	return graph.Add(graph.Mul(a, x0), graph.Mul(b, eps))
}

// QPosterior gives the mean and variance of q(x_{t-1} | x_t, x_0) (Ho et al. 2020, eq. (6) and (7)):
//
//	mean = PosteriorMeanCoef1[t] x_0 + PosteriorMeanCoef2[t] x_t
//	var  = PosteriorVariance[t]   (beta-tilde_t; 0 at t = 0)
//
// The variance has shape [B, 1, ..., 1] and broadcasts against x_t.
func QPosterior(s *Schedule, x0, xt, t *graph.Node) (mean, variance *graph.Node) {
	c1 := gatherPerExample(s.PosteriorMeanCoef1, t, x0)
	c2 := gatherPerExample(s.PosteriorMeanCoef2, t, x0)
	mean = graph.Add(graph.Mul(c1, x0), graph.Mul(c2, xt))
	variance = gatherPerExample(s.PosteriorVariance, t, x0)
	return mean, variance
}

// Target is what a denoiser of prediction type p is trained to output for the
// example x_0 noised with eps at step t: eps, x_0, or v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0.
func Target(s *Schedule, p Prediction, x0, t, eps *graph.Node) *graph.Node {
	switch p {
	case PredictEps:
		return eps
	case PredictX0:
		return x0
	case PredictV:
		a := gatherPerExample(s.SqrtAlphasCumprod, t, x0)
		b := gatherPerExample(s.SqrtOneMinusAlphasCumprod, t, x0)
		return graph.Sub(graph.Mul(a, eps), graph.Mul(b, x0))
	}
	panic(fmt.Sprintf("diffusion: unknown prediction type %q", p))
}

// EpsAndX0 converts a model output of type p at x_t into (eps_hat, x0_hat), given
// sqrtAbar = sqrt(abar_t) and sqrtOneMinusAbar = sqrt(1 - abar_t) as nodes that
// broadcast against xt (scalars or [B, 1, ..., 1]). See the formulas in param.go.
func EpsAndX0(p Prediction, out, xt, sqrtAbar, sqrtOneMinusAbar *graph.Node) (eps, x0 *graph.Node) {
	switch p {
	case PredictEps:
		eps = out
		x0 = graph.Div(graph.Sub(xt, graph.Mul(sqrtOneMinusAbar, eps)), sqrtAbar)
	case PredictX0:
		x0 = out
		eps = graph.Div(graph.Sub(xt, graph.Mul(sqrtAbar, x0)), sqrtOneMinusAbar)
	case PredictV:
		x0 = graph.Sub(graph.Mul(sqrtAbar, xt), graph.Mul(sqrtOneMinusAbar, out))
		eps = graph.Add(graph.Mul(sqrtOneMinusAbar, xt), graph.Mul(sqrtAbar, out))
	default:
		panic(fmt.Sprintf("diffusion: unknown prediction type %q", p))
	}
	return eps, x0
}

// EpsAndX0At is EpsAndX0 with the coefficients gathered for a per-example t of shape [B].
func EpsAndX0At(s *Schedule, p Prediction, out, xt, t *graph.Node) (eps, x0 *graph.Node) {
	return EpsAndX0(p, out, xt, gatherPerExample(s.SqrtAlphasCumprod, t, xt), gatherPerExample(s.SqrtOneMinusAlphasCumprod, t, xt))
}

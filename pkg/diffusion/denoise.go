package diffusion

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// DenoiseResult is how well a denoiser inverts q(x_t | x_0) in one step at one t.
type DenoiseResult struct {
	// T is the (0-based) timestep.
	T int
	// EpsMSE is the mean over examples and values of (eps_hat - eps)^2: L_simple
	// (Ho et al. 2020, eq. (14)) restricted to this t.
	EpsMSE float64
	// X0MSE is the mean of (x0_hat - x_0)^2, x0_hat = (x_t - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t)
	// for an eps model (param.go for the others): the same error seen in data space,
	// EpsMSE (1 - abar_t) / abar_t for an eps model.
	X0MSE float64
	// Xt and X0Hat are the noised inputs and the one-step predictions, flat [B·D].
	Xt, X0Hat []float64
}

// DenoiseAt noises the examples x0 (shape [B, ...]) to each timestep of ts
// (Ho et al. 2020, eq. (4)),
//
//	x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps,   eps ~ N(0, I) from noise,
//
// asks the denoiser for its prediction at (x_t, t) and measures eps_hat and x0_hat
// against the eps and x_0 used: the per-timestep loss of training, and what the
// network "sees" at each noise level. Each t draws fresh eps, in the order of ts.
//
// It returns an error when shape is not [B, ...] with B >= 1, x0 has the wrong
// length, a timestep is outside 0..T-1, d is incomplete, or the backend fails.
func DenoiseAt(b compute.Backend, s *Schedule, d Denoiser, x0 []float64, shape []int, ts []int, noise NoiseSource) ([]DenoiseResult, error) {
	n, err := checkBatch("x0", x0, shape)
	if err != nil {
		return nil, fmt.Errorf("denoise: %w", err)
	}
	for _, t := range ts {
		if t < 0 || t >= s.T() {
			return nil, fmt.Errorf("denoise: timestep %d outside 0..%d", t, s.T()-1)
		}
	}
	if err := checkDenoiser(d); err != nil {
		return nil, fmt.Errorf("denoise: %w", err)
	}
	out := make([]DenoiseResult, 0, len(ts))
	head := func(epsHat, x0Hat, _, _ *graph.Node) []*graph.Node { return []*graph.Node{epsHat, x0Hat} }
	err = denoiseNoised(b, s, d, x0, shape, ts, noise, head, func(t int, eps, xt []float64, res [][]float64) {
		r := DenoiseResult{T: t, Xt: append([]float64(nil), xt...), X0Hat: res[1]}
		epsHat := res[0]
		for j := range eps {
			de, dx := epsHat[j]-eps[j], r.X0Hat[j]-x0[j]
			r.EpsMSE += de * de
			r.X0MSE += dx * dx
		}
		r.EpsMSE /= float64(n)
		r.X0MSE /= float64(n)
		out = append(out, r)
	})
	if err != nil {
		return nil, fmt.Errorf("denoise: %w", err)
	}
	return out, nil
}

// denoiseNoised is the loop that DenoiseAt and VLB share: noise the batch x0 (of the
// given shape) to each timestep of ts in turn and run the denoiser on it. It compiles
// one graph that maps (x_t, t) to head(eps_hat, x0_hat, x_t, t), where eps_hat and
// x0_hat come from d's output at (x_t, t) (EpsAndX0At). Then, for each t of ts in
// order, it draws eps ~ N(0, I) (one noise.Fill of len(x0) values), forms
//
//	x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps   (Schedule.QSampleTo; Ho et al. 2020, eq. (4))
//
// runs the graph with t for every example, and calls step with t, eps, x_t and the
// graph's outputs in float64. eps and x_t are reused from one call of step to the
// next, so step copies what it keeps. The caller has checked x0 and shape
// (checkBatch), ts and d (checkDenoiser). Backend errors and panics, including those
// of step, are returned.
func denoiseNoised(b compute.Backend, s *Schedule, d Denoiser, x0 []float64, shape []int, ts []int, noise NoiseSource,
	head func(epsHat, x0Hat, xt, t *graph.Node) []*graph.Node, step func(t int, eps, xt []float64, out [][]float64)) error {
	B := shape[0]
	store, dt := graphDType(d)
	pred, fn := d.Prediction, d.Fn
	eps := make([]float64, len(x0))
	xt := make([]float64, len(x0))
	tIn := make([]int32, B)
	return exceptions.TryCatch[error](func() {
		exec := model.MustNewExec(b, store, func(scope *model.Scope, x, t *graph.Node) []*graph.Node {
			epsHat, x0Hat := EpsAndX0At(s, pred, fn(scope, x, t), x, t)
			return head(epsHat, x0Hat, x, t)
		})
		for _, t := range ts {
			noise.Fill(eps)
			s.QSampleTo(xt, t, x0, eps)
			for i := range tIn {
				tIn[i] = int32(t)
			}
			xIn := tensorOf(xt, dt, shape)
			tt := tensors.FromFlatDataAndDimensions(append([]int32(nil), tIn...), B)
			res := exec.MustExec(xIn, tt)
			xIn.FinalizeAll()
			tt.FinalizeAll()
			out := make([][]float64, len(res))
			for i, r := range res {
				out[i] = toFloat64(r)
				r.FinalizeAll()
			}
			step(t, eps, xt, out)
		}
	})
}

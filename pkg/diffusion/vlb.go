package diffusion

import (
	"fmt"
	"math"

	"github.com/difflab/difflab/internal/fastmath"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// DiscretizationBins is the number of pixel levels of the discretized decoder: data
// in [-1, 1] on the grid x_k = 2k/255 - 1, k = 0..255 (8-bit images scaled as
// data.ScalePixel), each bin of half-width 1/255.
const DiscretizationBins = 256

// decoderProbFloor is the smallest bin probability of the discretized decoder, as
// improved-diffusion's clamp(min=1e-12): it caps one pixel's NLL at -log(1e-12) ≈ 27.6 nats.
const decoderProbFloor = 1e-12

// VLBResult holds the variational bound of Ho et al. (2020) eq. (5), term by term,
// each in bits per dimension (nats / (D ln 2), D the number of values per example)
// averaged over the batch. In difflab's 0-based timesteps (Ho's t is our t+1):
//
//	Prior    = L_T     = KL(q(x_{T-1} | x_0) || N(0, I))
//	Terms[t] = L_{t}   = KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)),   t = 1..T-1
//	Terms[0] = L_0     = -log p(x_0 | x_{t=0})   (discretized Gaussian decoder)
//	Total    = Prior + sum_t Terms[t]
//
// Here "x_0" in q(. | x_0) is the data, and x_{t=0} its first noised version.
type VLBResult struct {
	// T is the number of steps; Variance the reverse-process variance used.
	T        int
	Variance Variance
	// N is the batch size B and Dims the values per example D.
	N, Dims int
	// Prior is L_T in bits/dim.
	Prior float64
	// Terms has T entries: Terms[0] is the discretized decoder NLL L_0, Terms[t] for
	// t >= 1 the KL term at step t, all in bits/dim.
	Terms []float64
	// DecoderContinuous replaces Terms[0] by the continuous Gaussian decoder
	// -log N(x_0; mu_theta(x_{t=0}, 0), sigma_0^2), in bits/dim, for data that is not
	// 8-bit (e.g. the 2-D datasets). It is a density, so it can be negative.
	DecoderContinuous float64
	// Total is Prior + sum(Terms): the bound on -log p_theta(x_0) in bits/dim for
	// 8-bit data. TotalContinuous uses DecoderContinuous instead of Terms[0].
	Total, TotalContinuous float64
	// PerExample and PerExampleContinuous are Total and TotalContinuous for each
	// example, to compute standard errors.
	PerExample, PerExampleContinuous []float64
}

// KL returns the sum of the KL terms Terms[1..T-1] in bits/dim.
func (r *VLBResult) KL() float64 {
	s := 0.0
	for _, v := range r.Terms[1:] {
		s += v
	}
	return s
}

// VLB computes the variational bound of the denoiser d under schedule s for the
// batch x0 of the given shape [B, ...], following improved-diffusion's calc_bpd_loop,
// _vb_terms_bpd and _prior_bpd (Nichol & Dhariwal 2021), which implement Ho et al.
// (2020) eq. (5) with the decoder of their section 3.3.
//
// For each t = 0..T-1 in increasing order it draws eps (B·D values from noise, one
// Fill per step) and forms x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps. One compiled
// graph maps (x_t, t) to the model's mean
//
//	x0_hat = from the model's output (EpsAndX0At; not clipped)
//	mu_p   = PosteriorMeanCoef1[t] x0_hat + PosteriorMeanCoef2[t] x_t      (Ho et al. 2020, eq. (7) and (11))
//
// and the terms are then computed in Go, in float64, per value:
//
//	KL(N(m1, e^{l1}) || N(m2, e^{l2})) = 1/2 (-1 + l2 - l1 + e^{l1 - l2} + (m1 - m2)^2 e^{-l2})
//
// with q's mean PosteriorMeanCoef1[t] x_0 + PosteriorMeanCoef2[t] x_t and log-variance
// PosteriorLogVarianceClipped[t], and p's log-variance
//
//	FixedSmall: PosteriorLogVarianceClipped[t]  (log beta-tilde_t; at t = 0 log beta-tilde_1)
//	FixedLarge: log Betas[t] for t >= 1, and log beta-tilde_1 at t = 0
//
// (improved-diffusion's FIXED_LARGE table, np.append(posterior_variance[1], betas[1:])).
// At t = 0 the decoder is the discretized Gaussian of Ho et al. section 3.3 with mean
// mu_p and standard deviation e^{l/2} (see DiscretizedGaussianLogLikelihood); the prior
// term is the KL of N(sqrt(abar_{T-1}) x_0, 1 - abar_{T-1}) from N(0, 1).
//
// Differences from calc_bpd_loop: x0_hat is not clipped to [-1, 1] (clipping changes the
// model, and the bound holds for the unclipped one); the normal CDF is exact (math.Erfc)
// rather than the tanh approximation; and all T steps are summed (no subsampling of t),
// so a cost of T forward passes of a batch. The expectation over eps is estimated with
// one draw per step and example.
//
// The graph runs in float64 when d.Store is nil (closed forms such as ExactDenoiser),
// otherwise in the dtype of the store's first floating-point variable, or in float32
// when the store has none yet (an untrained network, whose variables are created on
// the first call; difflab's models create float32 weights).
//
// It returns an error when shape is not [B, ...] with B >= 1, x0 does not have
// prod(shape) values, variance or the prediction type is unknown, d.Fn is nil, or the
// backend fails.
func VLB(b compute.Backend, s *Schedule, d Denoiser, x0 []float64, shape []int, variance Variance, noise NoiseSource) (*VLBResult, error) {
	n, err := checkBatch("x0", x0, shape)
	if err != nil {
		return nil, fmt.Errorf("vlb: %w", err)
	}
	if _, err := ParseVariance(string(variance)); err != nil {
		return nil, fmt.Errorf("vlb: %w", err)
	}
	if err := checkDenoiser(d); err != nil {
		return nil, fmt.Errorf("vlb: %w", err)
	}
	B := shape[0]
	D := n / B
	T := s.T()
	res := &VLBResult{T: T, Variance: variance, N: B, Dims: D, Terms: make([]float64, T),
		PerExample: make([]float64, B), PerExampleContinuous: make([]float64, B)}
	perDim := 1 / (float64(D) * math.Ln2) // nats summed over an example -> bits/dim

	// Prior L_T: KL(N(sqrt(abar) x0, 1 - abar) || N(0, 1)), per value.
	last := T - 1
	lvT := math.Log(1 - s.AlphasCumprod[last])
	for i := range B {
		kl := 0.0
		for _, x := range x0[i*D : (i+1)*D] {
			kl += normalKL(s.SqrtAlphasCumprod[last]*x, lvT, 0, 0)
		}
		kl *= perDim
		res.PerExample[i] += kl
		res.PerExampleContinuous[i] += kl
	}

	ts := make([]int, T)
	for t := range ts {
		ts[t] = t
	}
	head := func(_, x0Hat, xt, t *graph.Node) []*graph.Node {
		mean, _ := QPosterior(s, x0Hat, xt, t)
		return []*graph.Node{mean}
	}
	err = denoiseNoised(b, s, d, x0, shape, ts, noise, head, func(t int, _, xt []float64, out [][]float64) {
		res.addStep(s, t, variance, x0, xt, out[0], perDim)
	})
	if err != nil {
		return nil, fmt.Errorf("vlb: %w", err)
	}
	for i := range B {
		res.Total += res.PerExample[i]
		res.TotalContinuous += res.PerExampleContinuous[i]
	}
	res.Total /= float64(B)
	res.TotalContinuous /= float64(B)
	for _, v := range x0 {
		res.Prior += normalKL(s.SqrtAlphasCumprod[last]*v, lvT, 0, 0)
	}
	res.Prior /= float64(n) * math.Ln2
	return res, nil
}

// addStep adds the terms of step t, given the data x0, the noised x_t and the
// model's mean mu_p, each flat [B·D], to the per-example totals and to Terms[t].
func (r *VLBResult) addStep(s *Schedule, t int, variance Variance, x0, xt, mean []float64, perDim float64) {
	B, D := r.N, r.Dims
	lvp := reverseLogVariance(s, t, variance)
	for i := range B {
		var term, cont float64
		for j := i * D; j < (i+1)*D; j++ {
			if t == 0 {
				term -= DiscretizedGaussianLogLikelihood(x0[j], mean[j], 0.5*lvp)
				cont += 0.5 * (math.Log(2*math.Pi) + lvp + (x0[j]-mean[j])*(x0[j]-mean[j])*fastmath.Exp(-lvp))
			} else {
				mq := s.PosteriorMeanCoef1[t]*x0[j] + s.PosteriorMeanCoef2[t]*xt[j]
				term += normalKL(mq, s.PosteriorLogVarianceClipped[t], mean[j], lvp)
			}
		}
		term *= perDim
		r.PerExample[i] += term
		r.Terms[t] += term / float64(B)
		if t == 0 {
			cont *= perDim
			r.PerExampleContinuous[i] += cont
			r.DecoderContinuous += cont / float64(B)
		} else {
			r.PerExampleContinuous[i] += term
		}
	}
}

// reverseLogVariance is log sigma_t^2 of p(x_{t-1} | x_t) for the fixed variances, as
// improved-diffusion's p_mean_variance: FixedSmall uses PosteriorLogVarianceClipped[t];
// FixedLarge uses log beta_t for t >= 1 and log beta-tilde_1 at t = 0 (for T = 1, where
// beta-tilde_1 does not exist, log beta_0).
func reverseLogVariance(s *Schedule, t int, v Variance) float64 {
	if v == FixedLarge && t > 0 {
		return math.Log(s.Betas[t])
	}
	return s.PosteriorLogVarianceClipped[t]
}

// normalKL is the KL divergence of N(m1, e^{l1}) from N(m2, e^{l2}) in nats, one
// dimension (improved-diffusion's normal_kl):
//
//	KL = 1/2 (-1 + l2 - l1 + e^{l1 - l2} + (m1 - m2)^2 e^{-l2})
func normalKL(m1, l1, m2, l2 float64) float64 {
	d := m1 - m2
	return 0.5 * (-1 + l2 - l1 + fastmath.Exp(l1-l2) + d*d*fastmath.Exp(-l2))
}

// stdNormalCDF is Phi(z) = 1/2 erfc(-z / sqrt 2), accurate in both tails.
func stdNormalCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// DiscretizedGaussianLogLikelihood is the log-probability, in nats, that a Gaussian of
// the given mean and standard deviation e^{logScale} gives to the bin of x, for data on
// the 256-level grid of [-1, 1] (Ho et al. 2020, eq. (13); improved-diffusion's
// discretized_gaussian_log_likelihood):
//
//	delta_+ = x + 1/255 (+inf when x > 0.999),  delta_- = x - 1/255 (-inf when x < -0.999)
//	log p   = log(Phi((delta_+ - mean)/sigma) - Phi((delta_- - mean)/sigma))
//
// so the two edge bins take the tails and the 256 probabilities sum to 1. Probabilities
// are floored at 1e-12 as in improved-diffusion. Phi is exact (math.Erfc), and the
// difference is taken on the side of the smaller tail, so it does not cancel.
func DiscretizedGaussianLogLikelihood(x, mean, logScale float64) float64 {
	inv := fastmath.Exp(-logScale)
	c := x - mean
	plus := inv * (c + 1.0/255)
	minus := inv * (c - 1.0/255)
	var p float64
	switch {
	case x < -0.999:
		p = stdNormalCDF(plus)
	case x > 0.999:
		p = stdNormalCDF(-minus)
	case minus > 0: // both edges above the mean: difference of upper tails
		p = stdNormalCDF(-minus) - stdNormalCDF(-plus)
	default:
		p = stdNormalCDF(plus) - stdNormalCDF(minus)
	}
	return math.Log(math.Max(p, decoderProbFloor))
}

// tensorOf copies x into a new tensor of dtype dt (Float32 or Float64) and the given shape.
func tensorOf(x []float64, dt dtypes.DType, shape []int) *tensors.Tensor {
	switch dt {
	case dtypes.Float64:
		return tensors.FromFlatDataAndDimensions(append([]float64(nil), x...), shape...)
	case dtypes.Float32:
		return tensors.FromFlatDataAndDimensions(toFloat32(x), shape...)
	}
	panic(fmt.Sprintf("diffusion: unsupported dtype %s, want Float32 or Float64", dt))
}

// graphDType returns the store a denoiser's graph runs with and the dtype to feed it:
// float64 with a fresh store when d.Store is nil (closed forms such as ExactDenoiser),
// otherwise d.Store and the dtype of its first floating-point variable, or float32
// when it has none yet (an untrained network, whose variables are created on the
// first call; difflab's models create float32 weights).
func graphDType(d Denoiser) (*model.Store, dtypes.DType) {
	if d.Store == nil {
		return model.NewStore(), dtypes.Float64
	}
	for v := range d.Store.IterVariables() {
		if dt := v.DType(); dt == dtypes.Float32 || dt == dtypes.Float64 {
			return d.Store, dt // the first floating-point variable: weights, not an RNG state
		}
	}
	return d.Store, dtypes.Float32
}

// checkBatch checks that shape is [B, ...] with B >= 1 and at least one value per
// example, and that x (named name in the error) holds prod(shape) values, which it
// returns.
func checkBatch(name string, x []float64, shape []int) (int, error) {
	n, err := checkShape(shape)
	if err != nil {
		return 0, err
	}
	if len(x) != n {
		return 0, fmt.Errorf("%s has %d values, want %d for shape %v", name, len(x), n, shape)
	}
	return n, nil
}

// checkShape checks that shape is [B, ...] with B >= 1 and at least one value per
// example, and returns prod(shape).
func checkShape(shape []int) (int, error) {
	n := 1
	for _, v := range shape {
		n *= v
	}
	if len(shape) < 2 || n == 0 {
		return 0, fmt.Errorf("shape %v, want [B, ...] with B >= 1 and at least one value per example", shape)
	}
	return n, nil
}

// checkDenoiser checks that d predicts a known type and has a graph function.
func checkDenoiser(d Denoiser) error {
	if _, err := ParsePrediction(string(d.Prediction)); err != nil {
		return fmt.Errorf("denoiser: %w", err)
	}
	if d.Fn == nil {
		return fmt.Errorf("denoiser: Fn is nil")
	}
	return nil
}

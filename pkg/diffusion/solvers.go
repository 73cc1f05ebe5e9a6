package diffusion

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/core/tensors"
)

// The samplers beyond DDIM and DDPM solve the probability-flow ODE of the
// schedule (Song et al. 2021b) over the sampler's timesteps, visited from the
// noisiest down, then one last step to abar = 1. They are deterministic and all
// run on the one step graph (see stepInput): each model evaluation at (x, t)
// gives eps_hat and x0_hat, then
//
//	u      = UX x + U0 x0_hat + UE eps_hat + sum_j UH_j h_j
//	x_next = X0 x0_hat + Eps eps_hat + Xt u + Sigma z + sum_j H_j h_j
//
// where h_j are tensors the loop kept from earlier evaluations (earlier x0_hat,
// eps_hat or samples). The coefficients are float64 functions of the schedule,
// below. Notation, for a timestep t: a_t = abar_t, alpha_t = sqrt(a_t),
// sigma_t = sqrt(1 - a_t), lambda_t = log(alpha_t / sigma_t) (half the log-SNR),
// and the "end" after the smallest timestep has a = 1, alpha = 1, sigma = 0,
// lambda = +Inf. At a zero terminal SNR (a_t = 0) lambda_t = -Inf and the
// formulas' limits are the first-order DDIM step, which float64 arithmetic gives
// by itself (exp(-Inf) = 0, 1/Inf = 0).

// numHist is the number of history tensors a step can read.
const numHist = 3

// level is one noise level of a sampling sequence.
type level struct {
	t                   int // timestep, -1 for the end (a = 1)
	a, alpha, sig, lamb float64
}

// levels returns the noise levels a sampler visits: ts (increasing) backwards,
// then the end.
func (s *Schedule) levels(ts []int) []level {
	out := make([]level, 0, len(ts)+1)
	for i := len(ts) - 1; i >= 0; i-- {
		a := s.AlphasCumprod[ts[i]]
		out = append(out, level{t: ts[i], a: a, alpha: math.Sqrt(a), sig: math.Sqrt(1 - a),
			lamb: 0.5 * (math.Log(a) - math.Log1p(-a))})
	}
	return append(out, level{t: -1, a: 1, alpha: 1, sig: 0, lamb: math.Inf(1)})
}

// plainInput is the one-step input of DDIM and DDPM: u = x.
func plainInput(k StepCoefs) stepInput { return stepInput{StepCoefs: k, UX: 1} }

// ddimInput is the deterministic DDIM step (Song et al. 2021, eq. (12), eta = 0)
// from level l to n: x_next = alpha_n x0_hat + sigma_n eps_hat. It is also the
// first-order step of every solver below, in the form that needs no division by
// alpha_l (so it holds at a zero terminal SNR).
func ddimInput(l, n level) stepInput {
	return stepInput{StepCoefs: StepCoefs{T: l.t, Prev: n.t, AbarT: l.a, AbarPrev: n.a, X0: n.alpha, Eps: n.sig,
		SqrtAbar: l.alpha, SqrtOneMin: l.sig}, UX: 1}
}

// DPMSolverPP2MInput is step i (0-based, from lv[i] to lv[i+1]) of DPM-Solver++(2M),
// Lu et al. 2022 (arXiv 2211.01095), Algorithm 2, with data prediction: with
// h_i = lambda_{i+1} - lambda_i,
//
//	first and last step: x_{i+1} = (sigma_{i+1}/sigma_i) x_i - alpha_{i+1} (exp(-h_i) - 1) x0_i
//	otherwise:           r = h_{i-1}/h_i,  D = (1 + 1/(2r)) x0_i - (1/(2r)) x0_{i-1},
//	                     x_{i+1} = (sigma_{i+1}/sigma_i) x_i - alpha_{i+1} (exp(-h_i) - 1) D
//
// The last step goes to sigma = 0 and returns x0_i. History h_0 = x0_{i-1}.
func DPMSolverPP2MInput(lv []level, i int) stepInput {
	l, n := lv[i], lv[i+1]
	in := ddimInput(l, n)
	h := n.lamb - l.lamb
	e := math.Expm1(-h)
	if i == 0 || i == len(lv)-2 {
		return in // the first-order step, written without 1/alpha_i
	}
	r := (l.lamb - lv[i-1].lamb) / h
	in.X0 = -n.alpha * e * (1 + 1/(2*r))
	in.Eps = 0
	in.Xt, in.UX = n.sig/l.sig, 1
	in.H[0] = n.alpha * e / (2 * r)
	return in
}

// uniPCOrder is the order of UniPC's predictor at step i of n steps: 1 at the
// first step (one model output) and at the last (diffusers' lower_order_final),
// 2 otherwise.
func uniPCOrder(i, n int) int {
	if i == 0 || i == n-1 {
		return 1
	}
	return 2
}

// uniPCCorrector returns rho_c of the UniC corrector of order 1 or 2 for the
// step h = lambda_new - lambda_old and r1 = (lambda_older - lambda_old)/h, with
// Zhao et al. 2023's B(h) = exp(-h) - 1 ("bh2"): the solution of
// sum_k rho_k r_k^(p-1) = phi_p(h) p! / B(h), p = 1..order, with r = (r1, 1),
// phi_1 = (e^(-h) - 1)/(-h) - 1 and phi_{p+1} = phi_p/(-h) - 1/(p+1)!; order 1 is
// rho = (0, 1/2).
func uniPCCorrector(order int, h, r1 float64) (rho0, rho1 float64) {
	if order == 1 {
		return 0, 0.5
	}
	hh := -h
	bh := math.Expm1(hh)
	phi := math.Expm1(hh)/hh - 1
	b1 := phi / bh
	phi = phi/hh - 0.5
	b2 := phi * 2 / bh
	rho0 = (b1 - b2) / (1 - r1)
	return rho0, b1 - rho0
}

// UniPCInput is step i of UniPC (Zhao et al. 2023, arXiv 2302.04867) of order 2
// with data prediction and the UniC corrector, B(h) = exp(-h) - 1 (their "bh2"
// variant). The model is evaluated at the predicted x_i and gives m_i = x0_hat;
// for i >= 1 the corrector first replaces x_i by (h = lambda_i - lambda_{i-1},
// E = exp(-h) - 1, r1 = (lambda_{i-2} - lambda_{i-1})/h)
//
//	c_i = (sigma_i/sigma_{i-1}) c_{i-1} - alpha_i E m_{i-1}
//	      - alpha_i E (rho0 (m_{i-2} - m_{i-1})/r1 + rho1 (m_i - m_{i-1}))
//
// (Algorithm 3's UniC with the corrector's order that of step i-1's
// predictor, rho from uniPCCorrector), then the predictor UniP steps from c_i
// (h' = lambda_{i+1} - lambda_i, E' = exp(-h') - 1, r1' = (lambda_{i-1} -
// lambda_i)/h'):
//
//	order 1: x_{i+1} = (sigma_{i+1}/sigma_i) c_i - alpha_{i+1} E' m_i
//	order 2: x_{i+1} = (sigma_{i+1}/sigma_i) c_i - alpha_{i+1} E' (m_i + (m_{i-1} - m_i)/(2 r1'))
//
// which for order 2 is DPM-Solver++(2M)'s update. The model output m_i is reused
// for the corrected c_i, so NFE = S. History: h_0 = c_{i-1}, h_1 = m_{i-1},
// h_2 = m_{i-2}.
func UniPCInput(lv []level, i int) stepInput {
	l, n := lv[i], lv[i+1]
	S := len(lv) - 1
	in := stepInput{StepCoefs: StepCoefs{T: l.t, Prev: n.t, AbarT: l.a, AbarPrev: n.a, SqrtAbar: l.alpha, SqrtOneMin: l.sig}}
	// u = c_i.
	if i == 0 {
		in.UX = 1
	} else {
		p := lv[i-1]
		h := l.lamb - p.lamb
		e := math.Expm1(-h)
		r1 := 0.0
		order := uniPCOrder(i-1, S)
		if order == 2 {
			r1 = (lv[i-2].lamb - p.lamb) / h
		}
		rho0, rho1 := uniPCCorrector(order, h, r1)
		in.UH[0] = l.sig / p.sig
		in.UH[1] = -l.alpha*e + l.alpha*e*rho1
		in.U0 = -l.alpha * e * rho1
		if order == 2 {
			in.UH[1] += l.alpha * e * rho0 / r1
			in.UH[2] = -l.alpha * e * rho0 / r1
		}
	}
	// x_{i+1} from u.
	h := n.lamb - l.lamb
	e := math.Expm1(-h)
	in.Xt = n.sig / l.sig
	in.X0 = -n.alpha * e
	if uniPCOrder(i, S) == 2 {
		r1 := (lv[i-1].lamb - l.lamb) / h
		in.X0 = -n.alpha * e * (1 - 1/(2*r1))
		in.H[1] = -n.alpha * e / (2 * r1)
	}
	return in
}

// adamsBashforth are the coefficients of the explicit Adams-Bashforth methods
// of order 1 to 4, newest value first.
var adamsBashforth = [4][]float64{
	{1},
	{3.0 / 2, -1.0 / 2},
	{23.0 / 12, -16.0 / 12, 5.0 / 12},
	{55.0 / 24, -59.0 / 24, 37.0 / 24, -9.0 / 24},
}

// PLMSInput is step i of the pseudo linear multi-step method of PNDM (Liu et
// al. 2022, arXiv 2202.09778, section 3.3): the noise estimate is the
// Adams-Bashforth combination of the last eps_hat, fourth order from the fourth
// step on, and of order i+1 before (AB1, AB2, AB3 as warm-up: one model call a
// step, where PNDM's own warm-up takes pseudo Runge-Kutta steps),
//
//	e' = (55 e_i - 59 e_{i-1} + 37 e_{i-2} - 9 e_{i-3}) / 24
//
// and the step is their transfer part, the deterministic DDIM step with e':
//
//	x_{i+1} = (alpha_{i+1}/alpha_i) x_i + (sigma_{i+1} - alpha_{i+1} sigma_i/alpha_i) e'
//
// The first step (AB1) is written as alpha_{i+1} x0_hat + sigma_{i+1} eps_hat,
// which needs no division by alpha_i. History: h_j = e_{i-1-j}.
func PLMSInput(lv []level, i int) stepInput {
	l, n := lv[i], lv[i+1]
	in := ddimInput(l, n)
	if i == 0 {
		return in
	}
	c := adamsBashforth[min(i, 3)]
	k := n.sig - n.alpha*l.sig/l.alpha
	in.X0, in.Xt = 0, n.alpha/l.alpha
	in.Eps = k * c[0]
	for j := 1; j < len(c); j++ {
		in.H[j-1] = k * c[j]
	}
	return in
}

// heunSigma is Karras et al.'s sigma of a level, sigma/alpha = sqrt((1 - a)/a).
func heunSigma(l level) float64 { return l.sig / l.alpha }

// HeunInputs are the two evaluations of step i of Karras et al. 2022 (arXiv
// 2206.00364) Algorithm 1, deterministic (S_churn = 0), on the VP schedule's
// sigmas s = sqrt((1 - a)/a) at the sampler's timesteps (the model is queried
// only at training timesteps; the karras spacing picks them), for y = x/alpha,
// whose ODE is dy/ds = eps_hat. The Euler step
//
//	y' = y_i + (s_{i+1} - s_i) eps_i,   that is x' = alpha_{i+1} x0_hat + sigma_{i+1} eps_hat
//
// (DDIM with eta = 0), then, unless s_{i+1} = 0, the second evaluation at
// (x', t_{i+1}) and the trapezoidal correction
//
//	y_{i+1} = y_i + (s_{i+1} - s_i) (eps_i + eps')/2
//	x_{i+1} = (alpha_{i+1}/alpha_i) x_i + alpha_{i+1} (s_{i+1} - s_i)/2 (eps_i + eps')
//
// with history h_0 = x_i, h_1 = eps_i. So NFE = 2 per step but the last. A step
// from a zero terminal SNR (s_i infinite) is the Euler step alone.
func HeunInputs(lv []level, i int) (euler stepInput, correct *stepInput) {
	l, n := lv[i], lv[i+1]
	euler = ddimInput(l, n)
	if n.t < 0 || l.a == 0 {
		return euler, nil
	}
	d := heunSigma(n) - heunSigma(l)
	c := stepInput{StepCoefs: StepCoefs{T: n.t, Prev: n.t, AbarT: n.a, AbarPrev: n.a, SqrtAbar: n.alpha, SqrtOneMin: n.sig}, UX: 1}
	c.Eps = n.alpha * d / 2
	c.H[0] = n.alpha / l.alpha
	c.H[1] = n.alpha * d / 2
	return euler, &c
}

// stepOut are the tensors one evaluation of the step graph returns.
type stepOut struct{ xNext, x0, eps, u *tensors.Tensor }

// evalFunc runs the step graph once: the model at (x, t), then the step with in
// and history h (nil entries read zeros); noisy draws z.
type evalFunc func(x *tensors.Tensor, t int, in stepInput, h [numHist]*tensors.Tensor, noisy bool) stepOut

// recordFunc is told of each finished step: its timestep, the new sample and the
// step's x0 prediction. It must copy what it keeps: walk frees the tensors.
type recordFunc func(t int, x, x0 *tensors.Tensor)

// free finalizes the tensors given that are not nil.
func free(ts ...*tensors.Tensor) {
	for _, t := range ts {
		if t != nil {
			t.FinalizeAll()
		}
	}
}

// noisy reports whether the step draws noise: sigma > 0.
func (k StepCoefs) noisy() bool { return k.Sigma > 0 }

// noisySteps is how many steps of walk over ts draw noise: the one-step samplers'
// steps with sigma > 0 (the solvers are deterministic).
func (sm *Sampler) noisySteps(ts []int) int {
	c := sm.Config
	switch c.Kind {
	case DDIM, DDPM, DDPMStrided:
	default:
		return 0
	}
	lv := sm.Schedule.levels(ts)
	count := 0
	for i := range ts {
		if sm.Schedule.Coefs(c, lv[i].t, lv[i+1].t).noisy() {
			count++
		}
	}
	return count
}

// walk runs the sampler's loop from x = x_T and returns x_0. Every tensor it
// is given or makes is freed, but the result and what record keeps.
func (sm *Sampler) walk(x *tensors.Tensor, ts []int, eval evalFunc, record recordFunc) *tensors.Tensor {
	c := sm.Config
	lv := sm.Schedule.levels(ts)
	S := len(ts)
	var none [numHist]*tensors.Tensor
	switch c.Kind {
	case DDIM, DDPM, DDPMStrided:
		for i := 0; i < S; i++ {
			k := sm.Schedule.Coefs(c, lv[i].t, lv[i+1].t)
			o := eval(x, k.T, plainInput(k), none, k.noisy())
			record(k.T, o.xNext, o.x0)
			free(x, o.x0, o.eps, o.u)
			x = o.xNext
		}
	case DPMSolverPP2M:
		var m1 *tensors.Tensor // x0_{i-1}
		for i := 0; i < S; i++ {
			o := eval(x, lv[i].t, DPMSolverPP2MInput(lv, i), [numHist]*tensors.Tensor{m1}, false)
			record(lv[i].t, o.xNext, o.x0)
			free(x, o.eps, o.u, m1)
			x, m1 = o.xNext, o.x0
		}
		free(m1)
	case UniPC:
		var c1, m1, m2 *tensors.Tensor // c_{i-1}, m_{i-1}, m_{i-2}
		for i := 0; i < S; i++ {
			o := eval(x, lv[i].t, UniPCInput(lv, i), [numHist]*tensors.Tensor{c1, m1, m2}, false)
			record(lv[i].t, o.xNext, o.x0)
			free(x, o.eps, c1, m2)
			x, c1, m1, m2 = o.xNext, o.u, o.x0, m1
		}
		free(c1, m1, m2)
	case PLMS:
		var e [numHist]*tensors.Tensor // e_{i-1}, e_{i-2}, e_{i-3}
		for i := 0; i < S; i++ {
			o := eval(x, lv[i].t, PLMSInput(lv, i), e, false)
			record(lv[i].t, o.xNext, o.x0)
			free(x, o.x0, o.u, e[2])
			x, e = o.xNext, [numHist]*tensors.Tensor{o.eps, e[0], e[1]}
		}
		free(e[:]...)
	case Heun:
		for i := 0; i < S; i++ {
			euler, corr := HeunInputs(lv, i)
			o := eval(x, lv[i].t, euler, none, false)
			if corr == nil {
				record(lv[i].t, o.xNext, o.x0)
				free(x, o.x0, o.eps, o.u)
				x = o.xNext
				continue
			}
			o2 := eval(o.xNext, corr.T, *corr, [numHist]*tensors.Tensor{x, o.eps}, false)
			record(lv[i].t, o2.xNext, o.x0)
			free(x, o.x0, o.eps, o.u, o.xNext, o2.x0, o2.eps, o2.u)
			x = o2.xNext
		}
	default:
		panic(fmt.Sprintf("diffusion: unknown sampler %q", c.Kind))
	}
	return x
}

// NFE is the number of model evaluations one Sample call makes: S for every
// sampler but Heun, which makes two a step but the last (and one at a step
// that starts from a zero terminal SNR).
func (sm *Sampler) NFE() int {
	ts := sm.Timesteps()
	if sm.Config.Kind != Heun {
		return len(ts)
	}
	lv := sm.Schedule.levels(ts)
	n := 0
	for i := range ts {
		if _, corr := HeunInputs(lv, i); corr != nil {
			n += 2
		} else {
			n++
		}
	}
	return n
}

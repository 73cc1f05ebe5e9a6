package diffusion

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// SamplerKind names a reverse-process sampler. The list is append-only.
type SamplerKind string

const (
	// DDIM is Song et al. (2021) eq. (12) over a spaced sequence of S timesteps, with
	// sigma set by Eta through eq. (16). Eta = 0 is deterministic.
	DDIM SamplerKind = "ddim"
	// DDPM is ancestral sampling (Ho et al. 2020, Algorithm 2) over all T steps, with
	// the variance chosen by SamplerConfig.Variance.
	DDPM SamplerKind = "ddpm"
	// DDPMStrided is ancestral sampling of the respaced process over S timesteps: the
	// DDIM paper's sigma-hat row of Table 1 with Variance = FixedLarge,
	// sigma-hat_t = sqrt(1 - abar_t / abar_prev).
	DDPMStrided SamplerKind = "ddpm-strided"
	// DPMSolverPP2M is DPM-Solver++(2M), Lu et al. (2022) Algorithm 2, with data
	// prediction (see DPMSolverPP2MInput).
	DPMSolverPP2M SamplerKind = "dpmpp-2m"
	// UniPC is UniPC of order 2 with the UniC corrector, Zhao et al. (2023), B(h)
	// = exp(-h) - 1 (see UniPCInput).
	UniPC SamplerKind = "unipc"
	// PLMS is PNDM's pseudo linear multi-step method, Liu et al. (2022), with
	// lower-order Adams-Bashforth warm-up steps (see PLMSInput).
	PLMS SamplerKind = "plms"
	// Heun is Karras et al. (2022) Algorithm 1, deterministic, on the VP
	// schedule's sigmas: two model evaluations a step (see HeunInputs).
	Heun SamplerKind = "heun"
)

// SamplerKinds lists every sampler kind.
var SamplerKinds = []SamplerKind{DDIM, DDPM, DDPMStrided, DPMSolverPP2M, UniPC, PLMS, Heun}

// Stochastic reports whether the sampler draws noise at its steps (DDIM with eta
// > 0, DDPM and DDPMStrided); the others solve the probability-flow ODE.
func (k SamplerKind) Stochastic(eta float64) bool {
	return k == DDPM || k == DDPMStrided || (k == DDIM && eta > 0)
}

// ParseSamplerKind returns the sampler named s, or an error listing the allowed names.
func ParseSamplerKind(s string) (SamplerKind, error) { return parseEnum("sampler", s, SamplerKinds) }

// Variance names the reverse-process variance of the DDPM samplers (Ho et al. 2020, section 3.2).
type Variance string

const (
	// FixedSmall is sigma_t^2 = beta-tilde_t = beta_t (1 - abar_prev) / (1 - abar_t),
	// the posterior variance: optimal when x_0 is a single point.
	FixedSmall Variance = "fixed-small"
	// FixedLarge is sigma_t^2 = beta_t: optimal when x_0 ~ N(0, I).
	FixedLarge Variance = "fixed-large"
)

// Variances lists every variance choice.
var Variances = []Variance{FixedSmall, FixedLarge}

// ParseVariance returns the variance named s, or an error listing the allowed names.
func ParseVariance(s string) (Variance, error) { return parseEnum("variance", s, Variances) }

// SamplerConfig chooses a sampler and its settings.
type SamplerConfig struct {
	// Kind of sampler. Required.
	Kind SamplerKind `json:"sampler" toml:"sampler"`
	// Steps is S, the number of denoising steps, 1 <= S <= T. DDPM ignores it and
	// runs all T steps (0 or T are accepted).
	Steps int `json:"steps" toml:"steps"`
	// Spacing picks the S timesteps. Default Leading (the DDIM paper's "uniform").
	Spacing Spacing `json:"spacing,omitempty" toml:"spacing"`
	// Eta scales DDIM's noise (Song et al. 2021, eq. (16)): 0 is deterministic DDIM, 1 has the DDPM
	// posterior variance. Eta >= 0. Only DDIM reads it.
	Eta float64 `json:"eta" toml:"eta"`
	// Variance of DDPM and DDPMStrided. Default FixedSmall for DDPM (as diffusers'
	// DDPMScheduler) and FixedLarge for DDPMStrided (the DDIM paper's sigma-hat).
	Variance Variance `json:"variance,omitempty" toml:"variance"`
	// ClipX0, when > 0, clips x0_hat to [-ClipX0, ClipX0] at every step and re-derives
	// eps_hat from the clipped x0_hat. 0 turns clipping off. Images in [-1, 1] use 1.
	ClipX0 float64 `json:"clip_x0,omitempty" toml:"clip_x0"`
}

// withDefaults fills the zero fields of c for a schedule of T steps.
func (c SamplerConfig) withDefaults(T int) SamplerConfig {
	if c.Spacing == "" {
		c.Spacing = Leading
	}
	if c.Kind == DDPM {
		c.Steps = T
	}
	if c.Variance == "" {
		if c.Kind == DDPMStrided {
			c.Variance = FixedLarge
		} else {
			c.Variance = FixedSmall
		}
	}
	return c
}

// Validate checks c against a schedule of T steps. The error names the field, the
// bad value and what is allowed.
func (c SamplerConfig) Validate(T int) error {
	if _, err := ParseSamplerKind(string(c.Kind)); err != nil {
		return fmt.Errorf("sampler: %w", err)
	}
	if c.Kind == DDPM && c.Steps != 0 && c.Steps != T {
		return fmt.Errorf("sampler: steps = %d, but ddpm runs all T = %d steps; use ddpm-strided or ddim for fewer", c.Steps, T)
	}
	c = c.withDefaults(T)
	if c.Steps < 1 || c.Steps > T {
		return fmt.Errorf("sampler: steps = %d, want 1 <= steps <= T = %d", c.Steps, T)
	}
	if _, err := ParseSpacing(string(c.Spacing)); err != nil {
		return fmt.Errorf("sampler: %w", err)
	}
	if !(c.Eta >= 0) || math.IsInf(c.Eta, 0) {
		return fmt.Errorf("sampler: eta = %v, want a finite eta >= 0", c.Eta)
	}
	if c.Eta != 0 && c.Kind != DDIM && c.Kind != DDPM && c.Kind != DDPMStrided {
		return fmt.Errorf("sampler: eta = %v, but only ddim has an eta; %s is deterministic", c.Eta, c.Kind)
	}
	if _, err := ParseVariance(string(c.Variance)); err != nil {
		return fmt.Errorf("sampler: %w", err)
	}
	if !(c.ClipX0 >= 0) || math.IsInf(c.ClipX0, 0) {
		return fmt.Errorf("sampler: clip_x0 = %v, want 0 (off) or a finite value > 0", c.ClipX0)
	}
	if c.Spacing != Karras { // Karras needs the schedule: NewSampler checks it
		if _, err := Timesteps(c.Spacing, T, c.Steps); err != nil {
			return fmt.Errorf("sampler: %w", err)
		}
	}
	return nil
}

// StepCoefs are the scalars of one reverse step from timestep t to the previous
// timestep of the sequence (prev), in the notation of Song et al. (2021):
//
//	x_prev = X0 x0_hat + Eps eps_hat + Xt x_t + Sigma z,   z ~ N(0, I)
//
// with a_t = abar_t and a_prev = abar_prev (1 after the last step).
//
// DDIM, eq. (12) and (16):
//
//	Sigma = eta sqrt((1 - a_prev)/(1 - a_t)) sqrt(1 - a_t/a_prev)
//	X0 = sqrt(a_prev),  Eps = sqrt(1 - a_prev - Sigma^2),  Xt = 0
//
// DDPM on the (re)spaced process, with beta' = 1 - a_t/a_prev (beta_t when prev = t-1),
// the posterior mean of Ho et al. 2020, eq. (7) and the variance of Variance:
//
//	X0 = sqrt(a_prev) beta' / (1 - a_t),  Xt = sqrt(1 - beta') (1 - a_prev) / (1 - a_t),  Eps = 0
//	Sigma^2 = beta' (fixed-large) or beta' (1 - a_prev)/(1 - a_t) (fixed-small)
//
// and no noise is added at the last step (Algorithm 2: z = 0 when t = 1).
type StepCoefs struct {
	T, Prev              int     // timestep and the previous one (-1 after the last)
	AbarT, AbarPrev      float64 // abar_t and abar_prev
	X0, Eps, Xt, Sigma   float64
	SqrtAbar, SqrtOneMin float64 // sqrt(abar_t) and sqrt(1 - abar_t), to convert the model's output
}

// DDIMSigma is eq. (16) of Song et al. (2021):
//
//	sigma = eta sqrt((1 - a_prev)/(1 - a_t)) sqrt(1 - a_t/a_prev)
func DDIMSigma(eta, abarT, abarPrev float64) float64 {
	return eta * math.Sqrt((1-abarPrev)/(1-abarT)) * math.Sqrt(1-abarT/abarPrev)
}

// Coefs returns the coefficients of the reverse step from t to prev (prev = -1 for
// the step that ends at x_0) for sampler configuration c. c must be valid.
// For eta > 1 the DDIM noise can exceed 1 - a_prev; Eps is then clamped at 0.
func (s *Schedule) Coefs(c SamplerConfig, t, prev int) StepCoefs {
	c = c.withDefaults(s.T())
	at := s.AlphasCumprod[t]
	ap := 1.0
	if prev >= 0 {
		ap = s.AlphasCumprod[prev]
	}
	k := StepCoefs{T: t, Prev: prev, AbarT: at, AbarPrev: ap, SqrtAbar: math.Sqrt(at), SqrtOneMin: math.Sqrt(1 - at)}
	switch c.Kind {
	case DDIM:
		k.Sigma = DDIMSigma(c.Eta, at, ap)
		k.X0 = math.Sqrt(ap)
		k.Eps = math.Sqrt(math.Max(0, 1-ap-k.Sigma*k.Sigma))
	case DDPM, DDPMStrided:
		b := 1 - at/ap
		k.X0 = math.Sqrt(ap) * b / (1 - at)
		k.Xt = math.Sqrt(1-b) * (1 - ap) / (1 - at)
		if prev >= 0 {
			if c.Variance == FixedLarge {
				k.Sigma = math.Sqrt(b)
			} else {
				k.Sigma = math.Sqrt(b * (1 - ap) / (1 - at))
			}
		}
	default:
		panic(fmt.Sprintf("diffusion: unknown sampler %q", c.Kind))
	}
	return k
}

// NoiseSource gives the standard normal noise that a sampler consumes: x_T first,
// then one z per stochastic step, each filled in order. Tests feed fixed sequences.
type NoiseSource interface {
	// Fill writes independent N(0, 1) draws into dst.
	Fill(dst []float64)
}

// PCGNoise is a NoiseSource over math/rand/v2's PCG generator, so that a seed fixes
// every number a sampler draws, on every backend.
type PCGNoise struct{ rng *rand.Rand }

// NewPCGNoise returns a noise source seeded with seed.
func NewPCGNoise(seed uint64) *PCGNoise {
	return &PCGNoise{rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

// Fill implements NoiseSource.
func (p *PCGNoise) Fill(dst []float64) {
	for i := range dst {
		dst[i] = p.rng.NormFloat64()
	}
}

// noiseAhead draws the z of a sampling run's stochastic steps on its own goroutine,
// at most two steps ahead of the sampler, so that drawing them on the host overlaps
// the steps before, which run on the backend: 256 images of 28x28 take 2.8 ms of
// normals on a 2-core CPU, more than a UNet step on a GPU takes beside its forward
// pass (bench/RESULTS.md). The draws come from the source in the order the steps
// use them, so the samples are those of drawing each z when its step comes.
type noiseAhead struct {
	zs   chan *tensors.Tensor
	stop chan struct{}
	done chan struct{}
	// fault is what the source's Fill panicked with, if it did; next panics with it.
	fault any
}

// drawAhead starts drawing count tensors of shape (n values, dtype dt) from src.
// With count = 0 it starts nothing.
func drawAhead(src NoiseSource, count, n int, dt dtypes.DType, shape []int) *noiseAhead {
	a := &noiseAhead{zs: make(chan *tensors.Tensor, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if count == 0 {
		close(a.zs)
		close(a.done)
		return a
	}
	go func() {
		defer close(a.done)
		defer close(a.zs)
		defer func() { a.fault = recover() }() // before zs closes: next reads it after
		buf := make([]float64, n)
		for range count {
			src.Fill(buf)
			z := tensorOf(buf, dt, shape)
			select {
			case a.zs <- z:
			case <-a.stop:
				z.FinalizeAll()
				return
			}
		}
	}()
	return a
}

// next returns the z of the next stochastic step, which the caller frees.
func (a *noiseAhead) next() *tensors.Tensor {
	z, ok := <-a.zs
	if !ok {
		if a.fault != nil {
			panic(a.fault)
		}
		panic("diffusion: a sampling step asked for more noise than the run was planned with")
	}
	return z
}

// close stops the drawing and frees what no step took. After a run that ended early
// (an error) the source may have been drawn from for up to two steps more.
func (a *noiseAhead) close() {
	close(a.stop)
	<-a.done
	for z := range a.zs {
		z.FinalizeAll()
	}
}

// Sampler runs the reverse process of a Schedule with a Denoiser. It owns no
// weights: the denoiser's Store is read at every step, so a sampler can be reused
// while the weights change. It is not safe for concurrent use.
type Sampler struct {
	Backend  compute.Backend
	Schedule *Schedule
	Denoiser Denoiser
	Config   SamplerConfig
	// DType of the computation: dtypes.Float32 (default) or dtypes.Float64; with
	// any other, Sample and Invert return an error.
	DType dtypes.DType

	stepExec, invExec *model.Exec
}

// NewSampler validates c against s and returns a sampler. The graph is compiled at
// the first call, for the batch shape it is given.
func NewSampler(b compute.Backend, s *Schedule, d Denoiser, c SamplerConfig) (*Sampler, error) {
	if err := c.Validate(s.T()); err != nil {
		return nil, err
	}
	if err := checkDenoiser(d); err != nil {
		return nil, err
	}
	c = c.withDefaults(s.T())
	ts, err := s.Timesteps(c.Spacing, c.Steps)
	if err != nil {
		return nil, fmt.Errorf("sampler: %w", err)
	}
	for _, t := range ts {
		if s.AlphasCumprod[t] == 0 && d.Prediction == PredictEps {
			return nil, fmt.Errorf("sampler: timestep %d has abar = 0 (a zero terminal SNR), where an epsilon-prediction model cannot give x0 = (x - sqrt(1 - abar) eps)/sqrt(abar): use a v- or x0-prediction model, or a spacing that does not visit t = %d (leading)", t, t)
		}
	}
	return &Sampler{Backend: b, Schedule: s, Denoiser: d, Config: c, DType: dtypes.Float32}, nil
}

// Timesteps is the sampler's increasing sequence of timesteps; sampling visits it backwards.
func (sm *Sampler) Timesteps() []int {
	ts, err := sm.Schedule.Timesteps(sm.Config.Spacing, sm.Config.Steps)
	if err != nil {
		panic(err) // validated in NewSampler
	}
	return ts
}

// SampleOptions tune one call of Sample.
type SampleOptions struct {
	// Trajectory, when true, records x_t and x0_hat after every step.
	Trajectory bool
	// Progress, when set, is called after every step with the steps done and the total.
	Progress func(done, total int)
}

// SampleResult is the outcome of Sample.
type SampleResult struct {
	// X0 is the final sample, shape [B, ...] of x_T, in float64.
	X0 []float64
	// Shape of a batch, as x_T's.
	Shape []int
	// Timesteps visited, in the order visited (decreasing).
	Timesteps []int
	// XT[i] is the state after step i (x at Timesteps[i+1], then x_0), and X0Hat[i]
	// the prediction of x_0 made at step i; both only with SampleOptions.Trajectory.
	XT, X0Hat [][]float64
}

// Sample runs the reverse process from x_T = xT (flat, row-major, of the given shape
// [B, ...]) down to x_0. When xT is nil, x_T is drawn from noise first. Noise for
// the stochastic steps comes from noise in step order, so the same noise source state
// gives the same samples; it is drawn one step ahead on another goroutine (see
// drawAhead), and a call that returns without error has drawn exactly what its steps
// used. Errors from the backend are returned, not panicked.
func (sm *Sampler) Sample(shape []int, xT []float64, noise NoiseSource, opts SampleOptions) (res *SampleResult, err error) {
	var n int
	if xT == nil {
		n, err = checkShape(shape)
	} else {
		n, err = checkBatch("x_T", xT, shape)
	}
	if err != nil {
		return nil, fmt.Errorf("sample: %w", err)
	}
	x := make([]float64, n)
	if xT == nil {
		noise.Fill(x)
	} else {
		copy(x, xT)
	}
	ts := sm.Timesteps()
	res = &SampleResult{Shape: append([]int(nil), shape...)}
	err = exceptions.TryCatch[error](func() {
		if sm.stepExec == nil {
			sm.stepExec = sm.newStepExec(false)
		}
		zeros := tensorOf(make([]float64, n), sm.DType, shape)
		defer zeros.FinalizeAll()
		ahead := drawAhead(noise, sm.noisySteps(ts), n, sm.DType, shape)
		defer ahead.close()
		eval := func(x *tensors.Tensor, t int, in stepInput, h [numHist]*tensors.Tensor, noisy bool) stepOut {
			zt := zeros // a deterministic step reads no noise
			if noisy {
				zt = ahead.next()
				defer zt.FinalizeAll()
			}
			args := []any{x, zt, tensors.FromValue(int32(t)), sm.coefTensor(in)}
			for _, hj := range h {
				if hj == nil {
					hj = zeros
				}
				args = append(args, hj)
			}
			out := sm.stepExec.MustExec(args...)
			return stepOut{xNext: out[0], x0: out[1], eps: out[2], u: out[3]}
		}
		record := func(t int, x, x0 *tensors.Tensor) {
			res.Timesteps = append(res.Timesteps, t)
			if opts.Trajectory {
				res.XT = append(res.XT, toFloat64(x))
				res.X0Hat = append(res.X0Hat, toFloat64(x0))
			}
			if opts.Progress != nil {
				opts.Progress(len(res.Timesteps), len(ts))
			}
		}
		xt := sm.walk(tensorOf(x, sm.DType, shape), ts, eval, record)
		res.X0 = toFloat64(xt)
		xt.FinalizeAll()
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// Invert runs deterministic DDIM (eta = 0) forwards, from data x_0 up to the last
// timestep of the sequence (Song et al. 2021, section 4.3 and 5.4): with a_cur the
// current abar (1 for the data) and, for each t in the sequence in increasing order,
//
//	eps_hat = model(x, t),  x0_hat = (x - sqrt(1 - a_cur) eps_hat) / sqrt(a_cur)
//	x      <- sqrt(abar_t) x0_hat + sqrt(1 - abar_t) eps_hat,  a_cur <- abar_t
//
// It reads only the sampler's timesteps (Kind and Eta are ignored). Sampling the
// result with DDIM eta = 0 over the same timesteps reconstructs x0, with an error
// that shrinks as the number of steps grows.
func (sm *Sampler) Invert(shape []int, x0 []float64) (xT []float64, err error) {
	n, err := checkBatch("x0", x0, shape)
	if err != nil {
		return nil, fmt.Errorf("invert: %w", err)
	}
	err = exceptions.TryCatch[error](func() {
		if sm.invExec == nil {
			sm.invExec = sm.newStepExec(true)
		}
		x := tensorOf(x0, sm.DType, shape)
		z := tensorOf(make([]float64, n), sm.DType, shape)
		aCur := 1.0
		for _, t := range sm.Timesteps() {
			at := sm.Schedule.AlphasCumprod[t]
			k := stepInput{StepCoefs: StepCoefs{T: t, AbarT: at, X0: math.Sqrt(at), Eps: math.Sqrt(1 - at),
				SqrtAbar: math.Sqrt(at), SqrtOneMin: math.Sqrt(1 - at)}, AbarCur: aCur, UX: 1}
			out := sm.invExec.MustExec(x, z, tensors.FromValue(int32(t)), sm.coefTensor(k), z, z, z)
			x.FinalizeAll()
			free(out[1:]...)
			x = out[0]
			aCur = at
		}
		xT = toFloat64(x)
		x.FinalizeAll()
	})
	return xT, err
}

// stepInput is what one run of the step graph reads besides x_t, z and t: the
// step's coefficients and, for an inversion step, the noise level it starts from.
// They travel as one packed tensor (pack and unpackStep, over the slot* constants),
// so that one compiled graph serves every step.
type stepInput struct {
	// StepCoefs of the step: x_next = X0 x0_hat + Eps eps_hat + Xt x_t + Sigma z, and
	// SqrtAbar, SqrtOneMin to convert the model's output at t. Invert sets X0 =
	// sqrt(abar_t), Eps = sqrt(1 - abar_t) and Xt = Sigma = 0.
	StepCoefs
	// AbarCur is a_cur, the abar of the x that an inversion step starts from (1 for
	// the data): x0_hat = (x - sqrt(1 - a_cur) eps_hat) / sqrt(a_cur). Sampling ignores it.
	AbarCur float64
	// UX, U0, UE and UH make the sample u that Xt multiplies (see solvers.go):
	// u = UX x + U0 x0_hat + UE eps_hat + sum_j UH_j h_j; u = x for one-step samplers.
	UX, U0, UE float64
	UH         [numHist]float64
	// H_j multiplies the history tensor h_j in x_next.
	H [numHist]float64
}

// The slots of the packed step tensor, in order. pack writes them and unpackStep
// reads them; nothing else knows the order.
const (
	slotX0            = iota             // StepCoefs.X0
	slotEps                              // StepCoefs.Eps
	slotXt                               // StepCoefs.Xt
	slotSigma                            // StepCoefs.Sigma
	slotSqrtAbar                         // StepCoefs.SqrtAbar = sqrt(abar_t)
	slotSqrtOneMin                       // StepCoefs.SqrtOneMin = sqrt(1 - abar_t)
	slotSqrtAbarCur                      // sqrt(AbarCur), read by the inversion graph only
	slotSqrtOneMinCur                    // sqrt(1 - AbarCur), read by the inversion graph only
	slotUX                               // stepInput.UX
	slotU0                               // stepInput.U0
	slotUE                               // stepInput.UE
	slotUH                               // stepInput.UH, numHist slots
	slotH             = slotUH + numHist // stepInput.H, numHist slots
	numSlots          = slotH + numHist
)

// pack lays k out in the slot order, shape [numSlots].
func (k stepInput) pack() []float64 {
	v := make([]float64, numSlots)
	v[slotX0], v[slotEps], v[slotXt], v[slotSigma] = k.X0, k.Eps, k.Xt, k.Sigma
	v[slotSqrtAbar], v[slotSqrtOneMin] = k.SqrtAbar, k.SqrtOneMin
	v[slotSqrtAbarCur], v[slotSqrtOneMinCur] = math.Sqrt(k.AbarCur), math.Sqrt(1-k.AbarCur)
	v[slotUX], v[slotU0], v[slotUE] = k.UX, k.U0, k.UE
	copy(v[slotUH:], k.UH[:])
	copy(v[slotH:], k.H[:])
	return v
}

// stepNodes are the packed scalars of a stepInput inside the step graph, each a
// scalar node named as the slot it comes from.
type stepNodes struct {
	X0, Eps, Xt, Sigma         *graph.Node
	SqrtAbar, SqrtOneMin       *graph.Node
	SqrtAbarCur, SqrtOneMinCur *graph.Node
	UX, U0, UE                 *graph.Node
	UH, H                      [numHist]*graph.Node
}

// unpackStep reads the slots of a packed step tensor of shape [numSlots].
func unpackStep(coefs *graph.Node) stepNodes {
	c := func(i int) *graph.Node { return graph.Reshape(graph.Slice(coefs, graph.AxisElem(i))) }
	n := stepNodes{
		X0: c(slotX0), Eps: c(slotEps), Xt: c(slotXt), Sigma: c(slotSigma),
		SqrtAbar: c(slotSqrtAbar), SqrtOneMin: c(slotSqrtOneMin),
		SqrtAbarCur: c(slotSqrtAbarCur), SqrtOneMinCur: c(slotSqrtOneMinCur),
		UX: c(slotUX), U0: c(slotU0), UE: c(slotUE),
	}
	for j := range numHist {
		n.UH[j], n.H[j] = c(slotUH+j), c(slotH+j)
	}
	return n
}

// coefTensor is k packed into a tensor of the sampler's dtype.
func (sm *Sampler) coefTensor(k stepInput) *tensors.Tensor {
	return tensorOf(k.pack(), sm.DType, []int{numSlots})
}

// newStepExec compiles one reverse step (or one inversion step) as a graph of
// (x_t, z, t, coefs, h_0, h_1, h_2) -> (x_next, x0_hat, eps_hat, u), the
// combination of stepInput. The timestep and the coefficients are
// inputs, so one compiled graph serves every step.
func (sm *Sampler) newStepExec(invert bool) *model.Exec {
	store := sm.Denoiser.Store
	if store == nil {
		store = model.NewStore()
	}
	clip := sm.Config.ClipX0
	pred := sm.Denoiser.Prediction
	fn := sm.Denoiser.Fn
	return model.MustNewExec(sm.Backend, store, func(scope *model.Scope, in []*graph.Node) []*graph.Node {
		x, z, t, coefs, hist := in[0], in[1], in[2], in[3], in[4:]
		batch := x.Shape().Dimensions[0]
		tb := graph.BroadcastToDims(t, batch)
		out := fn(scope, x, tb)
		k := unpackStep(coefs)
		eps, x0 := EpsAndX0(pred, out, x, k.SqrtAbar, k.SqrtOneMin)
		if invert {
			// x0_hat is relative to the current noise level a_cur, not to t.
			x0 = graph.Div(graph.Sub(x, graph.Mul(k.SqrtOneMinCur, eps)), k.SqrtAbarCur)
		} else if clip > 0 {
			x0 = graph.ClipScalar(x0, -clip, clip)
			eps = graph.Div(graph.Sub(x, graph.Mul(k.SqrtAbar, x0)), k.SqrtOneMin)
		}
		u := graph.Add(graph.Add(graph.Mul(k.UX, x), graph.Mul(k.U0, x0)), graph.Mul(k.UE, eps))
		xNext := graph.Add(graph.Add(graph.Mul(k.X0, x0), graph.Mul(k.Eps, eps)), graph.Mul(k.Sigma, z))
		for j, h := range hist {
			u = graph.Add(u, graph.Mul(k.UH[j], h))
			xNext = graph.Add(xNext, graph.Mul(k.H[j], h))
		}
		xNext = graph.Add(xNext, graph.Mul(k.Xt, u))
		return []*graph.Node{xNext, x0, eps, u}
	})
}

func toFloat32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

// toFloat64 copies a float32 or float64 tensor's values.
func toFloat64(t *tensors.Tensor) []float64 {
	switch t.DType() {
	case dtypes.Float64:
		return tensors.MustCopyFlatData[float64](t)
	case dtypes.Float32:
		f := tensors.MustCopyFlatData[float32](t)
		out := make([]float64, len(f))
		for i, v := range f {
			out[i] = float64(v)
		}
		return out
	}
	panic(fmt.Sprintf("diffusion: unsupported dtype %s", t.DType()))
}

package diffusion

import (
	"fmt"
	"math"
	"strings"
)

// ScheduleKind names a family of beta schedules. The list is append-only: a kind,
// once released, keeps its meaning so that recorded runs stay reproducible.
type ScheduleKind string

const (
	// Linear is Ho et al. (2020): beta_t = linspace(BetaStart, BetaEnd, T), defaults 1e-4 and 0.02.
	Linear ScheduleKind = "linear"
	// ScaledLinear is linspace(sqrt(BetaStart), sqrt(BetaEnd), T)^2, defaults 0.00085 and 0.012
	// (the Stable Diffusion schedule; diffusers' "scaled_linear").
	ScaledLinear ScheduleKind = "scaled-linear"
	// Cosine is Nichol & Dhariwal (2021) eq. (17): abar(t) = f(t)/f(0) with
	// f(t) = cos^2(((t/T + s)/(1 + s)) pi/2), s = 0.008, and
	// beta_t = min(1 - abar(t+1)/abar(t), 0.999). BetaStart and BetaEnd are not used.
	Cosine ScheduleKind = "cosine"
	// Sigmoid is beta_t = sigmoid(linspace(-6, 6, T)) (BetaEnd - BetaStart) + BetaStart,
	// defaults 1e-4 and 0.02 (the GeoDiff schedule).
	Sigmoid ScheduleKind = "sigmoid"
	// Custom uses ScheduleConfig.Betas as given.
	Custom ScheduleKind = "custom"
)

// ScheduleKinds lists every kind, in the order they were added.
var ScheduleKinds = []ScheduleKind{Linear, ScaledLinear, Cosine, Sigmoid, Custom}

// ParseScheduleKind returns the kind named s, or an error listing the allowed names.
func ParseScheduleKind(s string) (ScheduleKind, error) {
	return parseEnum("schedule kind", s, ScheduleKinds)
}

// parseEnum returns the element of all named s, or an error naming what was asked
// for and listing the allowed names.
func parseEnum[K ~string](what, s string, all []K) (K, error) {
	for _, k := range all {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown %s %q, want one of %s", what, s, joinKinds(all))
}

func joinKinds[K ~string](ks []K) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// ScheduleConfig describes a beta schedule.
type ScheduleConfig struct {
	// Kind of schedule. Required.
	Kind ScheduleKind `json:"kind" toml:"kind"`
	// T is the number of diffusion steps, T >= 1. Default 1000 when zero.
	T int `json:"T" toml:"T"`
	// BetaStart and BetaEnd bound the Linear, ScaledLinear and Sigmoid schedules.
	// Zero means the kind's default (1e-4 and 0.02; 0.00085 and 0.012 for ScaledLinear).
	BetaStart float64 `json:"beta_start,omitempty" toml:"beta_start"`
	BetaEnd   float64 `json:"beta_end,omitempty" toml:"beta_end"`
	// Betas are the user's betas for Custom; T is then len(Betas). Ignored by other kinds.
	Betas []float64 `json:"betas,omitempty" toml:"betas"`
	// ZeroTerminalSNR rescales the schedule so that abar_{T-1} = 0 exactly: the
	// last step destroys all signal (Lin et al. 2024, arXiv 2305.08891,
	// Algorithm 1; see ZeroTerminalSNR). Samplers that visit t = T-1 then need a
	// model that predicts x0 or v there.
	ZeroTerminalSNR bool `json:"zero_terminal_snr,omitempty" toml:"zero_terminal_snr"`
}

// DefaultT is the number of steps used when ScheduleConfig.T is zero.
const DefaultT = 1000

// withDefaults fills zero fields with the kind's defaults.
func (c ScheduleConfig) withDefaults() ScheduleConfig {
	if c.Kind == Custom {
		c.T = len(c.Betas)
		return c
	}
	if c.T == 0 {
		c.T = DefaultT
	}
	if c.BetaStart == 0 && c.BetaEnd == 0 {
		switch c.Kind {
		case ScaledLinear:
			c.BetaStart, c.BetaEnd = 0.00085, 0.012
		default:
			c.BetaStart, c.BetaEnd = 1e-4, 0.02
		}
	}
	return c
}

// Schedule holds the tables of a beta schedule, all of length T and indexed by the
// 0-based timestep t. They are computed once, in float64, by NewSchedule; do not
// modify them.
type Schedule struct {
	Config ScheduleConfig

	Betas  []float64 // beta_t
	Alphas []float64 // alpha_t = 1 - beta_t
	// AlphasCumprod is abar_t = prod_{i<=t} alpha_i.
	AlphasCumprod []float64
	// AlphasCumprodPrev is abar_{t-1}, with abar_{-1} = 1.
	AlphasCumprodPrev []float64
	// SqrtAlphasCumprod is sqrt(abar_t), the signal scale of x_t.
	SqrtAlphasCumprod []float64
	// SqrtOneMinusAlphasCumprod is sqrt(1 - abar_t), the noise scale of x_t.
	SqrtOneMinusAlphasCumprod []float64
	// SqrtRecipAlphasCumprod is 1/sqrt(abar_t).
	SqrtRecipAlphasCumprod []float64
	// SqrtRecipm1AlphasCumprod is sqrt(1/abar_t - 1).
	SqrtRecipm1AlphasCumprod []float64
	// SNR is abar_t / (1 - abar_t).
	SNR []float64
	// PosteriorVariance is beta-tilde_t = beta_t (1 - abar_{t-1}) / (1 - abar_t), the variance
	// of q(x_{t-1} | x_t, x_0) (Ho et al. 2020, eq. (7)). It is 0 at t = 0.
	PosteriorVariance []float64
	// PosteriorLogVarianceClipped is log(beta-tilde_t) with the t = 0 entry (log 0)
	// replaced by log(beta-tilde_1), as in Ho et al.'s code; for T = 1 it is log(beta_0).
	PosteriorLogVarianceClipped []float64
	// PosteriorMeanCoef1 multiplies x_0 in the posterior mean (Ho et al. 2020, eq. (7)):
	// beta_t sqrt(abar_{t-1}) / (1 - abar_t).
	PosteriorMeanCoef1 []float64
	// PosteriorMeanCoef2 multiplies x_t in the posterior mean:
	// (1 - abar_{t-1}) sqrt(alpha_t) / (1 - abar_t).
	PosteriorMeanCoef2 []float64
}

// NewSchedule computes the tables of the schedule c. It returns an error naming the
// field when T < 1, the kind is unknown, or any beta falls outside (0, 1).
func NewSchedule(c ScheduleConfig) (*Schedule, error) {
	c = c.withDefaults()
	if c.Kind == "" {
		return nil, fmt.Errorf("schedule: field \"kind\" is empty, want one of %s", joinKinds(ScheduleKinds))
	}
	if _, err := ParseScheduleKind(string(c.Kind)); err != nil {
		return nil, fmt.Errorf("schedule: field \"kind\": %w", err)
	}
	if c.T < 1 {
		if c.Kind == Custom {
			return nil, fmt.Errorf("schedule: field \"betas\" is empty, want at least one beta in (0, 1)")
		}
		return nil, fmt.Errorf("schedule: field \"T\" = %d, want T >= 1", c.T)
	}
	if c.Kind == Linear || c.Kind == ScaledLinear || c.Kind == Sigmoid {
		for _, f := range []struct {
			name string
			v    float64
		}{{"beta_start", c.BetaStart}, {"beta_end", c.BetaEnd}} {
			if !(f.v > 0 && f.v < 1) {
				return nil, fmt.Errorf("schedule: field %q = %v, want a value in (0, 1)", f.name, f.v)
			}
		}
	}
	var betas []float64
	switch c.Kind {
	case Linear:
		betas = linspace(c.BetaStart, c.BetaEnd, c.T)
	case ScaledLinear:
		betas = linspace(math.Sqrt(c.BetaStart), math.Sqrt(c.BetaEnd), c.T)
		for i, b := range betas {
			betas[i] = b * b
		}
	case Cosine:
		betas = cosineBetas(c.T, 0.008, 0.999)
	case Sigmoid:
		betas = linspace(-6, 6, c.T)
		for i, x := range betas {
			betas[i] = 1/(1+math.Exp(-x))*(c.BetaEnd-c.BetaStart) + c.BetaStart
		}
	case Custom:
		betas = append([]float64(nil), c.Betas...)
	}
	for i, b := range betas {
		if !(b > 0 && b < 1) {
			return nil, fmt.Errorf("schedule %s: beta[%d] = %v, want every beta in (0, 1)", c.Kind, i, b)
		}
	}
	if c.ZeroTerminalSNR {
		if c.T < 2 {
			return nil, fmt.Errorf("schedule: field \"zero_terminal_snr\" needs T >= 2, got T = %d", c.T)
		}
		betas = ZeroTerminalSNR(betas)
	}
	return newScheduleFromBetas(c, betas), nil
}

// ZeroTerminalSNR returns betas rescaled to a zero terminal SNR, Lin et al.
// (2024, arXiv 2305.08891) Algorithm 1: with r_t = sqrt(abar_t) of betas,
//
//	r'_t = (r_t - r_{T-1}) r_0 / (r_0 - r_{T-1})
//
// so that r'_0 = r_0 and r'_{T-1} = 0, then abar'_t = r'_t^2 and beta'_t = 1 -
// abar'_t / abar'_{t-1} (beta'_0 = 1 - abar'_0), which makes beta'_{T-1} = 1.
func ZeroTerminalSNR(betas []float64) []float64 {
	T := len(betas)
	r := make([]float64, T)
	prod := 1.0
	for t, b := range betas {
		prod *= 1 - b
		r[t] = math.Sqrt(prod)
	}
	r0, rT := r[0], r[T-1]
	out := make([]float64, T)
	prev := 1.0
	for t := range r {
		v := (r[t] - rT) * r0 / (r0 - rT)
		if t == T-1 {
			v = 0 // exactly, whatever the rounding above
		}
		abar := v * v
		out[t] = 1 - abar/prev
		prev = abar
	}
	return out
}

// MustNewSchedule is NewSchedule for configurations known to be valid; it panics on error.
func MustNewSchedule(c ScheduleConfig) *Schedule {
	s, err := NewSchedule(c)
	if err != nil {
		panic(err)
	}
	return s
}

func newScheduleFromBetas(c ScheduleConfig, betas []float64) *Schedule {
	T := len(betas)
	s := &Schedule{Config: c, Betas: betas}
	mk := func() []float64 { return make([]float64, T) }
	s.Alphas, s.AlphasCumprod, s.AlphasCumprodPrev = mk(), mk(), mk()
	s.SqrtAlphasCumprod, s.SqrtOneMinusAlphasCumprod = mk(), mk()
	s.SqrtRecipAlphasCumprod, s.SqrtRecipm1AlphasCumprod, s.SNR = mk(), mk(), mk()
	s.PosteriorVariance, s.PosteriorLogVarianceClipped = mk(), mk()
	s.PosteriorMeanCoef1, s.PosteriorMeanCoef2 = mk(), mk()
	prod := 1.0
	for t, b := range betas {
		a := 1 - b
		s.Alphas[t] = a
		s.AlphasCumprodPrev[t] = prod
		prod *= a
		s.AlphasCumprod[t] = prod
	}
	for t := range betas {
		ab, abPrev, b := s.AlphasCumprod[t], s.AlphasCumprodPrev[t], betas[t]
		s.SqrtAlphasCumprod[t] = math.Sqrt(ab)
		s.SqrtOneMinusAlphasCumprod[t] = math.Sqrt(1 - ab)
		s.SqrtRecipAlphasCumprod[t] = math.Sqrt(1 / ab)
		s.SqrtRecipm1AlphasCumprod[t] = math.Sqrt(1/ab - 1)
		s.SNR[t] = ab / (1 - ab)
		s.PosteriorVariance[t] = b * (1 - abPrev) / (1 - ab)
		s.PosteriorMeanCoef1[t] = b * math.Sqrt(abPrev) / (1 - ab)
		s.PosteriorMeanCoef2[t] = (1 - abPrev) * math.Sqrt(s.Alphas[t]) / (1 - ab)
	}
	for t := range betas {
		switch {
		case t > 0:
			s.PosteriorLogVarianceClipped[t] = math.Log(s.PosteriorVariance[t])
		case T > 1:
			s.PosteriorLogVarianceClipped[0] = math.Log(s.PosteriorVariance[1])
		default:
			s.PosteriorLogVarianceClipped[0] = math.Log(betas[0])
		}
	}
	return s
}

// T is the number of diffusion steps.
func (s *Schedule) T() int { return len(s.Betas) }

// QSampleTo writes into dst the sample of q(x_t | x_0) at one timestep t for the
// noise eps given, value by value in float64 (Ho et al. 2020, eq. (4)):
//
//	x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps
//
// It is the forward process on plain slices; QSample is the same formula as graph
// code with a t per example. It panics when x0, eps and dst differ in length or t is
// outside 0..T-1.
func (s *Schedule) QSampleTo(dst []float64, t int, x0, eps []float64) {
	if len(x0) != len(eps) || len(dst) != len(x0) {
		panic(fmt.Sprintf("diffusion: Schedule.QSampleTo: len(x0) = %d, len(eps) = %d, len(dst) = %d, want them equal", len(x0), len(eps), len(dst)))
	}
	if t < 0 || t >= s.T() {
		panic(fmt.Sprintf("diffusion: Schedule.QSampleTo: t = %d outside 0..%d", t, s.T()-1))
	}
	a, b := s.SqrtAlphasCumprod[t], s.SqrtOneMinusAlphasCumprod[t]
	for i := range x0 {
		dst[i] = a*x0[i] + b*eps[i]
	}
}

// linspace is numpy.linspace(start, stop, n): n evenly spaced values, both ends included.
func linspace(start, stop float64, n int) []float64 {
	out := make([]float64, n)
	if n == 1 {
		out[0] = start
		return out
	}
	step := (stop - start) / float64(n-1)
	for i := range out {
		out[i] = start + float64(i)*step
	}
	out[n-1] = stop
	return out
}

// cosineBetas is Nichol & Dhariwal (2021) eq. (17), as in improved-diffusion's
// betas_for_alpha_bar: beta_t = min(1 - abar((t+1)/T)/abar(t/T), maxBeta).
func cosineBetas(T int, s, maxBeta float64) []float64 {
	f := func(u float64) float64 {
		c := math.Cos((u + s) / (1 + s) * math.Pi / 2)
		return c * c
	}
	betas := make([]float64, T)
	for t := range betas {
		t1, t2 := float64(t)/float64(T), float64(t+1)/float64(T)
		betas[t] = math.Min(1-f(t2)/f(t1), maxBeta)
	}
	return betas
}

package diffusion

import (
	"math"
	"strings"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func allSchedules(t *testing.T) []*Schedule {
	t.Helper()
	var out []*Schedule
	for _, c := range []ScheduleConfig{
		{Kind: Linear}, {Kind: ScaledLinear}, {Kind: Cosine}, {Kind: Sigmoid},
		{Kind: Linear, T: 1}, {Kind: Cosine, T: 7}, {Kind: Custom, Betas: []float64{0.1, 0.2, 0.3}},
	} {
		s, err := NewSchedule(c)
		if err != nil {
			t.Fatalf("NewSchedule(%+v): %v", c, err)
		}
		out = append(out, s)
	}
	return out
}

// TestScheduleIdentities checks every derived table against its definition in float64.
func TestScheduleIdentities(t *testing.T) {
	for _, s := range allSchedules(t) {
		prod := 1.0
		for i := 0; i < s.T(); i++ {
			name := string(s.Config.Kind)
			b := s.Betas[i]
			if !near(s.AlphasCumprodPrev[i], prod, 1e-12) {
				t.Errorf("%s: AlphasCumprodPrev[%d] = %v, want %v", name, i, s.AlphasCumprodPrev[i], prod)
			}
			prod *= 1 - b
			ab, ap := s.AlphasCumprod[i], s.AlphasCumprodPrev[i]
			checks := []struct {
				what      string
				got, want float64
			}{
				{"Alphas", s.Alphas[i], 1 - b},
				{"AlphasCumprod", ab, prod},
				{"SqrtAlphasCumprod^2", s.SqrtAlphasCumprod[i] * s.SqrtAlphasCumprod[i], ab},
				{"SqrtOneMinusAlphasCumprod^2", s.SqrtOneMinusAlphasCumprod[i] * s.SqrtOneMinusAlphasCumprod[i], 1 - ab},
				{"SqrtRecipAlphasCumprod*sqrt", s.SqrtRecipAlphasCumprod[i] * s.SqrtAlphasCumprod[i], 1},
				{"SqrtRecipm1^2", s.SqrtRecipm1AlphasCumprod[i] * s.SqrtRecipm1AlphasCumprod[i], 1/ab - 1},
				{"SNR", s.SNR[i] * (1 - ab), ab},
			}
			// The posterior q(x_{t-1} | x_t, x_0) by completing the square:
			// q(x_{t-1} | x_0) = N(sqrt(ap) x_0, 1 - ap), q(x_t | x_{t-1}) = N(sqrt(alpha) x_{t-1}, beta).
			if i > 0 {
				prec := 1/(1-ap) + (1-b)/b
				v := 1 / prec
				checks = append(checks,
					struct {
						what      string
						got, want float64
					}{"PosteriorVariance", s.PosteriorVariance[i], v},
					struct {
						what      string
						got, want float64
					}{"PosteriorMeanCoef1", s.PosteriorMeanCoef1[i], v * math.Sqrt(ap) / (1 - ap)},
					struct {
						what      string
						got, want float64
					}{"PosteriorMeanCoef2", s.PosteriorMeanCoef2[i], v * math.Sqrt(1-b) / b},
					struct {
						what      string
						got, want float64
					}{"PosteriorLogVarianceClipped", s.PosteriorLogVarianceClipped[i], math.Log(v)},
				)
			} else {
				// At t = 0 the posterior is a point mass at x_0.
				checks = append(checks,
					struct {
						what      string
						got, want float64
					}{"PosteriorVariance[0]", s.PosteriorVariance[0], 0},
					struct {
						what      string
						got, want float64
					}{"PosteriorMeanCoef1[0]", s.PosteriorMeanCoef1[0], 1},
					struct {
						what      string
						got, want float64
					}{"PosteriorMeanCoef2[0]", s.PosteriorMeanCoef2[0], 0},
				)
			}
			for _, c := range checks {
				if !near(c.got, c.want, 1e-12*math.Max(1, math.Abs(c.want))) {
					t.Errorf("%s T=%d: %s[%d] = %.17g, want %.17g", name, s.T(), c.what, i, c.got, c.want)
				}
			}
		}
		if s.T() > 1 && s.PosteriorLogVarianceClipped[0] != s.PosteriorLogVarianceClipped[1] {
			t.Errorf("%s: PosteriorLogVarianceClipped[0] = %v, want the t = 1 value %v", s.Config.Kind, s.PosteriorLogVarianceClipped[0], s.PosteriorLogVarianceClipped[1])
		}
	}
}

// TestScheduleReferenceNumbers checks values published elsewhere.
func TestScheduleReferenceNumbers(t *testing.T) {
	lin := MustNewSchedule(ScheduleConfig{Kind: Linear, T: 1000})
	// diffusers tests/schedulers/test_scheduler_ddim.py, test_variance:
	// scheduler._get_variance(420, 400) = 0.14771, (980, 960) = 0.32460, (487, 486) = 0.00979,
	// for beta_start 1e-4, beta_end 0.02, linear, 1000 steps. _get_variance is sigma^2 at eta = 1.
	for _, c := range []struct {
		t, prev int
		want    float64
	}{{420, 400, 0.1477195}, {980, 960, 0.3246052}, {487, 486, 0.0097916}, {0, 0, 0}} {
		s := DDIMSigma(1, lin.AlphasCumprod[c.t], lin.AlphasCumprod[c.prev])
		if !near(s*s, c.want, 1e-6) {
			t.Errorf("DDIMSigma(1, abar[%d], abar[%d])^2 = %.7f, want %.7f", c.t, c.prev, s*s, c.want)
		}
	}
	if lin.Betas[0] != 1e-4 || lin.Betas[999] != 0.02 {
		t.Errorf("linear betas[0], betas[999] = %v, %v, want 1e-4, 0.02", lin.Betas[0], lin.Betas[999])
	}
	// Nichol & Dhariwal (2021) cosine schedule, improved-diffusion betas_for_alpha_bar:
	// beta_0 = 1 - f(1/T)/f(0) ~ 4.128e-5 at T = 1000, last beta clipped to 0.999.
	cos := MustNewSchedule(ScheduleConfig{Kind: Cosine, T: 1000})
	if !near(cos.Betas[0], 4.128e-5, 0.001e-5) {
		t.Errorf("cosine beta_0 = %v, want about 4.128e-5", cos.Betas[0])
	}
	if cos.Betas[999] != 0.999 {
		t.Errorf("cosine beta_999 = %v, want 0.999", cos.Betas[999])
	}
	sl := MustNewSchedule(ScheduleConfig{Kind: ScaledLinear, T: 1000})
	if !near(sl.Betas[0], 0.00085, 1e-15) || !near(sl.Betas[999], 0.012, 1e-15) {
		t.Errorf("scaled-linear ends = %v, %v, want 0.00085, 0.012", sl.Betas[0], sl.Betas[999])
	}
	// sqrt(beta) is linear: the midpoint of sqrt(beta) for T = 3.
	sl3 := MustNewSchedule(ScheduleConfig{Kind: ScaledLinear, T: 3})
	mid := (math.Sqrt(0.00085) + math.Sqrt(0.012)) / 2
	if !near(sl3.Betas[1], mid*mid, 1e-15) {
		t.Errorf("scaled-linear T=3 beta_1 = %v, want %v", sl3.Betas[1], mid*mid)
	}
	// Sigmoid: symmetric around the middle, sigmoid(0) = 1/2 at the centre of an odd T.
	sg := MustNewSchedule(ScheduleConfig{Kind: Sigmoid, T: 101})
	if !near(sg.Betas[50], (1e-4+0.02)/2, 1e-15) {
		t.Errorf("sigmoid beta_50 = %v, want %v", sg.Betas[50], (1e-4+0.02)/2)
	}
	if !near(sg.Betas[0], 1/(1+math.Exp(6))*(0.02-1e-4)+1e-4, 1e-15) {
		t.Errorf("sigmoid beta_0 = %v", sg.Betas[0])
	}
}

func TestScheduleValidation(t *testing.T) {
	for _, c := range []struct {
		cfg  ScheduleConfig
		want string
	}{
		{ScheduleConfig{Kind: "quadratic"}, `unknown schedule kind "quadratic"`},
		{ScheduleConfig{}, `field "kind" is empty`},
		{ScheduleConfig{Kind: Linear, T: -3}, `field "T" = -3`},
		{ScheduleConfig{Kind: Linear, BetaStart: 0.1, BetaEnd: 1.5}, `field "beta_end" = 1.5`},
		{ScheduleConfig{Kind: Linear, BetaStart: -0.1, BetaEnd: 0.2}, `field "beta_start" = -0.1`},
		{ScheduleConfig{Kind: Custom}, `field "betas" is empty`},
		{ScheduleConfig{Kind: Custom, Betas: []float64{0.1, 1}}, `beta[1] = 1`},
		{ScheduleConfig{Kind: Custom, Betas: []float64{0.1, math.NaN()}}, `beta[1] = NaN`},
	} {
		_, err := NewSchedule(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewSchedule(%+v) error = %v, want it to contain %q", c.cfg, err, c.want)
		}
	}
}

func TestParameterisationRoundTrips(t *testing.T) {
	for _, abar := range []float64{0.9999, 0.5, 0.01, 4e-5} {
		x0, eps := 0.7, -1.3
		xt := math.Sqrt(abar)*x0 + math.Sqrt(1-abar)*eps
		v := VFromEpsX0(eps, x0, abar)
		for _, c := range []struct {
			what      string
			got, want float64
		}{
			{"PredictX0FromEps", PredictX0FromEps(xt, eps, abar), x0},
			{"PredictEpsFromX0", PredictEpsFromX0(xt, x0, abar), eps},
			{"PredictX0FromV", PredictX0FromV(xt, v, abar), x0},
			{"PredictEpsFromV", PredictEpsFromV(xt, v, abar), eps},
		} {
			if !near(c.got, c.want, 1e-9/math.Sqrt(abar)) {
				t.Errorf("abar=%v: %s = %.15g, want %.15g", abar, c.what, c.got, c.want)
			}
		}
	}
}

package diffusion

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/difflab/difflab/pkg/gmm"
)

// The references below are written from the papers, on host slices in
// float64, with the exact denoiser of gmm.Mixture (X0At, EpsAt): none of them
// goes through solvers.go's coefficients or the step graph.

// hostExact evaluates the exact denoiser point by point: x0_hat and eps_hat at
// noise level a.
func hostExact(g *gmm.Mixture, x []float64, a float64) (x0, eps []float64) {
	D := g.Dim()
	for p := 0; p < len(x); p += D {
		x0 = append(x0, g.X0At(x[p:p+D], a)...)
		eps = append(eps, g.EpsAt(x[p:p+D], a)...)
	}
	return x0, eps
}

// refLevels are abar at the visited timesteps (noisiest first), then 1.
func refLevels(s *Schedule, ts []int) []float64 {
	var as []float64
	for i := len(ts) - 1; i >= 0; i-- {
		as = append(as, s.AlphasCumprod[ts[i]])
	}
	return append(as, 1)
}

func lambdaOf(a float64) float64 { return math.Log(math.Sqrt(a)) - math.Log(math.Sqrt(1-a)) }

// combine returns sum_k c_k v_k.
func combine(c []float64, v ...[]float64) []float64 {
	out := make([]float64, len(v[0]))
	for k, vk := range v {
		for i := range out {
			out[i] += c[k] * vk[i]
		}
	}
	return out
}

// refDPMPP2M is DPM-Solver++(2M), Lu et al. 2022 Algorithm 2, as the contract of
// the sampler states it.
func refDPMPP2M(g *gmm.Mixture, as, x []float64) []float64 {
	var prevX0 []float64
	var hPrev float64
	S := len(as) - 1
	for i := 0; i < S; i++ {
		a, an := as[i], as[i+1]
		x0, _ := hostExact(g, x, a)
		h := lambdaOf(an) - lambdaOf(a)
		D := x0
		if i > 0 && i < S-1 {
			r := hPrev / h
			D = combine([]float64{1 + 1/(2*r), -1 / (2 * r)}, x0, prevX0)
		}
		x = combine([]float64{math.Sqrt(1-an) / math.Sqrt(1-a), -math.Sqrt(an) * (math.Exp(-h) - 1)}, x, D)
		prevX0, hPrev = x0, h
	}
	return x
}

// refUniPC is UniPC-2 (bh2) with data prediction in the structure of Zhao et al.
// 2023's Algorithms 2 and 3 (and of diffusers' UniPCMultistepScheduler): the
// corrector UniC refines the last sample with the new model output, then the
// predictor UniP steps on; the orders are min(2, steps so far, steps left).
func refUniPC(g *gmm.Mixture, as, x []float64) []float64 {
	S := len(as) - 1
	var ms [][]float64 // model outputs, newest last
	var lams []float64 // their lambdas
	var last []float64
	order := 0
	// coefficients solves sum_k rho_k r_k^(p-1) = phi_p p!/B(h) for p = 1..n.
	rhos := func(n int, h float64, rks []float64) []float64 {
		hh := -h
		hphi1 := math.Exp(hh) - 1
		hphik := hphi1/hh - 1
		fact := 1.0
		bh := hphi1
		var b []float64
		for p := 1; p <= n; p++ {
			b = append(b, hphik*fact/bh)
			fact *= float64(p + 1)
			hphik = hphik/hh - 1/fact
		}
		if n == 1 {
			return []float64{0.5}
		}
		// [[1, 1], [r1, r2]] rho = b, by Cramer's rule.
		det := rks[1] - rks[0]
		return []float64{(b[0]*rks[1] - b[1]) / det, (b[1] - b[0]*rks[0]) / det}
	}
	for i := 0; i < S; i++ {
		a := as[i]
		m, _ := hostExact(g, x, a)
		lam := lambdaOf(a)
		if i > 0 { // UniC: correct x with m
			m0, l0 := ms[len(ms)-1], lams[len(lams)-1]
			h := lam - l0
			al, sg, sg0 := math.Sqrt(a), math.Sqrt(1-a), math.Sqrt(1-as[i-1])
			xt := combine([]float64{sg / sg0, -al * (math.Exp(-h) - 1)}, last, m0)
			corr := make([]float64, len(x))
			rks := []float64{1}
			var d1s [][]float64
			if order == 2 {
				rk := (lams[len(lams)-2] - l0) / h
				rks = []float64{rk, 1}
				d1s = append(d1s, combine([]float64{1 / rk, -1 / rk}, ms[len(ms)-2], m0))
			}
			rho := rhos(order, h, rks)
			for k, d := range d1s {
				corr = combine([]float64{1, rho[k]}, corr, d)
			}
			corr = combine([]float64{1, rho[len(rho)-1], -rho[len(rho)-1]}, corr, m, m0)
			x = combine([]float64{1, -al * (math.Exp(-h) - 1)}, xt, corr)
		}
		ms, lams = append(ms, m), append(lams, lam)
		order = min(2, S-i, i+1)
		last = x
		// UniP from x.
		an := as[i+1]
		h := lambdaOf(an) - lam
		e := math.Exp(-h) - 1
		next := combine([]float64{math.Sqrt(1-an) / math.Sqrt(1-a), -math.Sqrt(an) * e}, x, m)
		if order == 2 {
			rk := (lams[len(lams)-2] - lam) / h
			d1 := combine([]float64{1 / rk, -1 / rk}, ms[len(ms)-2], m)
			next = combine([]float64{1, -math.Sqrt(an) * e * 0.5}, next, d1)
		}
		x = next
	}
	return x
}

// refPLMS is PNDM's PLMS (Liu et al. 2022): Adams-Bashforth on eps_hat (orders
// 1, 2, 3 as warm-up, then 4), with the DDIM transfer through x0.
func refPLMS(g *gmm.Mixture, as, x []float64) []float64 {
	var es [][]float64 // newest first
	for i := 0; i < len(as)-1; i++ {
		a, an := as[i], as[i+1]
		_, e := hostExact(g, x, a)
		es = append([][]float64{e}, es...)
		var ep []float64
		switch len(es) {
		case 1:
			ep = es[0]
		case 2:
			ep = combine([]float64{1.5, -0.5}, es[0], es[1])
		case 3:
			ep = combine([]float64{23.0 / 12, -16.0 / 12, 5.0 / 12}, es[0], es[1], es[2])
		default:
			ep = combine([]float64{55.0 / 24, -59.0 / 24, 37.0 / 24, -9.0 / 24}, es[0], es[1], es[2], es[3])
		}
		x0 := combine([]float64{1 / math.Sqrt(a), -math.Sqrt(1-a) / math.Sqrt(a)}, x, ep)
		x = combine([]float64{math.Sqrt(an), math.Sqrt(1 - an)}, x0, ep)
	}
	return x
}

// refHeun is Karras et al. 2022 Algorithm 1 with S_churn = 0 in their variables:
// y = x/sqrt(a), sigma = sqrt((1 - a)/a), denoiser D(y; sigma) = E[x0 | x],
// d = (y - D)/sigma.
func refHeun(g *gmm.Mixture, as, x []float64) []float64 {
	sig := func(a float64) float64 { return math.Sqrt((1 - a) / a) }
	den := func(y []float64, a float64) []float64 {
		x0, _ := hostExact(g, combine([]float64{math.Sqrt(a)}, y), a)
		return x0
	}
	y := combine([]float64{1 / math.Sqrt(as[0])}, x)
	for i := 0; i < len(as)-1; i++ {
		s0, s1 := sig(as[i]), sig(as[i+1])
		d := combine([]float64{1 / s0, -1 / s0}, y, den(y, as[i]))
		yp := combine([]float64{1, s1 - s0}, y, d)
		if s1 == 0 {
			y = yp
			continue
		}
		dp := combine([]float64{1 / s1, -1 / s1}, yp, den(yp, as[i+1]))
		y = combine([]float64{1, (s1 - s0) / 2, (s1 - s0) / 2}, y, d, dp)
	}
	return y
}

var refSolvers = map[SamplerKind]func(*gmm.Mixture, []float64, []float64) []float64{
	DPMSolverPP2M: refDPMPP2M, UniPC: refUniPC, PLMS: refPLMS, Heun: refHeun,
}

// TestSolversGolden: a full float64 loop of each sampler on the exact denoiser
// against the reference written from its paper, to 1e-9 (relative beyond 1).
func TestSolversGolden(t *testing.T) {
	n := 16
	for _, c := range []struct {
		sched   ScheduleConfig
		spacing Spacing
		steps   int
	}{
		{ScheduleConfig{Kind: Linear}, Leading, 10},
		{ScheduleConfig{Kind: Cosine}, Trailing, 7},
		{ScheduleConfig{Kind: Linear}, Karras, 12},
		{ScheduleConfig{Kind: Linear, T: 200}, Leading, 2},
	} {
		s := MustNewSchedule(c.sched)
		d := ExactDenoiser(twoModes, s)
		xT := make([]float64, 2*n)
		NewPCGNoise(7).Fill(xT)
		for kind, ref := range refSolvers {
			sm := newSampler64(t, s, d, SamplerConfig{Kind: kind, Steps: c.steps, Spacing: c.spacing})
			res, err := sm.Sample([]int{n, 2}, xT, NewPCGNoise(1), SampleOptions{Trajectory: true})
			if err != nil {
				t.Fatal(err)
			}
			want := ref(twoModes, refLevels(s, sm.Timesteps()), xT)
			name := fmt.Sprintf("%s, %s %s S=%d", kind, c.sched.Kind, c.spacing, c.steps)
			if len(res.XT) != c.steps || len(res.Timesteps) != c.steps {
				t.Errorf("%s: %d trajectory states, %d timesteps; want %d", name, len(res.XT), len(res.Timesteps), c.steps)
			}
			for i := range want {
				if math.Abs(res.X0[i]-want[i]) > 1e-9*math.Max(1, math.Abs(want[i])) || math.IsNaN(res.X0[i]) {
					t.Errorf("%s: x0[%d] = %.12g, reference %.12g", name, i, res.X0[i], want[i])
					break
				}
			}
		}
	}
}

// TestDPMPP2MZeroTerminalSNR: the contract holds at abar = 0 too, where the
// first step's h is infinite (the reference gets the limit from float64 as is).
func TestSolversZeroTerminalSNR(t *testing.T) {
	s := MustNewSchedule(ScheduleConfig{Kind: Linear, ZeroTerminalSNR: true})
	n := 16
	xT := make([]float64, 2*n)
	NewPCGNoise(5).Fill(xT)
	x0d := ExactX0Denoiser(twoModes, s)
	for _, kind := range SamplerKinds {
		if kind == DDPM {
			continue // all T steps: covered by ddpm-strided at S = T below would be slow
		}
		for _, sp := range []Spacing{Trailing, Karras} {
			sm := newSampler64(t, s, x0d, SamplerConfig{Kind: kind, Steps: 10, Spacing: sp})
			if ts := sm.Timesteps(); ts[len(ts)-1] != 999 {
				t.Fatalf("%s spacing: timesteps %v do not visit t = 999", sp, ts)
			}
			res, err := sm.Sample([]int{n, 2}, xT, NewPCGNoise(1), SampleOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range res.X0 {
				if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 10 {
					t.Errorf("%s, %s, zero terminal SNR: x0[%d] = %v, want finite samples near the mixture", kind, sp, i, v)
					break
				}
			}
			if ref := refSolvers[kind]; ref != nil && (kind == DPMSolverPP2M || kind == UniPC) {
				want := ref(twoModes, refLevels(s, sm.Timesteps()), xT)
				for i := range want {
					if math.Abs(res.X0[i]-want[i]) > 1e-9 {
						t.Errorf("%s, %s, zero terminal SNR: x0[%d] = %.12g, reference %.12g", kind, sp, i, res.X0[i], want[i])
						break
					}
				}
			}
		}
		// An epsilon-prediction model cannot give x0 at abar = 0.
		_, err := NewSampler(testBackend(t), s, ExactDenoiser(twoModes, s), SamplerConfig{Kind: kind, Steps: 10, Spacing: Trailing})
		if err == nil || !strings.Contains(err.Error(), "epsilon-prediction") || !strings.Contains(err.Error(), "v- or x0-prediction") {
			t.Errorf("%s with an eps model at abar = 0: error %v, want one naming the fix", kind, err)
		}
	}
	// Leading spacing never visits t = T-1: an eps model is fine.
	if _, err := NewSampler(testBackend(t), s, ExactDenoiser(twoModes, s), SamplerConfig{Kind: DDIM, Steps: 10}); err != nil {
		t.Errorf("leading spacing with an eps model: %v", err)
	}
}

// TestZeroTerminalSNRTables checks Lin et al. 2024 Algorithm 1: abar_{T-1} = 0
// exactly, sqrt(abar_0) unchanged, sqrt(abar) an affine map of the original.
func TestZeroTerminalSNRTables(t *testing.T) {
	for _, kind := range []ScheduleKind{Linear, Cosine, ScaledLinear} {
		orig := MustNewSchedule(ScheduleConfig{Kind: kind})
		z := MustNewSchedule(ScheduleConfig{Kind: kind, ZeroTerminalSNR: true})
		T := z.T()
		if z.AlphasCumprod[T-1] != 0 || z.Betas[T-1] != 1 || z.SNR[T-1] != 0 {
			t.Errorf("%s: abar_{T-1} = %v, beta_{T-1} = %v, SNR = %v; want 0, 1, 0", kind, z.AlphasCumprod[T-1], z.Betas[T-1], z.SNR[T-1])
		}
		r0 := orig.SqrtAlphasCumprod[0]
		rT := orig.SqrtAlphasCumprod[T-1]
		for _, tt := range []int{0, 1, T / 2, T - 2} {
			want := (orig.SqrtAlphasCumprod[tt] - rT) * r0 / (r0 - rT)
			if got := z.SqrtAlphasCumprod[tt]; math.Abs(got-want) > 1e-12*want {
				t.Errorf("%s: sqrt(abar_%d) = %.15g, want %.15g", kind, tt, got, want)
			}
		}
		for tt := 1; tt < T; tt++ {
			if !(z.AlphasCumprod[tt] < z.AlphasCumprod[tt-1]) || !(z.Betas[tt] > 0 && z.Betas[tt] <= 1) {
				t.Fatalf("%s: abar not decreasing or beta outside (0, 1] at t = %d", kind, tt)
			}
		}
	}
	if _, err := NewSchedule(ScheduleConfig{Kind: Linear, T: 1, ZeroTerminalSNR: true}); err == nil {
		t.Error("zero terminal SNR with T = 1: no error")
	}
}

// TestConvergenceOrder: on the exact denoiser, the error of each deterministic
// sampler against a fine solution from the same x_T shrinks as h^p when the
// step h halves: ratio 2 for first-order DDIM, 4 for the second-order
// DPM-Solver++(2M) and Heun, at least 4 for UniPC (second order, its
// corrector can raise it). Linspace spacing on T = 1025 makes the steps
// uniform (T - 1 = 1024 = 8 (S - 1) for S = 129) and every run starts at t =
// T-1 and ends at t = 0; the reference is Heun over all T timesteps. The
// tolerances allow for the asymptotic regime being reached only roughly at
// S = 65 to 129. PLMS is left out: its Adams-Bashforth weights assume equal
// steps, and the last step, from t = 0 to abar = 1, is not, which caps its
// accuracy (see the samplers-nfe report).
func TestConvergenceOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("about 2 s")
	}
	s := MustNewSchedule(ScheduleConfig{Kind: Linear, T: 1025})
	d := ExactDenoiser(twoModes, s)
	n := 64
	xT := make([]float64, 2*n)
	NewPCGNoise(3).Fill(xT)
	run := func(k SamplerKind, S int) []float64 {
		sm := newSampler64(t, s, d, SamplerConfig{Kind: k, Steps: S, Spacing: Linspace})
		r, err := sm.Sample([]int{n, 2}, xT, NewPCGNoise(1), SampleOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r.X0
	}
	ref := run(Heun, 1025)
	rms := func(a []float64) float64 {
		e := 0.0
		for i := range a {
			e += (a[i] - ref[i]) * (a[i] - ref[i])
		}
		return math.Sqrt(e / float64(len(a)))
	}
	for _, c := range []struct {
		kind   SamplerKind
		lo, hi float64
	}{
		{DDIM, 1.8, 2.2},
		{DPMSolverPP2M, 3.4, 4.6},
		{Heun, 3.4, 4.6},
		{UniPC, 3.4, 8.8},
	} {
		e65, e129 := rms(run(c.kind, 65)), rms(run(c.kind, 129))
		if r := e65 / e129; !(r >= c.lo && r <= c.hi) {
			t.Errorf("%s: error %.3g at S = 65, %.3g at S = 129: ratio %.2f, want %.1f to %.1f", c.kind, e65, e129, r, c.lo, c.hi)
		}
	}
}

// TestNFE: one model evaluation a step, two for Heun but at the last step.
func TestNFE(t *testing.T) {
	s := MustNewSchedule(ScheduleConfig{Kind: Linear})
	d := ExactDenoiser(twoModes, s)
	for _, kind := range SamplerKinds {
		steps := 10
		if kind == DDPM {
			steps = 1000
		}
		sm := newSampler64(t, s, d, SamplerConfig{Kind: kind, Steps: steps})
		want := steps
		if kind == Heun {
			want = 2*steps - 1
		}
		if got := sm.NFE(); got != want {
			t.Errorf("%s: NFE %d, want %d", kind, got, want)
		}
	}
	z := MustNewSchedule(ScheduleConfig{Kind: Linear, ZeroTerminalSNR: true})
	sm := newSampler64(t, z, ExactX0Denoiser(twoModes, z), SamplerConfig{Kind: Heun, Steps: 10, Spacing: Trailing})
	if got := sm.NFE(); got != 18 {
		t.Errorf("heun from abar = 0: NFE %d, want 18 (the first step is Euler only)", got)
	}
}

// TestDDPMVariancesPinned pins the DDPM variances to their closed forms (Ho et
// al. 2020, section 3.2, on the respaced process of the DDIM paper's
// sigma-hat): fixed-large sigma^2 = 1 - a_t/a_prev, fixed-small sigma^2 =
// (1 - a_prev)/(1 - a_t) (1 - a_t/a_prev), and no noise at the last step.
func TestDDPMVariancesPinned(t *testing.T) {
	s := MustNewSchedule(ScheduleConfig{Kind: Cosine})
	for _, kind := range []SamplerKind{DDPM, DDPMStrided} {
		for _, v := range Variances {
			c := SamplerConfig{Kind: kind, Steps: 20, Variance: v}
			if kind == DDPM {
				c.Steps = 0
			}
			for _, tp := range [][2]int{{999, 949}, {500, 450}, {50, 0}, {1, 0}, {0, -1}} {
				tt, prev := tp[0], tp[1]
				if kind == DDPM && prev >= 0 {
					prev = tt - 1
				}
				at := s.AlphasCumprod[tt]
				ap := 1.0
				if prev >= 0 {
					ap = s.AlphasCumprod[prev]
				}
				want := 0.0
				if prev >= 0 {
					want = 1 - at/ap
					if v == FixedSmall {
						want *= (1 - ap) / (1 - at)
					}
				}
				k := s.Coefs(c, tt, prev)
				if got := k.Sigma * k.Sigma; math.Abs(got-want) > 1e-14*math.Max(want, 1e-300) {
					t.Errorf("%s %s, t = %d -> %d: sigma^2 = %.16g, want %.16g", kind, v, tt, prev, got, want)
				}
			}
		}
	}
}

package diffusion

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/difflab/difflab/pkg/backend"
	"github.com/difflab/difflab/pkg/gmm"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

func testBackend(t testing.TB) compute.Backend {
	t.Helper()
	b, err := backend.New()
	if err != nil {
		t.Fatalf("backend.New: %v", err)
	}
	return b
}

// fixedNoise replays a recorded sequence of draws, so that two samplers can be fed
// exactly the same noise.
type fixedNoise struct {
	draws []float64
	pos   int
}

func (f *fixedNoise) Fill(dst []float64) {
	for i := range dst {
		dst[i] = f.draws[f.pos%len(f.draws)]
		f.pos++
	}
}

func newSampler64(t testing.TB, s *Schedule, d Denoiser, c SamplerConfig) *Sampler {
	t.Helper()
	sm, err := NewSampler(testBackend(t), s, d, c)
	if err != nil {
		t.Fatalf("NewSampler(%+v): %v", c, err)
	}
	sm.DType = dtypes.Float64
	return sm
}

var twoModes = &gmm.Mixture{
	Weights: []float64{0.3, 0.7},
	Means:   [][]float64{{-2, 1}, {1.5, -0.5}},
	Stds:    []float64{0.3, 0.5},
}

// TestDDPMFixedSmallEqualsDDIMEta1 checks the DDIM paper's remark below eq. (16):
// with eta = 1 and S = T, DDIM is DDPM with the posterior variance.
func TestDDPMFixedSmallEqualsDDIMEta1(t *testing.T) {
	s := MustNewSchedule(ScheduleConfig{Kind: Linear, T: 200})
	rng := rand.New(rand.NewPCG(1, 2))
	draws := make([]float64, 8*2*201)
	for i := range draws {
		draws[i] = rng.NormFloat64()
	}
	run := func(c SamplerConfig) []float64 {
		sm := newSampler64(t, s, ExactDenoiser(twoModes, s), c)
		res, err := sm.Sample([]int{8, 2}, nil, &fixedNoise{draws: draws}, SampleOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return res.X0
	}
	ddpm := run(SamplerConfig{Kind: DDPM, Variance: FixedSmall})
	ddim := run(SamplerConfig{Kind: DDIM, Steps: 200, Eta: 1})
	for i := range ddpm {
		if !near(ddpm[i], ddim[i], 1e-9) {
			t.Fatalf("sample[%d]: DDPM fixed-small = %.15g, DDIM eta=1 = %.15g", i, ddpm[i], ddim[i])
		}
	}
	// And the two variances really differ: fixed-large gives other samples.
	large := run(SamplerConfig{Kind: DDPM, Variance: FixedLarge})
	if near(large[0], ddpm[0], 1e-6) && near(large[1], ddpm[1], 1e-6) {
		t.Errorf("fixed-large gave the same sample as fixed-small: %v", large[:2])
	}
}

// TestDDIMClosedFormGaussian drives DDIM (eta = 0) with the exact denoiser of a single
// Gaussian N(mu, s^2 I). Then eps_hat = sqrt(1-a)(x - sqrt(a) mu)/v with
// v = a s^2 + 1 - a, and each step maps x - sqrt(a_t) mu to
// (x - sqrt(a_t) mu) (sqrt(a_prev a_t) s^2 + sqrt((1 - a_prev)(1 - a_t))) / v_t plus
// sqrt(a_prev) mu: the final sample is a product of these factors.
func TestDDIMClosedFormGaussian(t *testing.T) {
	const mu, sd = 0.8, 0.25
	g := &gmm.Mixture{Weights: []float64{1}, Means: [][]float64{{mu}}, Stds: []float64{sd}}
	for _, kind := range []ScheduleKind{Linear, Cosine} {
		s := MustNewSchedule(ScheduleConfig{Kind: kind, T: 1000})
		for _, S := range []int{1, 10, 50} {
			sm := newSampler64(t, s, ExactDenoiser(g, s), SamplerConfig{Kind: DDIM, Steps: S, Spacing: Trailing})
			xT := []float64{-1.7, 0, 0.4, 2.5}
			res, err := sm.Sample([]int{4, 1}, xT, NewPCGNoise(1), SampleOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ts := sm.Timesteps()
			for i, x := range xT {
				for j := len(ts) - 1; j >= 0; j-- {
					at := s.AlphasCumprod[ts[j]]
					ap := 1.0
					if j > 0 {
						ap = s.AlphasCumprod[ts[j-1]]
					}
					v := at*sd*sd + 1 - at
					f := (math.Sqrt(ap*at)*sd*sd + math.Sqrt((1-ap)*(1-at))) / v
					x = math.Sqrt(ap)*mu + f*(x-math.Sqrt(at)*mu)
				}
				if !near(res.X0[i], x, 1e-10) {
					t.Errorf("%s S=%d: DDIM(x_T=%v) = %.15g, closed form %.15g", kind, S, xT[i], res.X0[i], x)
				}
			}
		}
	}
}

func TestDDIMEta0Deterministic(t *testing.T) {
	s := MustNewSchedule(ScheduleConfig{Kind: Linear})
	sm := newSampler64(t, s, ExactDenoiser(twoModes, s), SamplerConfig{Kind: DDIM, Steps: 20})
	xT := make([]float64, 16)
	NewPCGNoise(7).Fill(xT)
	a, err := sm.Sample([]int{8, 2}, xT, NewPCGNoise(1), SampleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := sm.Sample([]int{8, 2}, xT, NewPCGNoise(2), SampleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.X0 {
		if a.X0[i] != b.X0[i] {
			t.Fatalf("DDIM eta=0 sample[%d] differs with other noise: %v vs %v", i, a.X0[i], b.X0[i])
		}
	}
	// eta > 0 does use the noise.
	sm1 := newSampler64(t, s, ExactDenoiser(twoModes, s), SamplerConfig{Kind: DDIM, Steps: 20, Eta: 0.5})
	c, _ := sm1.Sample([]int{8, 2}, xT, NewPCGNoise(1), SampleOptions{})
	d, _ := sm1.Sample([]int{8, 2}, xT, NewPCGNoise(2), SampleOptions{})
	if c.X0[0] == d.X0[0] {
		t.Errorf("DDIM eta=0.5 ignores the noise")
	}
}

// TestInversionReconstructs checks the DDIM paper's section 5.4: encoding x_0 with
// the deterministic update and decoding it back reconstructs x_0, better with more steps.
func TestInversionReconstructs(t *testing.T) {
	s := MustNewSchedule(ScheduleConfig{Kind: Linear})
	x0 := [][]float64{{-2.1, 0.9}, {1.2, -0.3}, {1.9, -1.0}, {-1.8, 1.3}}
	flat := []float64{}
	for _, p := range x0 {
		flat = append(flat, p...)
	}
	var errs []float64
	for _, S := range []int{10, 50, 200} {
		sm := newSampler64(t, s, ExactDenoiser(twoModes, s), SamplerConfig{Kind: DDIM, Steps: S})
		xT, err := sm.Invert([]int{4, 2}, flat)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := sm.Sample([]int{4, 2}, xT, NewPCGNoise(1), SampleOptions{})
		if err != nil {
			t.Fatal(err)
		}
		mse := 0.0
		for i := range flat {
			mse += (rec.X0[i] - flat[i]) * (rec.X0[i] - flat[i])
		}
		errs = append(errs, mse/float64(len(flat)))
	}
	t.Logf("reconstruction MSE for S = 10, 50, 200: %v", errs)
	if !(errs[0] > errs[1] && errs[1] > errs[2]) {
		t.Errorf("reconstruction MSE %v does not shrink as S grows", errs)
	}
	if errs[2] > 1e-3 {
		t.Errorf("reconstruction MSE at S = 200 is %v, want < 1e-3", errs[2])
	}
}

// TestExactDenoiserMatchesEpsAt checks the graph denoiser against gmm.Mixture.EpsAt
// (itself checked against the score of the marginal in package gmm) at the points of
// that test: three per timestep, t = 0, 10, 50, 99 of a cosine schedule.
func TestExactDenoiserMatchesEpsAt(t *testing.T) {
	g := &gmm.Mixture{Weights: []float64{0.2, 0.5, 0.3}, Means: [][]float64{{-1, 0, 2}, {1, 1, 0}, {0, -2, 1}}, Stds: []float64{0.5, 0.2, 1.0}}
	s := MustNewSchedule(ScheduleConfig{Kind: Cosine, T: 100})
	rng := rand.New(rand.NewPCG(3, 4))
	var xs []float64
	var ts []int32
	for _, tt := range []int{0, 10, 50, 99} {
		for range 3 {
			xs = append(xs, rng.NormFloat64()*2, rng.NormFloat64()*2, rng.NormFloat64()*2)
			ts = append(ts, int32(tt))
		}
	}
	got := evalDenoiser(t, ExactDenoiser(g, s), xs, ts, 3)
	for i := range ts {
		want := g.EpsAt(xs[3*i:3*i+3], s.AlphasCumprod[ts[i]])
		for j := range want {
			if !near(got[3*i+j], want[j], 1e-12) {
				t.Errorf("graph oracle [%d][%d] = %v, EpsAt = %v", i, j, got[3*i+j], want[j])
			}
		}
	}
}

// TestOracleDDPMSamplesMatchMixture samples the mixture with 1000 DDPM steps and
// the exact denoiser, and checks the weights, means and stds of the samples. With
// n = 2000 the standard error of a weight is sqrt(0.3 * 0.7 / 2000) ~ 0.010; of a
// mean, sigma / sqrt(n_k) <= 0.5 / sqrt(600) ~ 0.020. Tolerances are 4 standard errors.
func TestOracleDDPMSamplesMatchMixture(t *testing.T) {
	if testing.Short() {
		t.Skip("1000-step sampling of 2000 points; skipped with -short")
	}
	s := MustNewSchedule(ScheduleConfig{Kind: Linear})
	sm := newSampler64(t, s, ExactDenoiser(twoModes, s), SamplerConfig{Kind: DDPM})
	const n = 2000
	res, err := sm.Sample([]int{n, 2}, nil, NewPCGNoise(42), SampleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkMixtureStats(t, twoModes, res.X0, n, 4)
}

// checkMixtureStats assigns each sample to its most likely component and compares
// the weights, means and per-coordinate stds with the mixture's, at k standard errors.
func checkMixtureStats(t *testing.T, g *gmm.Mixture, x []float64, n int, k float64) {
	t.Helper()
	D, K := g.Dim(), len(g.Weights)
	count := make([]float64, K)
	sum := make([][]float64, K)
	sq := make([][]float64, K)
	for c := range sum {
		sum[c], sq[c] = make([]float64, D), make([]float64, D)
	}
	for i := 0; i < n; i++ {
		p := x[i*D : i*D+D]
		best, bestL := 0, math.Inf(-1)
		for c := 0; c < K; c++ {
			one := &gmm.Mixture{Weights: []float64{1}, Means: [][]float64{g.Means[c]}, Stds: []float64{g.Stds[c]}}
			if l := math.Log(g.Weights[c]) + one.LogDensity(p); l > bestL {
				best, bestL = c, l
			}
		}
		count[best]++
		for j, v := range p {
			sum[best][j] += v
			sq[best][j] += v * v
		}
	}
	for c := 0; c < K; c++ {
		w := count[c] / float64(n)
		if se := math.Sqrt(g.Weights[c] * (1 - g.Weights[c]) / float64(n)); math.Abs(w-g.Weights[c]) > k*se {
			t.Errorf("component %d: weight %.4f, want %.4f +- %.4f", c, w, g.Weights[c], k*se)
		}
		for j := 0; j < D; j++ {
			m := sum[c][j] / count[c]
			sd := math.Sqrt(sq[c][j]/count[c] - m*m)
			if se := g.Stds[c] / math.Sqrt(count[c]); math.Abs(m-g.Means[c][j]) > k*se {
				t.Errorf("component %d coord %d: mean %.4f, want %.4f +- %.4f", c, j, m, g.Means[c][j], k*se)
			}
			// The std of a sample std is about sigma / sqrt(2 n_k).
			if se := g.Stds[c] / math.Sqrt(2*count[c]); math.Abs(sd-g.Stds[c]) > k*se {
				t.Errorf("component %d coord %d: std %.4f, want %.4f +- %.4f", c, j, sd, g.Stds[c], k*se)
			}
		}
	}
}

func TestSamplerConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  SamplerConfig
		want string
	}{
		{SamplerConfig{Kind: "pndm", Steps: 10}, `unknown sampler "pndm"`},
		{SamplerConfig{Kind: DPMSolverPP2M, Steps: 10, Eta: 0.5}, "only ddim has an eta"},
		{SamplerConfig{Kind: DDIM, Steps: 1001}, "steps = 1001, want 1 <= steps <= T = 1000"},
		{SamplerConfig{Kind: DDIM, Steps: 0}, "steps = 0"},
		{SamplerConfig{Kind: DDIM, Steps: 10, Eta: -0.1}, "eta = -0.1"},
		{SamplerConfig{Kind: DDIM, Steps: 10, Spacing: "uniform"}, `unknown spacing "uniform"`},
		{SamplerConfig{Kind: DDPM, Steps: 10}, "ddpm runs all T = 1000 steps"},
		{SamplerConfig{Kind: DDPMStrided, Steps: 10, Variance: "learned"}, `unknown variance "learned"`},
		{SamplerConfig{Kind: DDIM, Steps: 10, ClipX0: -1}, "clip_x0 = -1"},
	} {
		err := c.cfg.Validate(1000)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want it to contain %q", c.cfg, err, c.want)
		}
	}
}

// TestClipX0 checks that clipping bounds x0_hat and that the final sample (which
// is x0_hat of the last step) is inside [-c, c].
func TestClipX0(t *testing.T) {
	far := &gmm.Mixture{Weights: []float64{1}, Means: [][]float64{{5, -5}}, Stds: []float64{0.1}}
	s := MustNewSchedule(ScheduleConfig{Kind: Linear})
	sm := newSampler64(t, s, ExactDenoiser(far, s), SamplerConfig{Kind: DDIM, Steps: 10, ClipX0: 1})
	res, err := sm.Sample([]int{4, 2}, nil, NewPCGNoise(1), SampleOptions{Trajectory: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, x0 := range res.X0Hat {
		for _, v := range x0 {
			if v < -1 || v > 1 {
				t.Fatalf("x0_hat %v outside [-1, 1]", v)
			}
		}
	}
	if len(res.XT) != 10 || len(res.Timesteps) != 10 || res.Timesteps[0] != 900 {
		t.Errorf("trajectory has %d states, timesteps %v", len(res.XT), res.Timesteps)
	}
}

// TestStepPackRoundTrip packs a step with a distinct value in every field and reads
// it back inside a graph: each named node must hold its own field, whatever the slot
// order, and the inversion's a_cur must not come from AbarPrev.
func TestStepPackRoundTrip(t *testing.T) {
	k := stepInput{StepCoefs: StepCoefs{AbarPrev: 0.5, X0: 2, Eps: 3, Xt: 5, Sigma: 7, SqrtAbar: 11, SqrtOneMin: 13}, AbarCur: 0.36}
	e := graph.MustNewExec(testBackend(t), func(in []*graph.Node) []*graph.Node {
		n := unpackStep(in[0])
		return []*graph.Node{n.X0, n.Eps, n.Xt, n.Sigma, n.SqrtAbar, n.SqrtOneMin, n.SqrtAbarCur, n.SqrtOneMinCur}
	})
	out := e.MustExec(tensors.FromValue(k.pack()))
	for i, want := range []float64{2, 3, 5, 7, 11, 13, 0.6, 0.8} {
		if got := toFloat64(out[i])[0]; math.Abs(got-want) > 1e-15 {
			t.Errorf("unpackStep(pack(k)) output %d = %v, want %v", i, got, want)
		}
	}
}

// countingNoise counts the draws and the Fill calls it serves; with failAt > 0 its
// failAt-th Fill panics with an error (as Sample's other failures do).
type countingNoise struct {
	rng          *rand.Rand
	draws, fills int
	failAt       int
}

func (c *countingNoise) Fill(dst []float64) {
	c.fills++
	if c.fills == c.failAt {
		panic(errors.New("countingNoise: the source failed"))
	}
	for i := range dst {
		dst[i] = c.rng.NormFloat64()
	}
	c.draws += len(dst)
}

// TestSampleDrawsExactlyItsNoise checks that Sample, which draws the noise ahead of
// its steps, takes x_T and one z per stochastic step from the source and nothing
// more: every step but the last adds noise (Ho et al. 2020, Algorithm 2: z = 0 at
// t = 1; DDIM's sigma is 0 when abar_prev = 1), and DDIM with eta = 0 adds none. It
// also checks that a second call continues the source where the first stopped, and
// that a source that panics makes Sample return an error.
func TestSampleDrawsExactlyItsNoise(t *testing.T) {
	s := MustNewSchedule(ScheduleConfig{Kind: Linear, T: 40})
	d := ExactDenoiser(twoModes, s)
	shape := []int{5, 2}
	const n = 10
	for _, tc := range []struct {
		cfg   SamplerConfig
		noisy int
	}{
		{SamplerConfig{Kind: DDPM}, 39},
		{SamplerConfig{Kind: DDIM, Steps: 10, Eta: 1}, 9},
		{SamplerConfig{Kind: DDIM, Steps: 10, Eta: 0.5}, 9},
		{SamplerConfig{Kind: DDIM, Steps: 10, Eta: 0}, 0},
		{SamplerConfig{Kind: DDPMStrided, Steps: 8}, 7},
		{SamplerConfig{Kind: Heun, Steps: 6}, 0},
	} {
		sm := newSampler64(t, s, d, tc.cfg)
		src := &countingNoise{rng: rand.New(rand.NewPCG(3, 4))}
		first, err := sm.Sample(shape, nil, src, SampleOptions{})
		if err != nil {
			t.Fatalf("%+v: %v", tc.cfg, err)
		}
		if want := n * (1 + tc.noisy); src.draws != want || src.fills != 1+tc.noisy {
			t.Errorf("%+v: drew %d values in %d fills, want %d in %d", tc.cfg, src.draws, src.fills, want, 1+tc.noisy)
		}
		second, err := sm.Sample(shape, nil, src, SampleOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// The same two runs from a source replaying its draws in order.
		replay := rand.New(rand.NewPCG(3, 4))
		draws := make([]float64, 2*n*(1+tc.noisy))
		for i := range draws {
			draws[i] = replay.NormFloat64()
		}
		fixed := &fixedNoise{draws: draws}
		for i, want := range []*SampleResult{first, second} {
			got, err := sm.Sample(shape, nil, fixed, SampleOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.X0, want.X0) {
				t.Errorf("%+v: run %d differs from the same draws replayed: %v vs %v", tc.cfg, i+1, want.X0, got.X0)
			}
		}
	}

	sm := newSampler64(t, s, d, SamplerConfig{Kind: DDPM})
	_, err := sm.Sample(shape, nil, &countingNoise{rng: rand.New(rand.NewPCG(1, 1)), failAt: 5}, SampleOptions{})
	if err == nil || !strings.Contains(err.Error(), "the source failed") {
		t.Errorf("Sample with a failing noise source: error %v, want one naming the failure", err)
	}
}

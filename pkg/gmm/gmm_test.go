package gmm

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// TestEpsAtMatchesScore checks eps* = -sqrt(1 - abar) grad log q_t(x) by central
// differences of the marginal's log-density. The noise levels are abar_t of the
// cosine schedule with T = 100 (diffusion.Cosine) at t = 0, 10, 50, 99, printed to
// full precision, from almost no noise to almost pure noise.
func TestEpsAtMatchesScore(t *testing.T) {
	g := &Mixture{Weights: []float64{0.2, 0.5, 0.3}, Means: [][]float64{{-1, 0, 2}, {1, 1, 0}, {0, -2, 1}}, Stds: []float64{0.5, 0.2, 1.0}}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		t    int
		abar float64
	}{{0, 0.99936871840165831}, {10, 0.96671670488052752}, {50, 0.47826463294547827}, {99, 2.4285722793500615e-07}} {
		abar := c.abar
		m := g.marginal(abar)
		for range 3 {
			x := []float64{rng.NormFloat64() * 2, rng.NormFloat64() * 2, rng.NormFloat64() * 2}
			eps := g.EpsAt(x, abar)
			const h = 1e-5
			for j := range x {
				xp := append([]float64(nil), x...)
				xm := append([]float64(nil), x...)
				xp[j] += h
				xm[j] -= h
				score := (m.LogDensity(xp) - m.LogDensity(xm)) / (2 * h)
				if want := -math.Sqrt(1-abar) * score; !near(eps[j], want, 1e-6*math.Max(1, math.Abs(want))) {
					t.Errorf("t=%d x=%v: eps[%d] = %.10g, -sqrt(1-abar) d/dx log q = %.10g", c.t, x, j, eps[j], want)
				}
			}
		}
	}
}

// TestGaussianPosterior: for one component N(mu, s^2 I), E[eps | x_t] and
// E[x_0 | x_t] are linear in x_t, with v = abar s^2 + 1 - abar:
//
//	eps* = sqrt(1 - abar) (x_t - sqrt(abar) mu) / v
//	x0*  = mu + sqrt(abar) s^2 (x_t - sqrt(abar) mu) / v
//
// With two components far apart, x_t near one of them is pulled to its mean.
func TestGaussianPosterior(t *testing.T) {
	const mu, s, abar = 0.8, 0.25, 0.3
	g := &Mixture{Weights: []float64{1}, Means: [][]float64{{mu, -mu}}, Stds: []float64{s}}
	x := []float64{-1.7, 0.4}
	eps, x0 := g.EpsAt(x, abar), g.X0At(x, abar)
	for j, m := range []float64{mu, -mu} {
		r := (x[j] - math.Sqrt(abar)*m) / (abar*s*s + 1 - abar)
		if want := math.Sqrt(1-abar) * r; !near(eps[j], want, 1e-15) {
			t.Errorf("EpsAt(%v, %v)[%d] = %.17g, want %.17g", x, abar, j, eps[j], want)
		}
		if want := m + math.Sqrt(abar)*s*s*r; !near(x0[j], want, 1e-14) {
			t.Errorf("X0At(%v, %v)[%d] = %.17g, want %.17g", x, abar, j, x0[j], want)
		}
	}
	two := &Mixture{Weights: []float64{0.5, 0.5}, Means: [][]float64{{-3}, {3}}, Stds: []float64{0.01, 0.01}}
	if got := two.X0At([]float64{0.99 * 3}, 0.99*0.99)[0]; !near(got, 3, 1e-3) {
		t.Errorf("X0At(2.97, 0.98) = %.6g, want near the mean 3 of the nearer component", got)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "len(x) = 1, want 2") {
			t.Errorf("X0At of a 1-D point in 2-D: recover() = %v, want a panic naming the lengths", r)
		}
	}()
	g.X0At([]float64{1}, abar)
}

// TestLogDensity checks log p against the closed form of one isotropic Gaussian,
// -D/2 log(2 pi s^2) - |x - mu|^2 / (2 s^2), and of two equal components at the
// same mean, which is the same density.
func TestLogDensity(t *testing.T) {
	mu, s := []float64{1, -2, 0.5}, 0.7
	x := []float64{0.3, -1.1, 2}
	r2 := 0.0
	for j := range x {
		r2 += (x[j] - mu[j]) * (x[j] - mu[j])
	}
	want := -1.5*math.Log(2*math.Pi*s*s) - r2/(2*s*s)
	one := &Mixture{Weights: []float64{1}, Means: [][]float64{mu}, Stds: []float64{s}}
	two := &Mixture{Weights: []float64{0.5, 0.5}, Means: [][]float64{mu, mu}, Stds: []float64{s, s}}
	for name, g := range map[string]*Mixture{"one": one, "two": two} {
		if got := g.LogDensity(x); !near(got, want, 1e-14) {
			t.Errorf("%s: LogDensity(%v) = %.17g, want %.17g", name, x, got, want)
		}
	}
	// Far from every mean each term underflows exp, but log-sum-exp does not.
	far := []float64{1e3, 0, 0}
	if got := two.LogDensity(far); math.IsInf(got, 0) || math.IsNaN(got) {
		t.Errorf("LogDensity(%v) = %v, want a finite value", far, got)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "len(x) = 2, want 3") {
			t.Errorf("LogDensity of a 2-D point in 3-D: recover() = %v, want a panic naming the lengths", r)
		}
	}()
	one.LogDensity([]float64{1, 2})
}

// TestSampleSeeded: the same source state gives the same points, one component's
// weight 1 puts every point near its mean, and the rows have length D.
func TestSampleSeeded(t *testing.T) {
	g := &Mixture{Weights: []float64{0, 1}, Means: [][]float64{{-5, 0}, {5, 1}}, Stds: []float64{0.1, 0.01}}
	a := g.Sample(50, rand.New(rand.NewPCG(1, 1)))
	b := g.Sample(50, rand.New(rand.NewPCG(1, 1)))
	for i := range a {
		if len(a[i]) != 2 || a[i][0] != b[i][0] || a[i][1] != b[i][1] {
			t.Fatalf("point %d: %v and %v from the same seed", i, a[i], b[i])
		}
		// 0.1 is 10 standard deviations of the chosen component.
		if !near(a[i][0], 5, 0.1) || !near(a[i][1], 1, 0.1) {
			t.Errorf("point %d = %v, want near the only weighted mean (5, 1)", i, a[i])
		}
	}
}

func TestValidate(t *testing.T) {
	ok := func() *Mixture {
		return &Mixture{Weights: []float64{0.5, 0.5}, Means: [][]float64{{0, 0}, {1, 1}}, Stds: []float64{1, 2}}
	}
	if err := ok().Validate(); err != nil {
		t.Fatalf("Validate of a valid mixture = %v", err)
	}
	for _, c := range []struct {
		name  string
		spoil func(g *Mixture)
		want  string
	}{
		{"no components", func(g *Mixture) { *g = Mixture{} }, `"weights": empty`},
		{"means count", func(g *Mixture) { g.Means = g.Means[:1] }, `"means": 1 components, but "weights" has 2`},
		{"stds count", func(g *Mixture) { g.Stds = g.Stds[:1] }, `"stds": 1 components`},
		{"negative weight", func(g *Mixture) { g.Weights = []float64{1.5, -0.5} }, `"weights[1]" = -0.5`},
		{"NaN weight", func(g *Mixture) { g.Weights[0] = math.NaN() }, `"weights[0]" = NaN`},
		{"sum", func(g *Mixture) { g.Weights = []float64{0.5, 0.2} }, "sum is 0.7, want 1"},
		{"empty mean", func(g *Mixture) { g.Means = [][]float64{{}, {}} }, `"means[0]": empty`},
		{"ragged means", func(g *Mixture) { g.Means[1] = []float64{1} }, `"means[1]": dimension 1, but "means[0]" has 2`},
		{"infinite mean", func(g *Mixture) { g.Means[1][0] = math.Inf(1) }, `"means[1][0]" = +Inf`},
		{"zero std", func(g *Mixture) { g.Stds[1] = 0 }, `"stds[1]" = 0, want a finite number > 0`},
	} {
		g := ok()
		c.spoil(g)
		if err := g.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate() = %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	g, err := Load(write("ok.json", `{"weights": [0.25, 0.75], "means": [[-2, 0], [2, 1]], "stds": [0.3, 0.5]}`))
	if err != nil {
		t.Fatal(err)
	}
	if g.Dim() != 2 || g.Weights[1] != 0.75 || g.Means[1][1] != 1 || g.Stds[0] != 0.3 {
		t.Errorf("Load = %+v, want the file's weights, means and stds", g)
	}
	for _, c := range []struct{ name, path, want string }{
		{"missing", filepath.Join(dir, "none.json"), "no such file"},
		{"malformed", write("bad.json", `{"weights": [1],`), "malformed JSON"},
		{"typo", write("typo.json", `{"weight": [1], "means": [[0]], "stds": [1]}`), `unknown field "weight"`},
		{"invalid", write("sum.json", `{"weights": [0.5], "means": [[0]], "stds": [1]}`), "sum is 0.5"},
	} {
		if _, err := Load(c.path); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%s) = %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

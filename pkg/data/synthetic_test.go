package data

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/difflab/difflab/pkg/gmm"
)

// meanStd returns the per-coordinate mean and standard deviation of rows.
func meanStd(rows [][]float64) (mean, std []float64) {
	d := len(rows[0])
	mean, std = make([]float64, d), make([]float64, d)
	for _, r := range rows {
		for j, v := range r {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(len(rows))
	}
	for _, r := range rows {
		for j, v := range r {
			std[j] += (v - mean[j]) * (v - mean[j])
		}
	}
	for j := range std {
		std[j] = math.Sqrt(std[j] / float64(len(rows)))
	}
	return mean, std
}

func checkShape(t *testing.T, d *Dataset, name string, n, dim int) {
	t.Helper()
	if err := d.Validate(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if d.Name != name || d.Len() != n || !slices.Equal(d.Shape, []int{dim}) {
		t.Fatalf("dataset %q of %d examples of shape %v, want %q, %d, {%d}", d.Name, d.Len(), d.Shape, name, n, dim)
	}
}

// TestEightGaussians: with 80000 points each mode gets 1/8 within 0.01 (7 sigma of
// the binomial, sqrt(1/8 * 7/8 / 80000) = 0.0012), every point is nearest to the
// mean of its label, and the spread about the means is std within 2% (the standard
// error of a std estimate from 160000 values is 0.18%).
func TestEightGaussians(t *testing.T) {
	const n, std = 80000, DefaultEightGaussiansStd
	d, err := EightGaussians(n, std, 1)
	if err != nil {
		t.Fatal(err)
	}
	checkShape(t, d, "8gaussians", n, 2)
	counts := make([]int, 8)
	var ss float64
	for i, p := range d.Points() {
		k := d.Labels[i]
		counts[k]++
		best, bestD := -1, math.Inf(1)
		for j := range 8 {
			mu := EightGaussiansMean(j)
			if dd := math.Hypot(p[0]-mu[0], p[1]-mu[1]); dd < bestD {
				best, bestD = j, dd
			}
		}
		if best != k {
			t.Fatalf("point %d = %v labelled %d is nearest to mode %d", i, p, k, best)
		}
		mu := EightGaussiansMean(k)
		ss += (p[0]-mu[0])*(p[0]-mu[0]) + (p[1]-mu[1])*(p[1]-mu[1])
	}
	for k, c := range counts {
		if f := float64(c) / n; math.Abs(f-0.125) > 0.01 {
			t.Errorf("mode %d has %.4f of the points, want 0.125 +- 0.01", k, f)
		}
	}
	if got := math.Sqrt(ss / (2 * n)); math.Abs(got/std-1) > 0.02 {
		t.Errorf("spread about the modes = %.5f, want %.5f within 2%%", got, std)
	}
	for k := range 8 {
		mu := EightGaussiansMean(k)
		if r := math.Hypot(mu[0], mu[1]); math.Abs(r-2) > 1e-15 {
			t.Errorf("|EightGaussiansMean(%d)| = %v, want 2", k, r)
		}
	}
	if mu := EightGaussiansMean(2); math.Abs(mu[0]) > 1e-15 || mu[1] != 2 {
		t.Errorf("EightGaussiansMean(2) = %v, want (0, 2)", mu)
	}
}

// TestMoons: without noise every point lies on its arc (to float32 rounding), the
// labels split n = 1001 as 500 and 501 like sklearn, and the arc endpoints are
// present; with noise 0.05 the radial residual has RMS 0.05 within 5%.
func TestMoons(t *testing.T) {
	d, err := Moons(1001, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	checkShape(t, d, "moons", 1001, 2)
	counts := [2]int{}
	for i, p := range d.Points() {
		k := d.Labels[i]
		counts[k]++
		cx, cy, side := 0.0, 0.0, 1.0 // moon 0: unit circle about (0, 0), y >= 0
		if k == 1 {
			cx, cy, side = 1, 0.5, -1 // moon 1: unit circle about (1, 0.5), y <= 0.5
		}
		if r := math.Hypot(p[0]-cx, p[1]-cy); math.Abs(r-1) > 1e-6 || side*(p[1]-cy) < -1e-6 {
			t.Fatalf("point %d = %v of moon %d is off its arc (radius %v)", i, p, k, r)
		}
	}
	if counts != [2]int{500, 501} {
		t.Errorf("label counts = %v, want [500 501]", counts)
	}
	pts := d.Points()
	for _, end := range [][]float64{{1, 0}, {-1, 0}, {0, 0.5}, {2, 0.5}} {
		if !slices.ContainsFunc(pts, func(p []float64) bool { return math.Hypot(p[0]-end[0], p[1]-end[1]) < 1e-6 }) {
			t.Errorf("no point at arc end %v", end)
		}
	}

	const noise = 0.05
	d, err = Moons(20000, noise, 4)
	if err != nil {
		t.Fatal(err)
	}
	var ss float64
	for i, p := range d.Points() {
		cx, cy := 0.0, 0.0
		if d.Labels[i] == 1 {
			cx, cy = 1, 0.5
		}
		r := math.Hypot(p[0]-cx, p[1]-cy)
		ss += (r - 1) * (r - 1)
	}
	if rms := math.Sqrt(ss / 20000); math.Abs(rms/noise-1) > 0.05 {
		t.Errorf("RMS distance to the arcs = %.4f, want %.4f within 5%%", rms, noise)
	}
}

// TestSwissRoll: without noise each point is t (cos t, sin t)/7 for some t in
// [1.5 pi, 4.5 pi], and the data lie in [-2.05, 2.05]^2; the mean of t over 20000
// points is 3 pi within 2% (t is uniform; its standard error is 0.4%).
func TestSwissRoll(t *testing.T) {
	d, err := SwissRoll(20000, 0, 5)
	if err != nil {
		t.Fatal(err)
	}
	checkShape(t, d, "swissroll", 20000, 2)
	if d.Labels != nil {
		t.Errorf("Labels = %v..., want nil", d.Labels[:3])
	}
	var sumT float64
	for i, p := range d.Points() {
		if math.Abs(p[0]) > 2.05 || math.Abs(p[1]) > 2.05 {
			t.Fatalf("point %d = %v outside [-2.05, 2.05]^2", i, p)
		}
		tt := SwissRollScale * math.Hypot(p[0], p[1])
		if tt < 1.5*math.Pi-1e-4 || tt > 4.5*math.Pi+1e-4 {
			t.Fatalf("point %d = %v has t = %v, want in [1.5 pi, 4.5 pi]", i, p, tt)
		}
		// The angle of the point is t modulo 2 pi.
		da := math.Remainder(math.Atan2(p[1], p[0])-tt, 2*math.Pi)
		if math.Abs(da) > 1e-4 {
			t.Fatalf("point %d = %v: angle differs from t = %v by %v", i, p, tt, da)
		}
		sumT += tt
	}
	if m := sumT / 20000; math.Abs(m/(3*math.Pi)-1) > 0.02 {
		t.Errorf("mean t = %v, want 3 pi = %v within 2%%", m, 3*math.Pi)
	}
}

// TestFromGMM: the empirical mean of 40000 points is the mixture mean
// sum_k w_k mu_k within 5 standard errors (the mixture's variance per coordinate is
// sum_k w_k (s_k^2 + mu_k^2) - mean^2).
func TestFromGMM(t *testing.T) {
	g := &gmm.Mixture{
		Weights: []float64{0.3, 0.7},
		Means:   [][]float64{{-1, 2}, {2, 0}},
		Stds:    []float64{0.5, 0.2},
	}
	const n = 40000
	d, err := FromGMM(g, n, 6)
	if err != nil {
		t.Fatal(err)
	}
	checkShape(t, d, "gmm", n, 2)
	mean, _ := meanStd(d.Points())
	for j := range 2 {
		var m, m2 float64
		for k, w := range g.Weights {
			m += w * g.Means[k][j]
			m2 += w * (g.Stds[k]*g.Stds[k] + g.Means[k][j]*g.Means[k][j])
		}
		se := math.Sqrt((m2 - m*m) / n)
		if math.Abs(mean[j]-m) > 5*se {
			t.Errorf("mean[%d] = %.4f, want %.4f +- %.4f", j, mean[j], m, 5*se)
		}
	}
	if _, err := FromGMM(nil, 3, 0); err == nil {
		t.Errorf("FromGMM(nil) = nil error, want one")
	}
	if _, err := FromGMM(&gmm.Mixture{}, 3, 0); err == nil || !strings.Contains(err.Error(), "weights") {
		t.Errorf("FromGMM(empty mixture) = %v, want an error naming \"weights\"", err)
	}
}

// TestSamplersMatchDatasets: fresh samples have the dataset's mean and std per
// coordinate within 0.03 (both from 20000 points; the coordinates' std is at most
// 1.2, so 0.03 is more than 3 standard errors of the difference).
func TestSamplersMatchDatasets(t *testing.T) {
	const n = 20000
	for _, name := range []string{"moons", "swissroll", "8gaussians"} {
		d, err := Load(name, Options{N: n, Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewSampler(name, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if s.Dim() != 2 {
			t.Errorf("%s: Dim() = %d, want 2", name, s.Dim())
		}
		dm, ds := meanStd(d.Points())
		sm, ss := meanStd(s.Sample(n, rand.New(rand.NewPCG(8, 8))))
		for j := range 2 {
			if math.Abs(dm[j]-sm[j]) > 0.03 || math.Abs(ds[j]-ss[j]) > 0.03 {
				t.Errorf("%s coordinate %d: dataset mean, std = %.3f, %.3f; sampler %.3f, %.3f; want within 0.03", name, j, dm[j], ds[j], sm[j], ss[j])
			}
		}
	}
}

func TestGeneratorsAreSeeded(t *testing.T) {
	gens := map[string]func(seed uint64) (*Dataset, error){
		"moons":      func(s uint64) (*Dataset, error) { return Moons(50, 0.1, s) },
		"swissroll":  func(s uint64) (*Dataset, error) { return SwissRoll(50, 0.5, s) },
		"8gaussians": func(s uint64) (*Dataset, error) { return EightGaussians(50, 0.02, s) },
	}
	for name, gen := range gens {
		a, _ := gen(1)
		b, _ := gen(1)
		c, _ := gen(2)
		if !slices.Equal(a.X, b.X) {
			t.Errorf("%s: seed 1 twice gave different data", name)
		}
		if slices.Equal(a.X, c.X) {
			t.Errorf("%s: seeds 1 and 2 gave the same data", name)
		}
	}
}

func TestGeneratorErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"Moons n", second(Moons(0, 0.1, 0)), "n = 0"},
		{"Moons noise", second(Moons(5, -1, 0)), "noise = -1"},
		{"Moons NaN", second(Moons(5, math.NaN(), 0)), "noise = NaN"},
		{"SwissRoll n", second(SwissRoll(-2, 0.1, 0)), "n = -2"},
		{"SwissRoll noise", second(SwissRoll(5, math.Inf(1), 0)), "noise = +Inf"},
		{"EightGaussians std", second(EightGaussians(5, -0.1, 0)), "std = -0.1"},
		{"FromGMM n", second(FromGMM(EightGaussiansGMM(0.1), 0, 0)), "n = 0"},
	}
	for _, tc := range tests {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want one containing %q", tc.name, tc.err, tc.want)
		}
	}
}

// second returns the error of a (value, error) pair.
func second[T any](_ T, err error) error { return err }

func TestEightGaussiansGMM(t *testing.T) {
	g := EightGaussiansGMM(0.02)
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	// At a mode the density is dominated by that component:
	// log p = log(1/8) - log(2 pi s^2), up to the others' e^-2900.
	want := math.Log(1.0/8) - math.Log(2*math.Pi*0.02*0.02)
	if got := g.LogDensity([]float64{2, 0}); math.Abs(got-want) > 1e-12 {
		t.Errorf("LogDensity at mode 0 = %v, want %v", got, want)
	}
}

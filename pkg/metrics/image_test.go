package metrics

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestKID(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, f = 600, 16
	zero := make([]float64, f)
	a := gaussianSample(rng, n, zero, 1)
	b := gaussianSample(rng, n, zero, 1)
	cfg := KIDConfig{SubsetSize: 300, Seed: 9}
	same := KID(a, b, cfg)
	// Under equal laws each subset estimate has mean 0: the average must be within a
	// few standard errors of 0.
	checkClose(t, "KID(N(0,I), N(0,I))", same.Value, 0, 4*same.Std/math.Sqrt(float64(DefaultKIDSubsets)))
	if same.Name != "kid" || same.N != n || same.M != n || same.Seed != 9 || same.Params["subsets"] != DefaultKIDSubsets ||
		same.Params["subset_size"] != 300 || same.Version != Version {
		t.Errorf("KID Result = %+v, want name kid, n = m = %d, seed 9, 10 subsets of 300, version %s", same, n, Version)
	}
	if again := KID(a, b, cfg); again.Value != same.Value {
		t.Errorf("KID with Seed 9 twice: %v then %v, want equal", same.Value, again.Value)
	}
	prev := same.Value
	for _, shift := range []float64{0.25, 0.5, 1} {
		s := make([]float64, f)
		for j := range s {
			s[j] = shift
		}
		got := KID(a, shifted(b, s), cfg)
		if !(got.Value > prev+4*got.Std/math.Sqrt(float64(DefaultKIDSubsets))) {
			t.Errorf("KID(N(0,I), N(%v,I)) = %v ± %v, want clearly above %v (the value at the smaller shift)", shift, got.Value, got.Std, prev)
		}
		prev = got.Value
	}
}

// KID against a direct evaluation of the unbiased estimator when one subset is the
// whole (shuffled) set: the estimator is invariant to the order of the rows.
func TestKIDExact(t *testing.T) {
	a := [][]float64{{0, 1}, {1, 0}, {1, 1}}
	b := [][]float64{{2, 0}, {0, 0}, {1, -1}}
	k := func(x, y []float64) float64 { return math.Pow(dot(x, y)/2+1, 3) }
	var kxx, kyy, kxy float64
	for i := range a {
		for j := range a {
			if i != j {
				kxx += k(a[i], a[j])
				kyy += k(b[i], b[j])
			}
			kxy += k(a[i], b[j])
		}
	}
	want := kxx/6 + kyy/6 - 2*kxy/9
	got := KID(a, b, KIDConfig{Subsets: 3, Seed: 1})
	checkClose(t, "KID(3 points, whole set)", got.Value, want, 1e-12)
	checkClose(t, "KID(3 points, whole set).Std", got.Std, 0, 1e-12)
}

func TestKIDPanics(t *testing.T) {
	a := [][]float64{{0}, {1}, {2}}
	checkPanics(t, "KID(SubsetSize=4)", "KIDConfig.SubsetSize = 4, but a has 3 rows", func() { KID(a, a, KIDConfig{SubsetSize: 4}) })
	checkPanics(t, "KID(SubsetSize=1)", "KIDConfig.SubsetSize = 1", func() { KID(a, a, KIDConfig{SubsetSize: 1}) })
	checkPanics(t, "KID(Subsets=-1)", "KIDConfig.Subsets = -1", func() { KID(a, a, KIDConfig{Subsets: -1}) })
	checkPanics(t, "KID(a, 2-D b)", "a has dimension 1 but b has dimension 2", func() { KID(a, [][]float64{{0, 0}, {1, 1}}, KIDConfig{}) })
}

// clusters draws n points around each of the given centres with std 0.1.
func clusters(rng *rand.Rand, n int, centres [][]float64) [][]float64 {
	var x [][]float64
	for _, c := range centres {
		x = append(x, gaussianSample(rng, n, c, 0.1)...)
	}
	return x
}

func TestPrecisionRecall(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	centres := [][]float64{{0, 0, 0}, {10, 0, 0}, {0, 10, 0}, {0, 0, 10}}
	ref := clusters(rng, 300, centres)

	p, r := PrecisionRecall(ref, ref, 0)
	checkClose(t, "precision of identical sets", p.Value, 1, 0)
	checkClose(t, "recall of identical sets", r.Value, 1, 0)
	if p.Name != "precision" || r.Name != "recall" || p.N != len(ref) || p.M != len(ref) || p.Params["k"] != DefaultPRNeighbors || p.Version != Version {
		t.Errorf("PrecisionRecall Results = %+v, %+v, want names precision and recall, k = %d, version %s", p, r, DefaultPRNeighbors, Version)
	}

	far := clusters(rng, 300, [][]float64{{100, 100, 100}})
	p, r = PrecisionRecall(ref, far, 0)
	checkClose(t, "precision of a far-away set", p.Value, 0, 0)
	checkClose(t, "recall of a far-away set", r.Value, 0, 0)

	// A generator that covers two of the four clusters, with as many points as the
	// reference: its samples are real-looking, but it recalls half of the reference.
	// Even a fresh sample of the reference law has a few tail points outside the k-NN
	// balls of 300 points per cluster (about 3% here, in 3-D), hence the tolerances.
	half := clusters(rng, 600, centres[:2])
	p, r = PrecisionRecall(ref, half, 3)
	checkClose(t, "precision of a half-covering set", p.Value, 1, 0.05)
	checkClose(t, "recall of a half-covering set", r.Value, 0.5, 0.05)
	if r.Value > 0.5 {
		t.Errorf("recall of a half-covering set = %v, want <= 0.5", r.Value)
	}
}

func TestPrecisionRecallPanics(t *testing.T) {
	x := [][]float64{{0}, {1}, {2}}
	checkPanics(t, "PrecisionRecall(3 rows, k=3)", "ref has 3 points, want at least 4", func() { PrecisionRecall(x, x, 3) })
	checkPanics(t, "PrecisionRecall(k=-1)", "k = -1", func() { PrecisionRecall(x, x, -1) })
}

func TestClassHistogram(t *testing.T) {
	s := SummarizeClasses([]int{0, 1, 1, 3, 3, 3, 3, 0}, 5)
	want := []float64{0.25, 0.25, 0, 0.5, 0}
	for c, w := range want {
		checkClose(t, "SummarizeClasses.Hist", s.Hist[c], w, 0)
	}
	checkClose(t, "SummarizeClasses.Entropy", s.Entropy, 1.5*math.Ln2, 1e-15)
	// 1/2 (0.05 + 0.05 + 0.2 + 0.3 + 0.2).
	checkClose(t, "SummarizeClasses.TVUniform", s.TVUniform, 0.4, 1e-15)
	if s.Missing != 2 || s.N != 8 || s.Version != Version {
		t.Errorf("SummarizeClasses = %+v, want Missing 2, N 8, version %s", s, Version)
	}
	u := SummarizeClasses([]int{0, 1, 2, 3}, 4)
	checkClose(t, "SummarizeClasses(uniform).Entropy", u.Entropy, math.Log(4), 1e-15)
	checkClose(t, "SummarizeClasses(uniform).TVUniform", u.TVUniform, 0, 0)
	checkPanics(t, "ClassHistogram(label 5 of 5)", "labels[1] = 5", func() { ClassHistogram([]int{0, 5}, 5) })
	checkPanics(t, "ClassHistogram(nil)", "no labels", func() { ClassHistogram(nil, 5) })
	checkPanics(t, "ClassHistogram(0 classes)", "numClasses = 0", func() { ClassHistogram([]int{0}, 0) })
}

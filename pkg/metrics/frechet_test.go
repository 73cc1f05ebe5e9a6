package metrics

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// randomPSD is A A^T / f + eps I for a random f x f Gaussian A.
func randomPSD(rng *rand.Rand, f int, eps float64) *mat.SymDense {
	a := mat.NewDense(f, f, nil)
	for i := range f {
		for j := range f {
			a.Set(i, j, rng.NormFloat64())
		}
	}
	s := mat.NewSymDense(f, nil)
	s.SymOuterK(1/float64(f), a)
	for i := range f {
		s.SetSym(i, i, s.At(i, i)+eps)
	}
	return s
}

// randomOrthogonal is the eigenvector matrix of a random symmetric matrix.
func randomOrthogonal(t *testing.T, rng *rand.Rand, f int) *mat.Dense {
	t.Helper()
	var es mat.EigenSym
	if !es.Factorize(randomPSD(rng, f, 0), true) {
		t.Fatal("EigenSym.Factorize failed")
	}
	var q mat.Dense
	es.VectorsTo(&q)
	return &q
}

// conjugate is Q diag(d) Q^T.
func conjugate(q *mat.Dense, d []float64) *mat.SymDense {
	f := len(d)
	s := mat.NewSymDense(f, nil)
	for i := range f {
		for j := i; j < f; j++ {
			v := 0.0
			for k := range f {
				v += q.At(i, k) * d[k] * q.At(j, k)
			}
			s.SetSym(i, j, v)
		}
	}
	return s
}

func frechet(t *testing.T, mu1 []float64, s1 mat.Symmetric, mu2 []float64, s2 mat.Symmetric) float64 {
	t.Helper()
	d, err := FrechetDistance(mu1, s1, mu2, s2)
	if err != nil {
		t.Fatalf("FrechetDistance: %v", err)
	}
	return d
}

func sqDiffSqrt(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		d := math.Sqrt(a[i]) - math.Sqrt(b[i])
		s += d * d
	}
	return s
}

func TestFrechetDistanceClosedForms(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const f = 8
	mu1, mu2 := make([]float64, f), make([]float64, f)
	for i := range f {
		mu1[i], mu2[i] = rng.NormFloat64(), rng.NormFloat64()
	}
	dmu := sqDist(mu1, mu2)

	s := randomPSD(rng, f, 0.1)
	checkClose(t, "FrechetDistance(N(mu,S), N(mu,S))", frechet(t, mu1, s, mu1, s), 0, 1e-10)

	// 1-D: (m1 - m2)^2 + (s1 - s2)^2 with variances s^2.
	one := func(v float64) *mat.SymDense { return mat.NewSymDense(1, []float64{v}) }
	checkClose(t, "FrechetDistance(N(1, 2^2), N(-2, 0.5^2))", frechet(t, []float64{1}, one(4), []float64{-2}, one(0.25)), 9+2.25, 1e-14)

	// Diagonal, including a singular one.
	a := []float64{1, 4, 0.25, 9, 0, 2, 3, 0.5}
	b := []float64{4, 1, 1, 9, 2, 0, 3, 1e-6}
	diag := func(d []float64) *mat.SymDense {
		s := mat.NewSymDense(len(d), nil)
		for i, v := range d {
			s.SetSym(i, i, v)
		}
		return s
	}
	checkClose(t, "FrechetDistance(diagonal)", frechet(t, mu1, diag(a), mu2, diag(b)), dmu+sqDiffSqrt(a, b), 1e-12)

	// Commuting, not diagonal: shared eigenvectors Q. Rounding of order eps |S| in an
	// eigenvalue near 0 becomes sqrt(eps |S|) ~ 1e-7 after the square root, so the
	// singular spectra get a looser tolerance than the full-rank ones.
	q := randomOrthogonal(t, rng, f)
	checkClose(t, "FrechetDistance(commuting, singular)", frechet(t, mu1, conjugate(q, a), mu2, conjugate(q, b)), dmu+sqDiffSqrt(a, b), 1e-6)
	a2 := []float64{1, 4, 0.25, 9, 0.1, 2, 3, 0.5}
	b2 := []float64{4, 1, 1, 9, 2, 0.3, 3, 1}
	checkClose(t, "FrechetDistance(commuting)", frechet(t, mu1, conjugate(q, a2), mu2, conjugate(q, b2)), dmu+sqDiffSqrt(a2, b2), 1e-10)

	// Non-commuting 2x2. For a 2x2 M with non-negative eigenvalues,
	// sqrt(M) = (M + sqrt(det M) I) / sqrt(tr M + 2 sqrt(det M)), so
	// Tr sqrt(S1 S2) = sqrt(Tr(S1 S2) + 2 sqrt(det S1 det S2)).
	// S1 = [2 1; 1 1], S2 = [1 -0.5; -0.5 3]: Tr(S1 S2) = 4, det S1 = 1, det S2 = 2.75.
	s1 := mat.NewSymDense(2, []float64{2, 1, 1, 1})
	s2 := mat.NewSymDense(2, []float64{1, -0.5, -0.5, 3})
	want := 3 + 4 - 2*math.Sqrt(4+2*math.Sqrt(2.75))
	checkClose(t, "FrechetDistance(2x2 non-commuting)", frechet(t, []float64{0, 0}, s1, []float64{0, 0}, s2), want, 1e-14)
}

// Against the route of pytorch-fid: Tr sqrt(S1 S2) as the sum of square roots of
// the (general, non-symmetric) eigenvalues of S1 S2.
func TestFrechetDistanceGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, f := range []int{3, 16, 64} {
		s1, s2 := randomPSD(rng, f, 0.01), randomPSD(rng, f, 0.01)
		var p mat.Dense
		p.Mul(s1, s2)
		var eg mat.Eigen
		if !eg.Factorize(&p, mat.EigenNone) {
			t.Fatal("Eigen.Factorize failed")
		}
		tr := 0.0
		for _, l := range eg.Values(nil) {
			tr += real(cmplx.Sqrt(l))
		}
		want := mat.Trace(s1) + mat.Trace(s2) - 2*tr
		mu := make([]float64, f)
		checkClose(t, "FrechetDistance(random PSD)", frechet(t, mu, s1, mu, s2), want, 1e-9*want)
	}
}

func TestFID(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, f = 500, 6
	a := gaussianSample(rng, n, make([]float64, f), 1)
	r, err := FID(a, a)
	if err != nil {
		t.Fatalf("FID(a, a): %v", err)
	}
	checkClose(t, "FID(a, a)", r.Value, 0, 1e-10)
	if r.Name != "fid" || r.N != n || r.M != n || r.Params["features"] != f || r.Version != Version {
		t.Errorf("FID Result = %+v, want name fid, n = m = %d, features %d, version %s", r, n, f, Version)
	}
	// A shift leaves the covariance alone: FID = |s|^2.
	s := []float64{1, -2, 0, 0.5, 3, 0}
	r, err = FID(a, shifted(a, s))
	if err != nil {
		t.Fatalf("FID(a, a+s): %v", err)
	}
	checkClose(t, "FID(a, a+s)", r.Value, dot(s, s), 1e-9)
	// MeanCov against the definition.
	mu, cov := MeanCov([][]float64{{1, 2}, {3, 0}, {2, 4}})
	wantCov := []float64{1, -1, -1, 4}
	for i, v := range []float64{2, 2} {
		checkClose(t, "MeanCov mean", mu[i], v, 1e-15)
	}
	for k, v := range wantCov {
		checkClose(t, "MeanCov cov", cov.At(k/2, k%2), v, 1e-15)
	}
}

func TestFrechetDistanceErrors(t *testing.T) {
	id := mat.NewSymDense(2, []float64{1, 0, 0, 1})
	bad := mat.NewSymDense(2, []float64{1, 0, 0, -1})
	if _, err := FrechetDistance([]float64{0, 0}, id, []float64{0, 0}, bad); err == nil {
		t.Errorf("FrechetDistance(S2 = diag(1, -1)) returned no error, want not positive semidefinite")
	}
	if _, err := FrechetDistance([]float64{0, 0}, bad, []float64{0, 0}, id); err == nil {
		t.Errorf("FrechetDistance(S1 = diag(1, -1)) returned no error, want not positive semidefinite")
	}
	checkPanics(t, "FrechetDistance(mu of length 3)", "want all equal", func() { FrechetDistance([]float64{0, 0, 0}, id, []float64{0, 0}, id) })
	checkPanics(t, "FID(a, one row)", "b has 1 points", func() { FID([][]float64{{0}, {1}}, [][]float64{{0}}) })
	checkPanics(t, "MeanCov(ragged)", "feats[1] has dimension 1", func() { MeanCov([][]float64{{0, 1}, {1}}) })
}

package metrics

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

// psdTol is the relative tolerance below zero for eigenvalues of matrices that
// should be positive semidefinite: an eigenvalue lambda with
// lambda < -psdTol max_i |lambda_i| is an error, larger ones are clamped to zero.
const psdTol = 1e-9

// MeanCov is the sample mean and the unbiased sample covariance (divisor n - 1, as
// numpy.cov and pytorch-fid) of the rows of feats:
//
//	mu = 1/n sum_i f_i
//	S  = 1/(n-1) sum_i (f_i - mu)(f_i - mu)^T
//
// It panics if feats has fewer than 2 rows or if rows differ in length.
func MeanCov(feats [][]float64) (mu []float64, cov *mat.SymDense) {
	f := checkSample("MeanCov", "feats", feats, 2)
	x := denseRows(feats)
	mu = make([]float64, f)
	for j := range mu {
		mu[j] = stat.Mean(mat.Col(nil, j, x), nil)
	}
	cov = mat.NewSymDense(f, nil)
	stat.CovarianceMatrix(cov, x, nil)
	return mu, cov
}

// FrechetDistance is the squared Fréchet (2-Wasserstein) distance between the
// Gaussians N(mu1, S1) and N(mu2, S2):
//
//	d^2 = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})
//
// The trace of the square root is computed from symmetric eigendecompositions
// (mat.EigenSym) only: with R = S1^{1/2},
//
//	Tr (S1 S2)^{1/2} = Tr (R S2 R)^{1/2} = sum_i sqrt(lambda_i(R S2 R))
//
// since S1 S2 = R (R S2 R) R^{-1} is similar to the positive semidefinite R S2 R
// (for singular S1 by continuity). This is exact for PSD inputs and never produces
// the complex round-off of scipy.linalg.sqrtm on S1 S2. Eigenvalues slightly below
// zero from rounding (above -1e-9 times the largest in magnitude) are clamped to
// zero, and so is a final d^2 below zero. Near-singular covariances (n <= F, or
// features with little variance) limit the accuracy to about sqrt(eps |S|), since
// rounding of order eps |S| in an eigenvalue near 0 grows under the square root.
//
// Special cases: N(mu, S) to itself gives 0; for commuting S1, S2 (e.g. diagonal,
// eigenvalues a_i, b_i in a shared basis) d^2 = |mu1 - mu2|^2 + sum_i (sqrt a_i -
// sqrt b_i)^2; in 1-D, d^2 = (m1 - m2)^2 + (s1 - s2)^2.
//
// FrechetDistance panics if the dimensions of mu1, S1, mu2, S2 differ or are 0. It
// returns an error if an eigendecomposition fails or if S1 or S2 is not positive
// semidefinite beyond the tolerance.
func FrechetDistance(mu1 []float64, s1 mat.Symmetric, mu2 []float64, s2 mat.Symmetric) (float64, error) {
	f := len(mu1)
	if f == 0 || len(mu2) != f || s1.SymmetricDim() != f || s2.SymmetricDim() != f {
		panic(fmt.Sprintf("metrics: FrechetDistance: dimensions len(mu1) = %d, S1 %d, len(mu2) = %d, S2 %d, want all equal and >= 1",
			f, s1.SymmetricDim(), len(mu2), s2.SymmetricDim()))
	}
	lam1, v1, err := eigenSym(s1, true)
	if err != nil {
		return 0, fmt.Errorf("metrics: FrechetDistance: S1: %w", err)
	}
	// R = V diag(sqrt lambda) V^T.
	vs := mat.DenseCopyOf(v1)
	for j, l := range lam1 {
		sl := math.Sqrt(l)
		for i := range f {
			vs.Set(i, j, vs.At(i, j)*sl)
		}
	}
	var r mat.Dense
	r.Mul(vs, v1.T())
	// M = R S2 R, symmetrised against rounding.
	var rs, m mat.Dense
	rs.Mul(&r, s2)
	m.Mul(&rs, &r)
	msym := mat.NewSymDense(f, nil)
	for i := range f {
		for j := i; j < f; j++ {
			msym.SetSym(i, j, (m.At(i, j)+m.At(j, i))/2)
		}
	}
	lamM, _, err := eigenSym(msym, false)
	if err != nil {
		return 0, fmt.Errorf("metrics: FrechetDistance: S1^{1/2} S2 S1^{1/2} (S2 not positive semidefinite?): %w", err)
	}
	trSqrt := 0.0
	for _, l := range lamM {
		trSqrt += math.Sqrt(l)
	}
	d2 := 0.0
	for i := range f {
		d := mu1[i] - mu2[i]
		d2 += d*d + s1.At(i, i) + s2.At(i, i)
	}
	return math.Max(0, d2-2*trSqrt), nil
}

// eigenSym returns the eigenvalues of the symmetric s, clamped to zero when
// negative by rounding only, and the eigenvectors if vectors is set. It returns an
// error if the decomposition fails or an eigenvalue is clearly negative.
func eigenSym(s mat.Symmetric, vectors bool) ([]float64, *mat.Dense, error) {
	var es mat.EigenSym
	if !es.Factorize(s, vectors) {
		return nil, nil, fmt.Errorf("eigendecomposition failed")
	}
	lam := es.Values(nil)
	maxAbs := 0.0
	for _, l := range lam {
		if math.IsNaN(l) {
			return nil, nil, fmt.Errorf("eigenvalue NaN")
		}
		maxAbs = math.Max(maxAbs, math.Abs(l))
	}
	for i, l := range lam {
		if l < -psdTol*maxAbs {
			return nil, nil, fmt.Errorf("not positive semidefinite: eigenvalue %g (largest magnitude %g)", l, maxAbs)
		}
		lam[i] = math.Max(l, 0)
	}
	if !vectors {
		return lam, nil, nil
	}
	var v mat.Dense
	es.VectorsTo(&v)
	return lam, &v, nil
}

// FID is the Fréchet distance between Gaussians fitted by MeanCov to the feature
// sets a (n rows) and b (m rows), both of dimension F:
//
//	FID = FrechetDistance(MeanCov(a), MeanCov(b))
//
// Heusel et al. (2017) compute it on 2048-d Inception pool features of 50k images;
// difflab's features come from its own classifier, so values are comparable only
// between runs that use the same feature extractor (record it with the Result).
// The plug-in estimator is biased upwards, by roughly O(F/n), and depends on n:
// compare FIDs only at equal sample sizes.
//
// The Result is named "fid" with Params "features" (F); N = n, M = m. It panics if
// a or b has fewer than 2 rows or if rows differ in length, and returns
// FrechetDistance's errors.
func FID(a, b [][]float64) (Result, error) {
	checkNamedPair("FID", "a", "b", a, b, 2)
	mu1, s1 := MeanCov(a)
	mu2, s2 := MeanCov(b)
	d2, err := FrechetDistance(mu1, s1, mu2, s2)
	if err != nil {
		return Result{}, err
	}
	return Result{
		Name:    "fid",
		Value:   d2,
		N:       len(a),
		M:       len(b),
		Params:  map[string]any{"features": len(mu1)},
		Version: Version,
	}, nil
}

// denseRows copies the rows of x into a new n x D matrix.
func denseRows(x [][]float64) *mat.Dense {
	d := mat.NewDense(len(x), len(x[0]), nil)
	for i, row := range x {
		d.SetRow(i, row)
	}
	return d
}

package metrics

import (
	"fmt"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// Defaults of KIDConfig.
const (
	// DefaultKIDSubsets is the default number of subsets averaged by KID.
	DefaultKIDSubsets = 10
	// DefaultKIDSubsetSize caps the default subset size, min(1000, n, m).
	DefaultKIDSubsetSize = 1000
)

// kidStream is the PCG stream of KID's subsets.
const kidStream = 0x4b49445f73756273 // "KID_subs"

// KIDConfig holds the parameters of KID. A zero field means its default.
type KIDConfig struct {
	// Subsets is the number of subset pairs averaged. Default DefaultKIDSubsets (10).
	Subsets int
	// SubsetSize is the number of rows s >= 2 drawn, without replacement, from each
	// feature set for each subset. Default min(DefaultKIDSubsetSize, n, m). It must
	// not exceed min(n, m).
	SubsetSize int
	// Seed seeds the subsets: rand.NewPCG(Seed, kidStream).
	Seed uint64
}

// Validate reports whether c is usable on its own: Subsets and SubsetSize are >= 0
// (0 meaning the default) and SubsetSize is not 1. KID also checks SubsetSize
// against the sample sizes.
func (c KIDConfig) Validate() error {
	if c.Subsets < 0 {
		return fmt.Errorf("KIDConfig.Subsets = %d, want >= 1 (or 0 for the default %d)", c.Subsets, DefaultKIDSubsets)
	}
	if c.SubsetSize < 0 || c.SubsetSize == 1 {
		return fmt.Errorf("KIDConfig.SubsetSize = %d, want >= 2 (or 0 for the default min(%d, n, m))", c.SubsetSize, DefaultKIDSubsetSize)
	}
	return nil
}

// withDefaults fills the zero fields of c for samples of n and m rows.
func (c KIDConfig) withDefaults(n, m int) KIDConfig {
	if c.Subsets == 0 {
		c.Subsets = DefaultKIDSubsets
	}
	if c.SubsetSize == 0 {
		c.SubsetSize = min(DefaultKIDSubsetSize, n, m)
	}
	return c
}

// KID is the kernel inception distance of Bińkowski et al. (2018) between the
// feature sets a (n rows) and b (m rows) of dimension F: the unbiased MMD^2 (see
// MMD2) with the cubic polynomial kernel
//
//	k(x, y) = (x . y / F + 1)^3
//
// computed on c.Subsets pairs of random subsets of c.SubsetSize = s rows each,
//
//	KID_l = 1/(s(s-1)) sum_{i != j} [k(a_i, a_j) + k(b_i, b_j)] - 2/s^2 sum_{i,j} k(a_i, b_j)
//	KID   = 1/L sum_l KID_l
//
// Each KID_l is unbiased, so KID is too, and it can be slightly negative when the
// distributions are equal. Unlike FID its expectation does not depend on the sample
// size, so values at different n can be compared. Reported KIDs are often scaled by
// 1000; this one is not.
//
// The Result is named "kid" with Std the standard deviation of the KID_l (divisor
// L - 1; torch-fidelity divides by L); Params "subsets", "subset_size", "kernel";
// N = n, M = m, Seed = c.Seed. Cost O(L s^2 F). KID panics if a or b has fewer than
// 2 rows, if rows differ in length, if c fails Validate, or if c.SubsetSize exceeds
// min(n, m).
func KID(a, b [][]float64, c KIDConfig) Result {
	const fn = "KID"
	f := checkNamedPair(fn, "a", "b", a, b, 2)
	if err := c.Validate(); err != nil {
		panic("metrics: " + fn + ": " + err.Error())
	}
	c = c.withDefaults(len(a), len(b))
	if c.SubsetSize > min(len(a), len(b)) {
		panic(fmt.Sprintf("metrics: %s: KIDConfig.SubsetSize = %d, but a has %d rows and b %d", fn, c.SubsetSize, len(a), len(b)))
	}
	rng := rand.New(rand.NewPCG(c.Seed, kidStream))
	s := c.SubsetSize
	xs, ys := mat.NewDense(s, f, nil), mat.NewDense(s, f, nil)
	gxx, gyy := mat.NewSymDense(s, nil), mat.NewSymDense(s, nil)
	gxy := mat.NewDense(s, s, nil)
	vals := make([]float64, c.Subsets)
	for l := range vals {
		for i, p := range rng.Perm(len(a))[:s] {
			xs.SetRow(i, a[p])
		}
		for i, p := range rng.Perm(len(b))[:s] {
			ys.SetRow(i, b[p])
		}
		gxx.SymOuterK(1/float64(f), xs)
		gyy.SymOuterK(1/float64(f), ys)
		gxy.Mul(xs, ys.T())
		var kxx, kyy, kxy float64
		for i := range s {
			for j := i + 1; j < s; j++ {
				kxx += cubic(gxx.At(i, j))
				kyy += cubic(gyy.At(i, j))
			}
			for _, v := range gxy.RawRowView(i) {
				kxy += cubic(v / float64(f))
			}
		}
		vals[l] = unbiasedMMD2(2*kxx, 2*kyy, kxy, s, s)
	}
	mean, std := meanStd(vals)
	return Result{
		Name:    "kid",
		Value:   mean,
		Std:     std,
		N:       len(a),
		M:       len(b),
		Seed:    c.Seed,
		Params:  map[string]any{"subsets": c.Subsets, "subset_size": s, "kernel": "(x.y/F+1)^3"},
		Version: Version,
	}
}

// cubic is (g + 1)^3, the polynomial kernel for a scaled inner product g.
func cubic(g float64) float64 {
	v := g + 1
	return v * v * v
}

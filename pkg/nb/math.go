package nb

import (
	"fmt"
	"math"

	"github.com/difflab/difflab/pkg/diffusion"
	"github.com/difflab/difflab/pkg/gmm"
	"github.com/difflab/difflab/pkg/plot"
)

// QSample draws x_t from q(x_t | x_0) for one timestep t in float64, with the
// noise eps given (Ho et al. 2020, eq. (4)):
//
//	x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps
//
// It is diffusion.Schedule.QSampleTo into a new slice, for pictures of the forward
// process. It panics when x0 and eps differ in length or t is outside 0..T-1.
func QSample(s *diffusion.Schedule, t int, x0, eps []float64) []float64 {
	xt := make([]float64, len(x0))
	s.QSampleTo(xt, t, x0, eps)
	return xt
}

// Slerp interpolates spherically between a and b (DDIM paper, section 5.3 and
// its code), with theta the angle between them:
//
//	slerp(a, b; alpha) = sin((1 - alpha) theta) / sin(theta) a + sin(alpha theta) / sin(theta) b
//
// Unlike a straight line, it keeps the norm of two Gaussian draws near the
// norm typical of x_T. alpha = 0 gives a and alpha = 1 gives b. When a and b
// are (almost) parallel it falls back to linear interpolation. It panics when
// a and b differ in length or either is zero.
func Slerp(a, b []float64, alpha float64) []float64 {
	if len(a) != len(b) {
		panic(fmt.Sprintf("nb: Slerp: len(a) = %d, len(b) = %d", len(a), len(b)))
	}
	var dot, na, nb float64
	for i := range a {
		dot += a[i] * b[i]
		na += a[i] * a[i]
		nb += b[i] * b[i]
	}
	if na == 0 || nb == 0 {
		panic("nb: Slerp of a zero vector")
	}
	cos := math.Max(-1, math.Min(1, dot/math.Sqrt(na*nb)))
	theta := math.Acos(cos)
	ca, cb := 1-alpha, alpha
	if s := math.Sin(theta); s > 1e-8 {
		ca, cb = math.Sin((1-alpha)*theta)/s, math.Sin(alpha*theta)/s
	}
	out := make([]float64, len(a))
	for i := range a {
		out[i] = ca*a[i] + cb*b[i]
	}
	return out
}

// SlerpPath returns n >= 2 points from a to b by Slerp at alpha = i/(n-1),
// concatenated into one flat batch of shape [n, len(a)], ready for a sampler.
func SlerpPath(a, b []float64, n int) []float64 {
	if n < 2 {
		panic(fmt.Sprintf("nb: SlerpPath: n = %d, want >= 2", n))
	}
	out := make([]float64, 0, n*len(a))
	for i := range n {
		out = append(out, Slerp(a, b, float64(i)/float64(n-1))...)
	}
	return out
}

// Rows splits a flat row-major batch into rows of dim values (sharing memory),
// as plot.Points wants them. It panics when len(flat) is not a multiple of dim.
func Rows(flat []float64, dim int) [][]float64 {
	if dim < 1 || len(flat)%dim != 0 {
		panic(fmt.Sprintf("nb: Rows: %d values are not rows of %d", len(flat), dim))
	}
	rows := make([][]float64, len(flat)/dim)
	for i := range rows {
		rows[i] = flat[i*dim : (i+1)*dim : (i+1)*dim]
	}
	return rows
}

// Flatten concatenates rows into one flat slice.
func Flatten(rows [][]float64) []float64 {
	var out []float64
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

// ByNearestMode groups the rows of x by the component of g whose mean is
// nearest (in Euclidean distance) to the matching row of by, as one point set
// per component named "mode k" (k from 1), for scatter plots coloured by mode.
// Pass by = x to colour samples by where they are, or by = samples and x =
// their latents to colour each latent by where it lands. It panics when x and
// by differ in length.
func ByNearestMode(g *gmm.Mixture, by, x [][]float64) []plot.Points {
	if len(x) != len(by) {
		panic(fmt.Sprintf("nb: ByNearestMode: %d rows in x, %d in by", len(x), len(by)))
	}
	sets := make([]plot.Points, len(g.Means))
	for k := range sets {
		sets[k].Name = fmt.Sprintf("mode %d", k+1)
	}
	for i, p := range by {
		best, bestD := 0, math.Inf(1)
		for k, m := range g.Means {
			d := 0.0
			for j := range m {
				d += (p[j] - m[j]) * (p[j] - m[j])
			}
			if d < bestD {
				best, bestD = k, d
			}
		}
		sets[best].XY = append(sets[best].XY, x[i])
	}
	return sets
}

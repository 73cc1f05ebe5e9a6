package metrics

import (
	"fmt"

	"gonum.org/v1/gonum/mat"
)

// DefaultPRNeighbors is the default k of PrecisionRecall, as in Kynkäänniemi et al.
// (2019).
const DefaultPRNeighbors = 3

// prBlock is the number of query rows whose distances PrecisionRecall holds at once.
const prBlock = 256

// PrecisionRecall is the improved precision and recall of Kynkäänniemi et al.
// (2019) of the generated features gen against the reference features ref. Each
// set spans a manifold: the union of balls around its points, each ball's radius
// the distance to the point's k-th nearest neighbour in its own set,
//
//	manifold(Y) = union_j B(y_j, NN_k(y_j, Y))
//	precision   = 1/|gen| sum_i [gen_i in manifold(ref)]
//	recall      = 1/|ref| sum_j [ref_j in manifold(gen)]
//
// where a point on a ball's boundary counts as inside. Precision is the share of
// generated samples that look real; recall the share of real samples the generator
// covers. Both are plug-in estimates in [0, 1]; recall in particular grows with
// |gen| and both depend on k, so compare values only at equal sizes and k.
// Identical sets give 1 and 1.
//
// k = 0 means DefaultPRNeighbors (3). The Results are named "precision" and
// "recall", with Params "k"; N = len(gen), M = len(ref). Distances are Euclidean,
// computed blockwise as |a|^2 + |b|^2 - 2 a.b with gonum, in O((n + m)^2 F) time
// and O((n + m) F) memory. PrecisionRecall panics if a set has k or fewer rows, if
// rows differ in length, or if k < 0.
func PrecisionRecall(ref, gen [][]float64, k int) (precision, recall Result) {
	const fn = "PrecisionRecall"
	if k < 0 {
		panic(fmt.Sprintf("metrics: %s: k = %d, want >= 1 (or 0 for the default %d)", fn, k, DefaultPRNeighbors))
	}
	if k == 0 {
		k = DefaultPRNeighbors
	}
	checkNamedPair(fn, "ref", "gen", ref, gen, k+1)
	r, g := denseRows(ref), denseRows(gen)
	rn, gn := rowSqNorms(r), rowSqNorms(g)
	rr := knnRadii2(r, rn, k)
	gr := knnRadii2(g, gn, k)
	res := func(name string, v float64) Result {
		return Result{Name: name, Value: v, N: len(gen), M: len(ref), Params: map[string]any{"k": k}, Version: Version}
	}
	return res("precision", coverage(g, gn, r, rn, rr)), res("recall", coverage(r, rn, g, gn, gr))
}

// rowSqNorms is |x_i|^2 for each row of x.
func rowSqNorms(x *mat.Dense) []float64 {
	n, _ := x.Dims()
	out := make([]float64, n)
	for i := range out {
		row := x.RawRowView(i)
		for _, v := range row {
			out[i] += v * v
		}
	}
	return out
}

// sqDistBlock sets dst to the squared distances between rows q0..q0+b of q and all
// rows of x, clamped at 0 against rounding, and returns it as b x n.
func sqDistBlock(dst *mat.Dense, q *mat.Dense, qn []float64, q0, b int, x *mat.Dense, xn []float64) *mat.Dense {
	_, f := q.Dims()
	n, _ := x.Dims()
	d := dst.Slice(0, b, 0, n).(*mat.Dense)
	d.Mul(q.Slice(q0, q0+b, 0, f), x.T())
	for i := range b {
		row := d.RawRowView(i)
		for j, v := range row {
			row[j] = max(0, qn[q0+i]+xn[j]-2*v)
		}
	}
	return d
}

// knnRadii2 is, for each row of x, the squared distance to its k-th nearest other
// row: the (k+1)-th smallest squared distance to all rows, itself (0) included.
func knnRadii2(x *mat.Dense, xn []float64, k int) []float64 {
	n, _ := x.Dims()
	out := make([]float64, n)
	buf := mat.NewDense(min(prBlock, n), n, nil)
	best := make([]float64, k+1) // the k+1 smallest so far, ascending
	for q0 := 0; q0 < n; q0 += prBlock {
		b := min(prBlock, n-q0)
		d := sqDistBlock(buf, x, xn, q0, b, x, xn)
		for i := range b {
			row := d.RawRowView(i)
			row[q0+i] = 0 // the point itself, exactly
			nb := 0
			for _, v := range row {
				if nb == len(best) && v >= best[nb-1] {
					continue
				}
				// Insert v, dropping the largest when full.
				j := min(nb, len(best)-1)
				for j > 0 && best[j-1] > v {
					best[j] = best[j-1]
					j--
				}
				best[j] = v
				nb = min(nb+1, len(best))
			}
			out[q0+i] = best[k]
		}
	}
	return out
}

// coverage is the fraction of rows of q within the ball of squared radius rad2[j]
// around some row x_j of x.
func coverage(q *mat.Dense, qn []float64, x *mat.Dense, xn, rad2 []float64) float64 {
	nq, _ := q.Dims()
	nx, _ := x.Dims()
	buf := mat.NewDense(min(prBlock, nq), nx, nil)
	in := 0
	for q0 := 0; q0 < nq; q0 += prBlock {
		b := min(prBlock, nq-q0)
		d := sqDistBlock(buf, q, qn, q0, b, x, xn)
		for i := range b {
			for j, v := range d.RawRowView(i) {
				if v <= rad2[j] {
					in++
					break
				}
			}
		}
	}
	return float64(in) / float64(nq)
}

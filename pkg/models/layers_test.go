package models

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/difflab/difflab/pkg/backend"
)

func testBackend(t testing.TB) compute.Backend {
	t.Helper()
	b, err := backend.New()
	if err != nil {
		t.Fatalf("backend.New() = %v", err)
	}
	return b
}

// hasExpm1 reports whether b has the Expm1 op (the formulations siluExpm1 and
// softmaxExpm1 are the pure-Go backend's; ONNX Runtime has no Expm1).
func hasExpm1(b compute.Backend) bool { return b.Capabilities().Operations[compute.OpTypeExpm1] }

// randSlice returns n values from N(0, 1) scaled by scale, from a seeded source.
func randSlice(rng *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64() * scale
	}
	return v
}

func toF64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func toF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func flat[T float32 | float64](t testing.TB, x *tensors.Tensor) []T {
	t.Helper()
	v, err := tensors.CopyFlatData[T](x)
	if err != nil {
		t.Fatalf("CopyFlatData: %v", err)
	}
	return v
}

// assertClose fails when |got[i] - want[i]| > tol for any i.
func assertClose[T float32 | float64](t *testing.T, name string, got []T, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", name, len(got), len(want))
	}
	worst, at := 0.0, 0
	for i := range got {
		if d := math.Abs(float64(got[i]) - want[i]); d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	if worst > tol || math.IsNaN(worst) {
		t.Errorf("%s: value %d = %g, want %g (|diff| %.3g > tol %.3g)", name, at, got[at], want[at], worst, tol)
	}
}

func TestTimeEmbedding(t *testing.T) {
	b := testBackend(t)
	steps := []int32{0, 1, 17, 250, 999}
	for _, dim := range []int{2, 8, 7, 32} {
		got := model.MustExecOnce(b, model.NewStore(), func(_ *model.Scope, ts *graph.Node) *graph.Node {
			return TimeEmbedding(ts, dim)
		}, steps)
		if want := []int{len(steps), dim}; !slices.Equal(got.Shape().Dimensions, want) {
			t.Fatalf("TimeEmbedding(dim=%d) shape %s, want %v", dim, got.Shape(), want)
		}
		// improved-diffusion's timestep_embedding, in float64.
		half := dim / 2
		want := make([]float64, 0, len(steps)*dim)
		for _, s := range steps {
			row := make([]float64, dim)
			for i := range half {
				arg := float64(s) * math.Exp(-math.Log(10000)*float64(i)/float64(half))
				row[i] = math.Cos(arg)
				row[half+i] = math.Sin(arg)
			}
			want = append(want, row...)
		}
		// float32 arguments up to 999 rad carry an error of ~1e-4.
		assertClose(t, "TimeEmbedding", flat[float32](t, got), want, 5e-4)
	}
}

// groupNormRef is GroupNorm in float64 for x [B, S, C] with per-channel scale and offset.
func groupNormRef(x []float64, b, s, c, groups int, scale, offset []float64) []float64 {
	y := make([]float64, len(x))
	cg := c / groups
	for bi := range b {
		for g := range groups {
			var sum, sq float64
			n := float64(s * cg)
			for si := range s {
				for ci := g * cg; ci < (g+1)*cg; ci++ {
					sum += x[(bi*s+si)*c+ci]
				}
			}
			mean := sum / n
			for si := range s {
				for ci := g * cg; ci < (g+1)*cg; ci++ {
					d := x[(bi*s+si)*c+ci] - mean
					sq += d * d
				}
			}
			sd := math.Sqrt(sq/n + 1e-5)
			for si := range s {
				for ci := g * cg; ci < (g+1)*cg; ci++ {
					i := (bi*s+si)*c + ci
					y[i] = (x[i]-mean)/sd*scale[ci] + offset[ci]
				}
			}
		}
	}
	return y
}

func TestGroupNorm(t *testing.T) {
	bk := testBackend(t)
	rng := rand.New(rand.NewPCG(1, 2))
	const bs, h, w, c, groups = 2, 3, 4, 8, 4
	x := randSlice(rng, bs*h*w*c, 3)
	for i := range x {
		x[i] += float64(i%c) - 2 // per-channel means differ
	}
	scale := randSlice(rng, c, 1)
	offset := randSlice(rng, c, 1)
	wts := randSlice(rng, len(x), 1) // loss = sum(wts * GroupNorm(x))

	store := model.NewStore()
	store.VariableWithValue("/gn/group_norm/scale", scale)
	store.VariableWithValue("/gn/group_norm/offset", offset)
	exec := model.MustNewExec(bk, store, func(scope *model.Scope, xn, wn *graph.Node) []*graph.Node {
		y := GroupNorm(scope.In("gn"), xn, groups)
		loss := graph.ReduceAllSum(graph.Mul(y, wn))
		grads := graph.Gradient(loss, xn, store.GetVariable("/gn/group_norm/scale").NodeValue(xn.Graph()))
		return []*graph.Node{y, grads[0], grads[1]}
	})
	xt := tensors.FromFlatDataAndDimensions(x, bs, h, w, c)
	wt := tensors.FromFlatDataAndDimensions(wts, bs, h, w, c)
	out := exec.MustCall(xt, wt)

	want := groupNormRef(x, bs, h*w, c, groups, scale, offset)
	assertClose(t, "GroupNorm", flat[float64](t, out[0]), want, 1e-10)

	// d loss / d x by central differences on the float64 reference.
	loss := func(x []float64) float64 {
		y := groupNormRef(x, bs, h*w, c, groups, scale, offset)
		var s float64
		for i := range y {
			s += wts[i] * y[i]
		}
		return s
	}
	const eps = 1e-6
	gradX := make([]float64, len(x))
	for i := range x {
		xp := append([]float64(nil), x...)
		xm := append([]float64(nil), x...)
		xp[i] += eps
		xm[i] -= eps
		gradX[i] = (loss(xp) - loss(xm)) / (2 * eps)
	}
	assertClose(t, "d/dx GroupNorm", flat[float64](t, out[1]), gradX, 1e-6)

	// d loss / d scale[c] = sum over positions of wts * normalised x.
	unit := groupNormRef(x, bs, h*w, c, groups, ones(c), make([]float64, c))
	gradScale := make([]float64, c)
	for i := range unit {
		gradScale[i%c] += wts[i] * unit[i]
	}
	assertClose(t, "d/dscale GroupNorm", flat[float64](t, out[2]), gradScale, 1e-9)
}

func ones(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = 1
	}
	return v
}

// mustPanic fails unless build panics. It builds on a bare graph: in GoMLX v0.28.1 a
// panic inside a graph function run by model.ExecOnce deadlocks in Exec.Finalize.
func mustPanic(t *testing.T, name string, build func(g *graph.Graph)) {
	t.Helper()
	g := graph.NewGraph(testBackend(t), name)
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", name)
		}
	}()
	build(g)
}

func TestLayerPanics(t *testing.T) {
	param := func(g *graph.Graph, dims ...int) *graph.Node {
		return graph.Parameter(g, "x", shapes.Make(dtypes.Float32, dims...))
	}
	scope := model.NewStore().RootScope()
	mustPanic(t, "GroupNorm(6 channels, 4 groups)", func(g *graph.Graph) { GroupNorm(scope.In("a"), param(g, 1, 2, 6), 4) })
	mustPanic(t, "Conv2D(kernel 2)", func(g *graph.Graph) { Conv2D(scope.In("b"), param(g, 1, 4, 4, 1), 1, 2, 1) })
	mustPanic(t, "Conv2D(stride 3)", func(g *graph.Graph) { Conv2D(scope.In("c"), param(g, 1, 4, 4, 1), 1, 3, 3) })
	mustPanic(t, "TimeEmbedding(dim 1)", func(g *graph.Graph) { TimeEmbedding(param(g, 3), 1) })
}

// convRef is a direct loop for a zero-padded (PyTorch padding=k/2) strided convolution.
func convRef(x []float64, b, h, w, c int, wts []float64, k, o, stride int, bias []float64) (y []float64, ho, wo int) {
	p := (k - 1) / 2
	ho, wo = (h+stride-1)/stride, (w+stride-1)/stride
	y = make([]float64, b*ho*wo*o)
	for bi := range b {
		for i := range ho {
			for j := range wo {
				for oc := range o {
					s := bias[oc]
					for dy := range k {
						for dx := range k {
							yi, xj := stride*i+dy-p, stride*j+dx-p
							if yi < 0 || yi >= h || xj < 0 || xj >= w {
								continue
							}
							for ci := range c {
								s += x[((bi*h+yi)*w+xj)*c+ci] * wts[((dy*k+dx)*c+ci)*o+oc]
							}
						}
					}
					y[((bi*ho+i)*wo+j)*o+oc] = s
				}
			}
		}
	}
	return y, ho, wo
}

func TestConv2D(t *testing.T) {
	bk := testBackend(t)
	rng := rand.New(rand.NewPCG(3, 4))
	const bs, h, w, c, o = 2, 5, 6, 3, 4
	x := randSlice(rng, bs*h*w*c, 1)
	for _, tc := range []struct{ kernel, stride int }{{3, 1}, {1, 1}, {3, 2}, {1, 2}} {
		wts := randSlice(rng, tc.kernel*tc.kernel*c*o, 1)
		bias := randSlice(rng, o, 1)
		store := model.NewStore()
		store.VariableWithValue("/conv/weights", tensors.FromFlatDataAndDimensions(toF32(wts), tc.kernel, tc.kernel, c, o))
		store.VariableWithValue("/conv/biases", toF32(bias))
		xt := tensors.FromFlatDataAndDimensions(toF32(x), bs, h, w, c)
		outs := model.MustExecOnceN(bk, store, func(scope *model.Scope, xn *graph.Node) []*graph.Node {
			ours := Conv2D(scope, xn, o, tc.kernel, tc.stride)
			// GoMLX's native convolution on the same weights, PyTorch-style padding.
			p := (tc.kernel - 1) / 2
			kernel := store.GetVariable("/conv/weights").NodeValue(xn.Graph())
			native := graph.Convolve(xn, kernel).PaddingPerDim([][2]int{{p, p}, {p, p}}).StridePerAxis(tc.stride, tc.stride).Done()
			native = graph.Add(native, onLastAxis(store.GetVariable("/conv/biases").NodeValue(xn.Graph()), 4))
			return []*graph.Node{ours, native}
		}, xt)
		want, ho, wo := convRef(x, bs, h, w, c, wts, tc.kernel, o, tc.stride, bias)
		if got := outs[0].Shape().Dimensions; got[1] != ho || got[2] != wo || got[3] != o {
			t.Fatalf("Conv2D(k=%d, s=%d) shape %s, want [%d %d %d %d]", tc.kernel, tc.stride, outs[0].Shape(), bs, ho, wo, o)
		}
		assertClose(t, "Conv2D vs direct loop", flat[float32](t, outs[0]), want, 1e-4)
		assertClose(t, "native Convolve vs direct loop", flat[float32](t, outs[1]), want, 1e-4)

		// Gradients of <y, r> for a random r, against the native convolution's: the
		// formulation is chosen for the speed of its backward pass, which must stay exact.
		r := toF32(randSlice(rng, bs*ho*wo*o, 1))
		grads := model.MustExecOnceN(bk, store, func(scope *model.Scope, xn, rn *graph.Node) []*graph.Node {
			g := xn.Graph()
			kernel := store.GetVariable("/conv/weights").NodeValue(g)
			ours := graph.ReduceAllSum(graph.Mul(Conv2D(scope, xn, o, tc.kernel, tc.stride), rn))
			p := (tc.kernel - 1) / 2
			native := graph.ReduceAllSum(graph.Mul(graph.Convolve(xn, kernel).PaddingPerDim([][2]int{{p, p}, {p, p}}).StridePerAxis(tc.stride, tc.stride).Done(), rn))
			return append(graph.Gradient(ours, xn, kernel), graph.Gradient(native, xn, kernel)...)
		}, xt, tensors.FromFlatDataAndDimensions(r, bs, ho, wo, o))
		assertClose(t, "dL/dx of Conv2D vs native", flat[float32](t, grads[0]), toF64(flat[float32](t, grads[2])), 1e-4)
		assertClose(t, "dL/dweights of Conv2D vs native", flat[float32](t, grads[1]), toF64(flat[float32](t, grads[3])), 1e-4)
	}
}

// TestConvSameGrad checks convSameGrad, the stride-1 convolution with its gradient
// written out (ONNX Runtime's formulation), against GoMLX's convolution and its
// gradient on the test backend: the value, dL/dx and dL/dweights of
// L = <conv(x), r> + <x, q> (x used twice, so its gradient must add to the other
// path's), for more, fewer and as many output as input channels (the two ways of
// shifting) and kernels 1 and 3, with two such convolutions in one graph (each must
// take its own output gradient).
func TestConvSameGrad(t *testing.T) {
	bk := testBackend(t)
	rng := rand.New(rand.NewPCG(5, 6))
	const bs, h, w = 2, 5, 6
	for _, tc := range []struct{ k, c, o int }{{3, 3, 5}, {3, 5, 3}, {3, 4, 4}, {1, 3, 5}, {1, 5, 3}} {
		x := tensors.FromFlatDataAndDimensions(toF32(randSlice(rng, bs*h*w*tc.c, 1)), bs, h, w, tc.c)
		w1 := tensors.FromFlatDataAndDimensions(toF32(randSlice(rng, tc.k*tc.k*tc.c*tc.o, 1)), tc.k, tc.k, tc.c, tc.o)
		w2 := tensors.FromFlatDataAndDimensions(toF32(randSlice(rng, tc.k*tc.k*tc.o*tc.o, 1)), tc.k, tc.k, tc.o, tc.o)
		r := tensors.FromFlatDataAndDimensions(toF32(randSlice(rng, bs*h*w*tc.o, 1)), bs, h, w, tc.o)
		q := tensors.FromFlatDataAndDimensions(toF32(randSlice(rng, bs*h*w*tc.c, 1)), bs, h, w, tc.c)
		build := func(conv func(x, w *graph.Node) *graph.Node) func(_ *model.Scope, xn, w1n, w2n, rn, qn *graph.Node) []*graph.Node {
			return func(_ *model.Scope, xn, w1n, w2n, rn, qn *graph.Node) []*graph.Node {
				y := conv(graph.Tanh(conv(xn, w1n)), w2n)
				l := graph.Add(graph.ReduceAllSum(graph.Mul(y, rn)), graph.ReduceAllSum(graph.Mul(xn, qn)))
				return append([]*graph.Node{y}, graph.Gradient(l, xn, w1n, w2n)...)
			}
		}
		ours := model.MustExecOnceN(bk, model.NewStore(), build(convSameGrad), x, w1, w2, r, q)
		want := model.MustExecOnceN(bk, model.NewStore(), build(func(x, w *graph.Node) *graph.Node { return convSame(x, w, 1) }), x, w1, w2, r, q)
		for i, name := range []string{"y", "dL/dx", "dL/dw1", "dL/dw2"} {
			ref := flat[float32](t, want[i])
			assertClose(t, fmt.Sprintf("k=%d %d->%d %s", tc.k, tc.c, tc.o, name), flat[float32](t, ours[i]), toF64(ref), 1e-5*max(1, maxAbs(ref)))
		}
	}
}

// TestSoftmax checks both softmax formulations against a float64 softmax over the
// last axis, and their gradient of <softmax(x), r> against p_i (r_i - sum_j p_j r_j),
// on rows with large, tiny and equal logits.
func TestSoftmax(t *testing.T) {
	bk := testBackend(t)
	const rows, n = 4, 5
	xs := []float64{-100, 3, 2.5, 0, 1, 50, 50, 50, 50, 50, 1e-3, -1e-3, 0, 2e-3, 0, -30, 30, -5, 5, 12}
	rng := rand.New(rand.NewPCG(5, 6))
	r := randSlice(rng, rows*n, 1)
	var want, wantGrad []float64
	for i := range rows {
		row, rr := xs[i*n:(i+1)*n], r[i*n:(i+1)*n]
		m, sum := slices.Max(row), 0.0
		for _, x := range row {
			sum += math.Exp(x - m)
		}
		p, pr := make([]float64, n), 0.0
		for j, x := range row {
			p[j] = math.Exp(x-m) / sum
			pr += p[j] * rr[j]
		}
		for j := range row {
			want = append(want, p[j])
			wantGrad = append(wantGrad, p[j]*(rr[j]-pr))
		}
	}
	for name, fn := range map[string]func(*graph.Node) *graph.Node{"exp": softmaxExp, "expm1": softmaxExpm1} {
		if name == "expm1" && !hasExpm1(bk) {
			continue // the pure-Go backend's formulation; ONNX Runtime has no Expm1
		}
		outs := model.MustExecOnceN(bk, model.NewStore(), func(_ *model.Scope, x, rn *graph.Node) []*graph.Node {
			y := fn(x)
			return []*graph.Node{y, graph.Gradient(graph.ReduceAllSum(graph.Mul(y, rn)), x)[0]}
		}, tensors.FromFlatDataAndDimensions(toF32(xs), rows, n), tensors.FromFlatDataAndDimensions(toF32(r), rows, n))
		assertClose(t, "softmax "+name, flat[float32](t, outs[0]), want, 1e-6)
		assertClose(t, "softmax' "+name, flat[float32](t, outs[1]), wantGrad, 1e-6)
	}
}

func TestUpDownsample(t *testing.T) {
	bk := testBackend(t)
	// 2×2 average pooling and the nearest-neighbour repetition inside Upsample.
	x := make([]float32, 1*4*4*1)
	for i := range x {
		x[i] = float32(i)
	}
	got := model.MustExecOnce(bk, model.NewStore(), func(scope *model.Scope, xn *graph.Node) *graph.Node {
		return Downsample(scope, xn, DownsampleAvgPool)
	}, tensors.FromFlatDataAndDimensions(x, 1, 4, 4, 1))
	assertClose(t, "avgpool", flat[float32](t, got), []float64{2.5, 4.5, 10.5, 12.5}, 1e-6)

	// Upsample with an identity 3×3 kernel (centre tap 1) is nearest-neighbour ×2.
	store := model.NewStore()
	kernel := make([]float32, 9)
	kernel[4] = 1
	store.VariableWithValue("/up/conv/weights", tensors.FromFlatDataAndDimensions(kernel, 3, 3, 1, 1))
	up := model.MustExecOnce(bk, store, func(scope *model.Scope, xn *graph.Node) *graph.Node {
		return Upsample(scope, xn)
	}, tensors.FromFlatDataAndDimensions([]float32{1, 2, 3, 4}, 1, 2, 2, 1))
	assertClose(t, "upsample", flat[float32](t, up), []float64{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}, 1e-6)
}

// TestSiLU checks both SiLU formulations against x·sigmoid(x) and its derivative
// sigmoid(x)·(1 + x·(1 - sigmoid(x))), computed in float64.
func TestSiLU(t *testing.T) {
	bk := testBackend(t)
	xs := []float64{-100, -20, -5, -1, -0.1, 0, 0.1, 1, 5, 20, 100}
	var want, wantGrad []float64
	for _, x := range xs {
		s := 1 / (1 + math.Exp(-x))
		want = append(want, x*s)
		wantGrad = append(wantGrad, s*(1+x*(1-s)))
	}
	for name, fn := range map[string]func(*graph.Node) *graph.Node{"logistic": siluLogistic, "expm1": siluExpm1} {
		if name == "expm1" && !hasExpm1(bk) {
			continue
		}
		outs := model.MustExecOnceN(bk, model.NewStore(), func(_ *model.Scope, x *graph.Node) []*graph.Node {
			y := fn(x)
			return []*graph.Node{y, graph.Gradient(graph.ReduceAllSum(y), x)[0]}
		}, toF32(xs))
		assertClose(t, "SiLU "+name, flat[float32](t, outs[0]), want, 1e-5)
		assertClose(t, "SiLU' "+name, flat[float32](t, outs[1]), wantGrad, 1e-6)
	}
}

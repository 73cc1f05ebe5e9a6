package backend

import (
	"math"
	"slices"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// TestWithOps wraps the pure-Go backend, which has Pad, input-dilated convolutions
// and IsFinite of its own, in withOps and checks that the composed ops give its
// native results: Pad exactly, for edge and interior padding (and negative edges
// against a hand-written answer), a stride-2 convolution's input gradient (which
// GoMLX computes with input dilation) to float32 rounding, and IsFinite on
// finite values, ±Inf and NaN.
func TestWithOps(t *testing.T) {
	native, err := Open(GoDefaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	wrapped := compute.Backend(&withOps{native})
	x := make([]float32, 2*5*4*3)
	for i := range x {
		x[i] = float32(i%17) - 8
	}
	xt := func() *tensors.Tensor {
		return tensors.FromFlatDataAndDimensions(append([]float32(nil), x...), 2, 5, 4, 3)
	}
	for _, tc := range []struct {
		name string
		pad  []graph.PadAxis
	}{
		{"edges", []graph.PadAxis{{}, {Start: 1, End: 2}, {Start: 0, End: 1}, {}}},
		{"interior", []graph.PadAxis{{}, {Interior: 1}, {Start: 1, End: 1, Interior: 2}, {}}},
	} {
		fn := func(xn *graph.Node) *graph.Node {
			return graph.Pad(xn, graph.Const(xn.Graph(), float32(0.5)), tc.pad...)
		}
		want := graph.MustExecOnce(native, fn, xt())
		got := graph.MustExecOnce(wrapped, fn, xt())
		if !want.Shape().Equal(got.Shape()) {
			t.Fatalf("%s: shape %s, native %s", tc.name, got.Shape(), want.Shape())
		}
		if w, g := tensors.MustCopyFlatData[float32](want), tensors.MustCopyFlatData[float32](got); !slices.Equal(w, g) {
			t.Errorf("%s: composed Pad differs from the native one:\n got %v\nwant %v", tc.name, g, w)
		}
	}

	// Negative edges crop (the pure-Go backend's own Pad does not take them).
	got := graph.MustExecOnce(wrapped, func(xn *graph.Node) *graph.Node {
		return graph.Pad(xn, graph.Const(xn.Graph(), float32(0.5)), graph.PadAxis{Start: -1, End: 2, Interior: 1})
	}, []float32{1, 2, 3, 4})
	if g, w := tensors.MustCopyFlatData[float32](got), []float32{0.5, 2, 0.5, 3, 0.5, 4, 0.5, 0.5}; !slices.Equal(g, w) {
		t.Errorf("Pad([1 2 3 4], 0.5, start -1, end 2, interior 1) = %v, want %v", g, w)
	}

	// IsFinite.
	special := []float32{0, -1.5, 3e38, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
	isFinite := func(xn *graph.Node) *graph.Node { return graph.IsFinite(xn) }
	if g, w := tensors.MustCopyFlatData[bool](graph.MustExecOnce(wrapped, isFinite, special)), tensors.MustCopyFlatData[bool](graph.MustExecOnce(native, isFinite, special)); !slices.Equal(g, w) || !slices.Equal(w, []bool{true, true, true, false, false, false}) {
		t.Errorf("IsFinite(%v) = %v, native %v", special, g, w)
	}

	// The gradient of a 3×3 stride-2 convolution with respect to its input.
	k := make([]float32, 3*3*3*2)
	for i := range k {
		k[i] = float32(i%7)/7 - 0.5
	}
	grad := func(xn, kn *graph.Node) *graph.Node {
		y := graph.Convolve(xn, kn).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).StridePerAxis(2, 2).Done()
		return graph.Gradient(graph.ReduceAllSum(graph.Square(y)), xn)[0]
	}
	kt := func() *tensors.Tensor {
		return tensors.FromFlatDataAndDimensions(append([]float32(nil), k...), 3, 3, 3, 2)
	}
	want := tensors.MustCopyFlatData[float32](graph.MustExecOnce(native, grad, xt(), kt()))
	gotGrad := tensors.MustCopyFlatData[float32](graph.MustExecOnce(wrapped, grad, xt(), kt()))
	for i := range want {
		if d := want[i] - gotGrad[i]; d > 1e-4 || d < -1e-4 {
			t.Fatalf("input gradient of a stride-2 convolution: element %d = %g, native %g", i, gotGrad[i], want[i])
		}
	}
}

// TestPassThroughOutputs returns a graph's input unchanged, twice, beside a
// computed value and a scalar reshape, on every installed backend: compute-onnx
// alone leaves such outputs unwritten or refuses them (see withOps).
func TestPassThroughOutputs(t *testing.T) {
	for _, c := range Installed() {
		b, err := Open(c.Config)
		if err != nil {
			t.Fatalf("%s: %v", c.Config, err)
		}
		x := []float32{3, -4, 0.5}
		outs := graph.MustExecOnceN(b, func(xn *graph.Node) []*graph.Node {
			s := graph.Reshape(graph.Slice(xn, graph.AxisElem(1)))
			return []*graph.Node{xn, graph.AddScalar(xn, 1), xn, s}
		}, x)
		for i, want := range [][]float32{x, {4, -3, 1.5}, x, {-4}} {
			got := tensors.MustCopyFlatData[float32](outs[i])
			if !slices.Equal(got, want) {
				t.Errorf("%s: output %d = %v, want %v", c.Config, i, got, want)
			}
		}
		if r := outs[3].Shape().Rank(); r != 0 {
			t.Errorf("%s: the scalar output has rank %d", c.Config, r)
		}
	}
}

// TestBroadcastScalar checks withOps' binary ops of a scalar and a tensor against
// the pure-Go backend's, with the scalar on either side (Sub and Div tell the sides
// apart), on a tensor of many short rows (the scalar is broadcast) and on one of
// few (it is not), and which shapes get the broadcast.
func TestBroadcastScalar(t *testing.T) {
	for _, tc := range []struct {
		dims []int
		want bool
	}{
		{[]int{256, 28, 28, 1}, true},
		{[]int{2000, 2}, true},
		{[]int{1024, 7}, true},
		{[]int{1023, 1}, false},     // too few rows
		{[]int{1024, 8}, false},     // rows long enough
		{[]int{3, 3, 16, 1}, false}, // a kernel's Adam update
		{[]int{256, 28, 28, 16}, false},
		{nil, false},
	} {
		if got := manyShortRows(shapes.Make(dtypes.Float32, tc.dims...)); got != tc.want {
			t.Errorf("manyShortRows(%v) = %v, want %v", tc.dims, got, tc.want)
		}
	}

	native, err := Open(GoDefaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	wrapped := compute.Backend(&withOps{native})
	ops := map[string]func(a, b *graph.Node) *graph.Node{
		"Add": graph.Add, "Sub": graph.Sub, "Mul": graph.Mul, "Div": graph.Div,
		"Max": graph.Max, "Min": graph.Min, "Pow": graph.Pow,
		"LessThan": func(a, b *graph.Node) *graph.Node {
			return graph.ConvertDType(graph.LessThan(a, b), dtypes.Float32)
		},
	}
	for _, dims := range [][]int{{1500, 1}, {3, 2}} {
		n := dims[0] * dims[1]
		x := make([]float32, n)
		for i := range x {
			x[i] = 0.25 + float32(i%13)/4
		}
		for name, op := range ops {
			for _, left := range []bool{true, false} {
				fn := func(xn *graph.Node) *graph.Node {
					c := graph.Const(xn.Graph(), float32(1.75))
					if left {
						return op(c, xn)
					}
					return op(xn, c)
				}
				in := func() *tensors.Tensor {
					return tensors.FromFlatDataAndDimensions(append([]float32(nil), x...), dims...)
				}
				want := graph.MustExecOnce(native, fn, in())
				got := graph.MustExecOnce(wrapped, fn, in())
				if !want.Shape().Equal(got.Shape()) {
					t.Fatalf("%s(scalar left %v) on %v: shape %s, native %s", name, left, dims, got.Shape(), want.Shape())
				}
				if w, g := tensors.MustCopyFlatData[float32](want), tensors.MustCopyFlatData[float32](got); !slices.Equal(w, g) {
					t.Errorf("%s(scalar left %v) on %v differs from the native op: got %v..., want %v...", name, left, dims, g[:3], w[:3])
				}
			}
		}
	}
}

// TestReduceSumAsProduct checks which sums withOps computes as a product with ones
// (leading axes, any order, enough values, a short kept block, floats) and that
// the sums, float32 and float64, through either path equal the pure-Go backend's
// own to rounding.
func TestReduceSumAsProduct(t *testing.T) {
	for _, tc := range []struct {
		dims, axes []int
		want       bool
	}{
		{[]int{64, 28, 28, 16}, []int{0, 1, 2}, true},
		{[]int{64, 28, 28, 16}, []int{2, 0, 1}, true},
		{[]int{2048, 3}, []int{0}, true},
		{[]int{1023, 3}, []int{0}, false},           // too few values a sum
		{[]int{2048, 65}, []int{0}, false},          // kept rows long enough
		{[]int{2048, 1}, []int{0}, false},           // one output
		{[]int{64, 28, 28, 16}, []int{1, 2}, false}, // middle axes
		{[]int{64, 28, 28, 16}, []int{0, 2}, false}, // not a block
		{[]int{64, 28, 28}, []int{0, 1, 2}, false},  // every axis
	} {
		if _, _, got := leadingReduction(shapes.Make(dtypes.Float32, tc.dims...), tc.axes); got != tc.want {
			t.Errorf("leadingReduction(%v, axes %v) = %v, want %v", tc.dims, tc.axes, got, tc.want)
		}
	}
	if _, _, got := leadingReduction(shapes.Make(dtypes.Int32, 2048, 3), []int{0}); got {
		t.Error("leadingReduction(int32 [2048 3], axes [0]) = true, want false (floats only)")
	}

	native, err := Open(GoDefaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	wrapped := compute.Backend(&withOps{native})
	for _, tc := range []struct {
		dims, axes []int
	}{{[]int{16, 9, 10, 5}, []int{0, 1, 2}}, {[]int{16, 9, 10, 5}, []int{1, 0}}, {[]int{1500, 3}, []int{0}}, {[]int{16, 9, 10, 5}, []int{1, 2}}} {
		n := 1
		for _, d := range tc.dims {
			n *= d
		}
		x := make([]float64, n)
		for i := range x {
			x[i] = float64(i%23)/8 - 1
		}
		for _, f64 := range []bool{false, true} {
			in := func() *tensors.Tensor {
				if f64 {
					return tensors.FromFlatDataAndDimensions(slices.Clone(x), tc.dims...)
				}
				x32 := make([]float32, n)
				for i, v := range x {
					x32[i] = float32(v)
				}
				return tensors.FromFlatDataAndDimensions(x32, tc.dims...)
			}
			fn := func(xn *graph.Node) *graph.Node { return graph.ReduceSum(xn, tc.axes...) }
			want, got := graph.MustExecOnce(native, fn, in()), graph.MustExecOnce(wrapped, fn, in())
			if !want.Shape().Equal(got.Shape()) {
				t.Fatalf("ReduceSum(%v, axes %v) shape %s, native %s", tc.dims, tc.axes, got.Shape(), want.Shape())
			}
			w, g := toFloat64(want), toFloat64(got)
			for i := range w {
				if math.Abs(w[i]-g[i]) > 1e-4*(1+math.Abs(w[i])) {
					t.Errorf("ReduceSum(%v, axes %v, float64 %v)[%d] = %g, native %g", tc.dims, tc.axes, f64, i, g[i], w[i])
					break
				}
			}
		}
	}
}

// toFloat64 copies a float32 or float64 tensor's values as float64.
func toFloat64(t *tensors.Tensor) []float64 {
	if t.DType() == dtypes.Float64 {
		return tensors.MustCopyFlatData[float64](t)
	}
	v := tensors.MustCopyFlatData[float32](t)
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

package models

import (
	"fmt"
	"testing"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// BenchmarkMicroConv times forward + gradients of one 3×3 convolution at 28×28,
// batch 64, C → O channels (96 → 32 is the widest convolution of the large UNet,
// 16 → 16 the narrowest of the default one), in four formulations:
//
//	dot4d   cols · W, cols = the 9 windows concatenated on channels (rank-4 DotGeneral)
//	dot2d   the same after reshaping cols to rank 2
//	wfirst  (W^T · cols^T)^T: the weight gradient needs no transpose of cols
//	sum9    sum over the 9 windows of (W_k^T · window_k^T), transposed once: no concatenation
func BenchmarkMicroConv(b *testing.B) {
	for _, io := range [][2]int{{96, 32}, {16, 16}, {32, 32}} {
		c, o := io[0], io[1]
		x, _, _ := benchBatch(64, 28, 28, c)
		for _, name := range []string{"dot4d", "dot2d", "wfirst", "sum9", "rows3"} {
			b.Run(fmt.Sprintf("%dto%d/%s", c, o, name), func(b *testing.B) {
				exec := model.MustNewExec(testBackend(b), model.NewStore(), func(scope *model.Scope, xn *graph.Node) []*graph.Node {
					g := xn.Graph()
					w := scope.VariableWithShape("w", shapes.Make(xn.DType(), 9*c, o)).NodeValue(g)
					var y *graph.Node
					switch name {
					case "dot4d":
						y = graph.Dot(im2col(xn, 3, 1), w).General([]int{3}, nil, []int{0}, nil)
					case "dot2d":
						y = graph.Reshape(graph.Dot(graph.Reshape(im2col(xn, 3, 1), 64*28*28, 9*c), w).Product(), 64, 28, 28, o)
					case "wfirst":
						y = graph.TransposeAllAxes(graph.Dot(w, im2col(xn, 3, 1)).General([]int{0}, nil, []int{3}, nil), 1, 2, 3, 0)
					case "rows3":
						y = convRows3(xn, w, c, o)
					case "sum9":
						xp := padZeros(xn, 1)
						for k := range 9 {
							dy, dx := k/3, k%3
							win := graph.Slice(xp, graph.AxisRange(), graph.AxisRange(dy, dy+28), graph.AxisRange(dx, dx+28), graph.AxisRange())
							wk := graph.Slice(w, graph.AxisRange(k*c, (k+1)*c), graph.AxisRange())
							yk := graph.Dot(wk, win).General([]int{0}, nil, []int{3}, nil)
							if y == nil {
								y = yk
							} else {
								y = graph.Add(y, yk)
							}
						}
						y = graph.TransposeAllAxes(y, 1, 2, 3, 0)
					}
					l := graph.ReduceAllMean(graph.Square(y))
					grads := graph.Gradient(l, xn, w)
					return []*graph.Node{l, grads[0], grads[1]}
				})
				for _, t := range exec.MustCall(x) {
					t.FinalizeAll()
				}
				for b.Loop() {
					for _, t := range exec.MustCall(x) {
						t.FinalizeAll()
					}
				}
			})
		}
	}
}

// BenchmarkMicroSiLU times forward + gradient of SiLU on [64, 28, 28, 96] through the
// backend's Logistic op and through expm1 (see siluExpm1).
func BenchmarkMicroSiLU(b *testing.B) {
	x, _, _ := benchBatch(64, 28, 28, 96)
	for _, tc := range []struct {
		name string
		fn   func(*graph.Node) *graph.Node
	}{{"logistic", siluLogistic}, {"expm1", siluExpm1}} {
		b.Run(tc.name, func(b *testing.B) {
			exec := model.MustNewExec(testBackend(b), model.NewStore(), func(_ *model.Scope, xn *graph.Node) []*graph.Node {
				y := tc.fn(xn)
				return []*graph.Node{graph.ReduceAllSum(y), graph.Gradient(graph.ReduceAllSum(y), xn)[0]}
			})
			for b.Loop() {
				for _, t := range exec.MustCall(x) {
					t.FinalizeAll()
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N*x.Shape().Size()), "ns/elem")
		})
	}
}

// convRows3 is a 3×3 stride-1 convolution of x [B, H, W, C] with w [9C, O] (rows in
// (dy, dx, c) order) computed as: the 3 column shifts of the padded x concatenated on
// channels, xw [B, H+2, W, 3C]; one product with the weights regrouped as
// [(dx, c), (dy, o)], Z [3O, B, H+2, W]; and the sum over dy of the rows dy..dy+H-1 of
// the dy-th block of Z.
func convRows3(x, w *graph.Node, c, o int) *graph.Node {
	d := x.Shape().Dimensions
	h, wd := d[1], d[2]
	xp := padZeros(x, 1)
	var cols []*graph.Node
	for dx := range 3 {
		cols = append(cols, graph.Slice(xp, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(dx, dx+wd), graph.AxisRange()))
	}
	xw := graph.Concatenate(cols, -1) // [B, H+2, W, 3C], channels in (dx, c) order
	wr := graph.Reshape(graph.TransposeAllAxes(graph.Reshape(w, 3, 3, c, o), 1, 2, 0, 3), 3*c, 3*o)
	z := graph.Dot(wr, xw).General([]int{0}, nil, []int{3}, nil) // [3O, B, H+2, W]
	var y *graph.Node
	for dy := range 3 {
		zy := graph.Slice(z, graph.AxisRange(dy*o, (dy+1)*o), graph.AxisRange(), graph.AxisRange(dy, dy+h), graph.AxisRange())
		if y == nil {
			y = zy
		} else {
			y = graph.Add(y, zy)
		}
	}
	return graph.TransposeAllAxes(y, 1, 2, 3, 0)
}

// im2col returns the kernel² shifted windows of x [B, H, W, C], zero-padded by
// (kernel-1)/2 on each side, concatenated along channels in (dy, dx, c) order:
// shape [B, H', W', kernel²·C] with H' = ceil(H/stride), W' = ceil(W/stride).
func im2col(x *graph.Node, kernel, stride int) *graph.Node {
	if kernel == 1 && stride == 1 {
		return x
	}
	p := (kernel - 1) / 2
	xp := padZeros(x, p)
	dims := x.Shape().Dimensions
	ho := (dims[1] + stride - 1) / stride
	wo := (dims[2] + stride - 1) / stride
	windows := make([]*graph.Node, 0, kernel*kernel)
	for dy := range kernel {
		for dx := range kernel {
			windows = append(windows, graph.Slice(xp, graph.AxisRange(),
				graph.AxisRange(dy, dy+stride*(ho-1)+1).Stride(stride),
				graph.AxisRange(dx, dx+stride*(wo-1)+1).Stride(stride),
				graph.AxisRange()))
		}
	}
	if len(windows) == 1 {
		return windows[0]
	}
	return graph.Concatenate(windows, -1)
}

// BenchmarkMicroForward times forward-only formulations of the UNet's elementwise
// and normalisation work on [256, 28, 28, 16] (the default UNet's widest activation
// at batch 256), on the backend of $GOMLX_BACKEND:
//
//	silu/logistic   x · Logistic(x)
//	silu/expm1      x · S with the gradient-carrying S of siluExpm1
//	silu/expm1fwd   x / (2 + expm1(-x)), no gradient term
//	silu/softmax    x · softmax([x, 0])_0 through the backend's (fused) Softmax
//	groupnorm/groupaxes  normalize over axes 1 and 3 of a [B, S, G, C/G] view
//	groupnorm/channels   GroupNorm: reductions over S of [B, S, C], then per group
//	groupnorm/fused      the backend's fused layer norm over the group's axes (the
//	                     pure-Go backend has one; ONNX Runtime does not)
func BenchmarkMicroForward(b *testing.B) {
	x, _, _ := benchBatch(256, 28, 28, 16)
	groupView := func(xn *graph.Node) *graph.Node { return graph.Reshape(xn, 256, 28*28, 8, 2) }
	for _, tc := range []struct {
		name string
		fn   func(*model.Scope, *graph.Node) *graph.Node
	}{
		{"silu/logistic", func(_ *model.Scope, xn *graph.Node) *graph.Node { return siluLogistic(xn) }},
		{"silu/expm1", func(_ *model.Scope, xn *graph.Node) *graph.Node { return siluExpm1(xn) }},
		{"silu/expm1fwd", func(_ *model.Scope, xn *graph.Node) *graph.Node {
			return graph.Div(xn, graph.AddScalar(graph.Expm1(graph.Neg(xn)), 2))
		}},
		{"silu/softmax", func(_ *model.Scope, xn *graph.Node) *graph.Node {
			pair := graph.Stack([]*graph.Node{xn, graph.ZerosLike(xn)}, -1)
			s := graph.Squeeze(graph.Slice(graph.Softmax(pair, -1), graph.AxisRange(), graph.AxisRange(), graph.AxisRange(), graph.AxisRange(), graph.AxisElem(0)), -1)
			return graph.Mul(xn, s)
		}},
		{"groupnorm/groupaxes", func(_ *model.Scope, xn *graph.Node) *graph.Node { return normalize(groupView(xn), 1, 3) }},
		{"groupnorm/channels", func(scope *model.Scope, xn *graph.Node) *graph.Node { return GroupNorm(scope, xn, 8) }},
		{"groupnorm/fused", func(_ *model.Scope, xn *graph.Node) *graph.Node {
			return graph.BackendFusedLayerNorm(groupView(xn), []int{1, 3}, NormEpsilon, nil, nil)
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			exec := model.MustNewExec(testBackend(b), model.NewStore(), func(scope *model.Scope, xn *graph.Node) *graph.Node {
				return tc.fn(scope, xn)
			})
			exec.MustCall1(x).FinalizeAll()
			for b.Loop() {
				exec.MustCall1(x).FinalizeAll()
			}
			b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N*x.Shape().Size()), "ns/elem")
		})
	}
}

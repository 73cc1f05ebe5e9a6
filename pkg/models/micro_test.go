package models

import (
	"testing"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// BenchmarkMicroConv times forward + gradients of one 3×3 convolution 96 → 32 channels
// at 28×28, batch 64 (the widest convolution of the default UNet), with the product as
// a rank-4 DotGeneral (as Conv2D) or as a rank-2 one after a reshape.
func BenchmarkMicroConv(b *testing.B) {
	x, _, _ := benchBatch(64, 28, 28, 96)
	for _, name := range []string{"dot4d", "dot2d", "wfirst"} {
		b.Run(name, func(b *testing.B) {
			exec := model.MustNewExec(testBackend(b), model.NewStore(), func(scope *model.Scope, xn *graph.Node) []*graph.Node {
				g := xn.Graph()
				w := scope.VariableWithShape("w", shapes.Make(xn.DType(), 9*96, 32)).NodeValue(g)
				cols := im2col(xn, 3, 1)
				var y *graph.Node
				switch name {
				case "dot4d":
					y = graph.Dot(cols, w).General([]int{3}, nil, []int{0}, nil)
				case "wfirst":
					y = graph.TransposeAllAxes(graph.Dot(w, cols).General([]int{0}, nil, []int{3}, nil), 1, 2, 3, 0)
				default:
					y = graph.Reshape(graph.Dot(graph.Reshape(cols, 64*28*28, 9*96), w).Product(), 64, 28, 28, 32)
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

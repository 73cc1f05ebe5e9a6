package models

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads like maths with the dot import

	"github.com/difflab/difflab/pkg/backend"
)

// formulation is how a graph computes the ops whose fastest form depends on the
// backend that runs it. Every formulation computes the same function from the same
// variables, so one set of weights runs on every backend (TestBackendParity).
type formulation struct {
	// nativeConv: Conv2D is GoMLX's Convolve (ConvGeneral), fast on XLA (cuDNN on a
	// GPU) and ONNX Runtime; otherwise convRows, for the pure-Go backend, whose
	// native convolution is a naive loop.
	nativeConv bool
	// convGrad: in training graphs the native convolution of stride 1 carries
	// difflab's own gradient (convSameGrad), for ONNX Runtime, which runs GoMLX's
	// weight gradient slowly; other graphs, which take no gradient, are left without
	// its extra terms.
	convGrad bool
	// silu and softmax are SiLU's and the attention softmax's formulations.
	silu    func(*Node) *Node
	softmax func(*Node) *Node
}

// formulationOf returns the formulation for g's backend: on the pure-Go backend
// the column-shift convolution and this build's SiLU and softmax (silu_simd.go,
// silu_nosimd.go); elsewhere the native convolution and the backend's Logistic and
// Softmax (ONNX Runtime has no Expm1 op; XLA fuses either form).
func formulationOf(g *Graph) formulation {
	switch backend.KindOf(g.Backend()) {
	case backend.Go:
		return formulation{silu: silu, softmax: softmax}
	case backend.ONNX:
		return formulation{nativeConv: true, convGrad: true, silu: siluLogistic, softmax: softmaxExp}
	}
	return formulation{nativeConv: true, silu: siluLogistic, softmax: softmaxExp}
}

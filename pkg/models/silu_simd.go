//go:build goexperiment.simd

package models

// silu and softmax are the SiLU and attention-softmax formulations of this build;
// see siluExpm1 and softmaxExpm1.
var (
	silu    = siluExpm1
	softmax = softmaxExpm1
)

//go:build !goexperiment.simd

package models

// silu is the SiLU formulation of this build; see SiLU.
var silu = siluLogistic

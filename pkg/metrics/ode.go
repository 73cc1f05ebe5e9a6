package metrics

import (
	"fmt"
	"math"
)

// ODEError is the root-mean-square distance between the samples x and the
// samples ode that a fine solution of the same probability-flow ODE reached
// from the same x_T, point i against point i:
//
//	ode_error = sqrt(1/N sum_i |x_i - ode_i|^2)
//
// With an exact denoiser it is the solver's own error, the network taken out.
// It panics when the samples differ in number or dimension.
func ODEError(x, ode [][]float64) Result {
	if len(x) != len(ode) || len(x) == 0 {
		panic(fmt.Sprintf("metrics: ODEError: %d samples against %d solutions, want the same number (> 0)", len(x), len(ode)))
	}
	sum := 0.0
	for i := range x {
		if len(x[i]) != len(ode[i]) {
			panic(fmt.Sprintf("metrics: ODEError: point %d has %d coordinates, its solution %d", i, len(x[i]), len(ode[i])))
		}
		for j := range x[i] {
			d := x[i][j] - ode[i][j]
			sum += d * d
		}
	}
	return Result{Name: "ode_error", Value: math.Sqrt(sum / float64(len(x))), N: len(x), M: len(ode), Version: Version}
}

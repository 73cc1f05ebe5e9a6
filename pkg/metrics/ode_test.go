package metrics

import (
	"math"
	"testing"
)

func TestODEError(t *testing.T) {
	// Distances 5 and 0: sqrt((25 + 0)/2).
	r := ODEError([][]float64{{0, 0}, {1, 1}}, [][]float64{{3, 4}, {1, 1}})
	if want := math.Sqrt(12.5); math.Abs(r.Value-want) > 1e-15 || r.N != 2 {
		t.Errorf("ODEError = %+v, want %v over 2 points", r, want)
	}
	if r := ODEError([][]float64{{1, 2}}, [][]float64{{1, 2}}); r.Value != 0 {
		t.Errorf("ODEError of identical samples = %v, want 0", r.Value)
	}
	wantPanic := func(f func()) {
		defer func() {
			if recover() == nil {
				t.Error("no panic for mismatched samples")
			}
		}()
		f()
	}
	wantPanic(func() { ODEError([][]float64{{1}}, nil) })
	wantPanic(func() { ODEError([][]float64{{1, 2}}, [][]float64{{1}}) })
}

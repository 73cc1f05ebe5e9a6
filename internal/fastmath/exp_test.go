package fastmath

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExpMatchesMathExp compares Exp with math.Exp on a million seeded points over
// the whole finite range, and on the special cases. Each is within 1 ulp of e**x,
// so they may differ by up to 2 ulp from each other (amd64's assembly uses FMA).
func TestExpMatchesMathExp(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 1_000_000; i++ {
		x := (rng.Float64()*2 - 1) * 740
		if i%2 == 0 {
			x /= 100 // the range kernels use most
		}
		got, want := Exp(x), math.Exp(x)
		if got != want && math.Abs(got-want) > 2*ulp(want) {
			t.Fatalf("Exp(%v) = %v, math.Exp = %v: more than 2 ulp apart", x, got, want)
		}
	}
	for _, c := range []struct{ x, want float64 }{
		{0, 1}, {1, math.E}, {math.Inf(1), math.Inf(1)}, {math.Inf(-1), 0}, {800, math.Inf(1)}, {-800, 0}, {1e-30, 1},
	} {
		if got := Exp(c.x); got != c.want && math.Abs(got-c.want) > ulp(c.want) {
			t.Errorf("Exp(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if !math.IsNaN(Exp(math.NaN())) {
		t.Errorf("Exp(NaN) is not NaN")
	}
}

func ulp(x float64) float64 { return math.Nextafter(x, math.Inf(1)) - x }

var sink float64

// BenchmarkExp compares Exp with math.Exp; run it with and without
// GOEXPERIMENT=simd to see math.Exp's slowdown.
func BenchmarkExp(b *testing.B) {
	for _, c := range []struct {
		name string
		f    func(float64) float64
	}{{"fastmath", Exp}, {"math", math.Exp}} {
		b.Run(c.name, func(b *testing.B) {
			for i := range b.N {
				sink += c.f(-float64(i%1000) * 0.001)
			}
		})
	}
}

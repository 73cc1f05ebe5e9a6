package metrics_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/difflab/difflab/pkg/gmm"
	"github.com/difflab/difflab/pkg/metrics"
)

// Two samples that differ by a shift of 2 in 1-D are at SWD 2 for every order p;
// two point masses a, b are at energy distance 2|a - b|.
func Example() {
	x := [][]float64{{0}, {1}, {5}}
	y := [][]float64{{2}, {3}, {7}}
	fmt.Println(metrics.SlicedWasserstein(x, y, metrics.SWDConfig{Seed: 1}))
	fmt.Println(metrics.EnergyDistance([][]float64{{0}}, [][]float64{{2}}))
	// Output:
	// swd=2 (n=3 m=3 seed=1 v1)
	// energy=4 (n=1 m=1 seed=0 v1)
}

func ExampleModeWeights() {
	g := &gmm.Mixture{
		Weights: []float64{0.5, 0.5},
		Means:   [][]float64{{-4, 0}, {4, 0}},
		Stds:    []float64{0.5, 0.5},
	}
	// A sampler that dropped the right-hand mode.
	collapsed := &gmm.Mixture{Weights: []float64{1}, Means: g.Means[:1], Stds: g.Stds[:1]}
	x := collapsed.Sample(1000, rand.New(rand.NewPCG(1, 2)))
	st := metrics.ModeWeights(g, x, 0)
	fmt.Printf("weights %.2f, off-mode %.2f\n", st.Weights, st.OffMode)
	// Output:
	// weights [0.99 0.00], off-mode 0.01
}

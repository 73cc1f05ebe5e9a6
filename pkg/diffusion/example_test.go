package diffusion_test

import (
	"fmt"

	"github.com/difflab/difflab/pkg/backend"
	"github.com/difflab/difflab/pkg/diffusion"
	"github.com/difflab/difflab/pkg/gmm"
)

// Example is the README's five lines: a schedule, a denoiser (here the exact one of
// a Gaussian mixture) and a DDIM sampler.
func Example() {
	s, _ := diffusion.NewSchedule(diffusion.ScheduleConfig{Kind: diffusion.Cosine, T: 1000})
	g, _ := gmm.Load("../../experiments/ddim-table1-gmm/gmm.json")
	sm, _ := diffusion.NewSampler(backend.MustNew(), s, diffusion.ExactDenoiser(g, s),
		diffusion.SamplerConfig{Kind: diffusion.DDIM, Steps: 50, Eta: 0})
	res, _ := sm.Sample([]int{1000, 2}, nil, diffusion.NewPCGNoise(1), diffusion.SampleOptions{})
	fmt.Println(len(res.X0), res.Timesteps[0], res.Timesteps[49])
	// Output: 2000 980 0
}

// ExampleTimesteps shows the spacings of S = 5 of T = 1000 steps.
func ExampleTimesteps() {
	s := diffusion.MustNewSchedule(diffusion.ScheduleConfig{Kind: diffusion.Linear, T: 1000})
	for _, sp := range diffusion.Spacings {
		ts, _ := s.Timesteps(sp, 5) // Timesteps(sp, 1000, 5) for all but karras
		fmt.Println(sp, ts)
	}
	// Output:
	// leading [0 200 400 600 800]
	// trailing [199 399 599 799 999]
	// linspace [0 250 500 749 999]
	// quadratic [0 50 200 450 800]
	// karras [0 142 593 843 999]
}

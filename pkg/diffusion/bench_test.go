package diffusion

import (
	"testing"

	"github.com/difflab/difflab/pkg/gmm"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// BenchmarkSampler measures reverse-process steps per second: the exact GMM denoiser
// on a batch of 1024 2-D points, and a trivial model (eps_hat = 0.1 x) on batches of
// 64 and 256 28x28x1 images, where the time is the sampler's own work (drawing the
// noise on the host, copying it in, the step's arithmetic) plus the backend's
// per-call overhead: what a sampling step costs beyond the network's forward pass.
func BenchmarkSampler(b *testing.B) {
	s := MustNewSchedule(ScheduleConfig{Kind: Linear})
	g := &gmm.Mixture{Weights: []float64{0.25, 0.25, 0.5}, Means: [][]float64{{-2, 0}, {2, 0}, {0, 2}}, Stds: []float64{0.3, 0.3, 0.5}}
	trivial := Denoiser{Prediction: PredictEps, Fn: func(_ *model.Scope, x, _ *graph.Node) *graph.Node {
		return graph.MulScalar(x, 0.1)
	}}
	for _, c := range []struct {
		name  string
		d     Denoiser
		shape []int
	}{
		{"gmm-oracle/batch=1024x2", ExactDenoiser(g, s), []int{1024, 2}},
		{"trivial/batch=64x28x28x1", trivial, []int{64, 28, 28, 1}},
		{"trivial/batch=256x28x28x1", trivial, []int{256, 28, 28, 1}},
	} {
		for _, kind := range []SamplerKind{DDIM, DDPM} {
			b.Run(c.name+"/"+string(kind), func(b *testing.B) {
				steps := 50
				cfg := SamplerConfig{Kind: kind, Steps: steps, Eta: 1}
				if kind == DDPM {
					steps, cfg.Steps = s.T(), 0
				}
				sm, err := NewSampler(testBackend(b), s, c.d, cfg)
				if err != nil {
					b.Fatal(err)
				}
				noise := NewPCGNoise(1)
				if _, err := sm.Sample(c.shape, nil, noise, SampleOptions{}); err != nil { // compile outside the timer
					b.Fatal(err)
				}
				b.ResetTimer()
				for range b.N {
					if _, err := sm.Sample(c.shape, nil, noise, SampleOptions{}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(steps*b.N)/b.Elapsed().Seconds(), "steps/s")
				b.ReportMetric(float64(steps*b.N*c.shape[0])/b.Elapsed().Seconds(), "example-steps/s")
				b.ReportMetric(b.Elapsed().Seconds()/float64(steps*b.N), "s/step")
			})
		}
	}
}

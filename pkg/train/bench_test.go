package train

import (
	"testing"

	"github.com/difflab/difflab/pkg/diffusion"
)

// BenchmarkTrainStepMLP times TrainStep (batch draw, Go-side t and eps, the compiled
// update with AdamW, clipping and EMA) at batch 512 on the 37,762-parameter MLP of
// GOMLX-NOTES.md (2-D points, 32-d time embedding, 3 hidden layers of 128), T = 1000.
func BenchmarkTrainStepMLP(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Steps = 1 << 30
	cfg.BatchSize = 512
	cfg.LearningRate = 1e-3
	src := &clusterSource{seed: 1, batch: cfg.BatchSize}
	tr, err := New(testBackend(b), newSchedule(b, 1000), mlpDenoiser(diffusion.PredictEps, 128, 128, 128), cfg, src, []int{2})
	if err != nil {
		b.Fatal(err)
	}
	if tr.NumParameters() != 37762 {
		b.Fatalf("NumParameters() = %d, want 37762", tr.NumParameters())
	}
	if err := tr.TrainStep(); err != nil { // compile outside the timing
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := tr.TrainStep(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
}

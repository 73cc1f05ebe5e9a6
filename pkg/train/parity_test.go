package train

import (
	"math"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/difflab/difflab/internal/backendtest"
	"github.com/difflab/difflab/pkg/diffusion"
)

// TestTrainerBackendParity runs five steps of difflab's own training step (q_sample,
// L_simple, global-norm clipping, AdamW, EMA, the non-finite guard) from the same
// weights and the same batches on every installed backend, and checks each step's
// loss and gradient norm against the pure-Go backend's. The timesteps and noise are
// drawn on the host, so only float32 rounding separates the backends.
func TestTrainerBackendParity(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on every installed backend")
	}
	ref, others := backendtest.Open(t)
	den := mlpDenoiser(diffusion.PredictEps, 64, 64)
	x0 := tensors.FromFlatDataAndDimensions(make([]float32, 2*4), 4, 2)
	model.MustNewExec(ref, den.Store, den.Fn).MustCall(x0, tensors.FromFlatDataAndDimensions([]int32{0, 1, 2, 3}, 4)) // initialises the weights
	cfg := smallConfig()
	cfg.BatchSize = 128
	cfg.GradClip = 0.5 // clip some steps
	cfg.Seed = 3
	const steps = 5
	run := func(b compute.Backend) (loss, norm []float64) {
		d, err := den.Detached()
		if err != nil {
			t.Fatal(err)
		}
		tr, err := New(b, newSchedule(t, 100), d, cfg, &clusterSource{seed: 7, batch: cfg.BatchSize}, []int{2})
		if err != nil {
			t.Fatal(err)
		}
		for range steps {
			if err := tr.TrainStep(); err != nil {
				t.Fatalf("%s: TrainStep: %v", b.Name(), err)
			}
			loss, norm = append(loss, tr.Loss()), append(norm, tr.GradNorm())
		}
		return loss, norm
	}
	wantLoss, wantNorm := run(ref)
	for _, b := range others {
		gotLoss, gotNorm := run(b)
		for i := range steps {
			if d := math.Abs(gotLoss[i] - wantLoss[i]); d > 1e-4*wantLoss[i] || math.IsNaN(gotLoss[i]) {
				t.Errorf("%s: step %d loss %.7g, pure-Go backend %.7g", b.Name(), i+1, gotLoss[i], wantLoss[i])
			}
			if d := math.Abs(gotNorm[i] - wantNorm[i]); d > 1e-4*wantNorm[i] || math.IsNaN(gotNorm[i]) {
				t.Errorf("%s: step %d gradient norm %.7g, pure-Go backend %.7g", b.Name(), i+1, gotNorm[i], wantNorm[i])
			}
		}
	}
}

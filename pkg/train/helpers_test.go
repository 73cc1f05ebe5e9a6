package train

import (
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/difflab/difflab/pkg/backend"
	"github.com/difflab/difflab/pkg/diffusion"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
)

// testBackend returns the backend chosen by pkg/backend (pure Go unless $GOMLX_BACKEND says otherwise).
func testBackend(tb testing.TB) compute.Backend {
	tb.Helper()
	backend.Notice = io.Discard
	b, err := backend.New()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// mlpDenoiser is a small MLP denoiser for D-dimensional points: the input x [B, D]
// concatenated with a 32-d sinusoidal embedding of t goes through len(hidden) Dense
// layers with swish, then a Dense layer back to D. With hidden {128, 128, 128} and
// D = 2 it has 37,762 parameters (the MLP of /work/shared/GOMLX-NOTES.md).
func mlpDenoiser(p diffusion.Prediction, hidden ...int) diffusion.Denoiser {
	return diffusion.Denoiser{
		Prediction: p,
		Store:      model.NewStore(),
		Fn: func(scope *model.Scope, x, t *Node) *Node {
			g := x.Graph()
			const half = 16
			freqs := make([]float32, half)
			for i := range freqs {
				freqs[i] = float32(math.Exp(-math.Log(10000) * float64(i) / half))
			}
			tf := Mul(ExpandAxes(ConvertDType(t, x.DType()), -1), Const(g, [][]float32{freqs}))
			h := Concatenate([]*Node{x, Sin(tf), Cos(tf)}, -1)
			for i, n := range hidden {
				h = activation.Swish(layers.Dense(scope.In("dense_%d", i), h, true, n))
			}
			return layers.Dense(scope.In("out"), h, true, x.Shape().Dimensions[1])
		},
	}
}

// clusterSource yields 2-D points from two clusters, N((-2, -2), 0.3^2 I) and
// N((+2, +2), 0.3^2 I), with equal probability. Example i of the stream is a pure
// function of (seed, i), so the state is just the position. poisonBatch, when > 0,
// makes the batch with that 1-based number all NaN.
type clusterSource struct {
	seed        uint64
	batch       int
	pos         int // number of batches returned
	poisonBatch int
}

type clusterState struct {
	Seed uint64 `json:"seed"`
	Pos  int    `json:"pos"`
}

func (s *clusterSource) Next() ([]float32, error) {
	x := make([]float32, 2*s.batch)
	for b := range s.batch {
		r := rand.New(rand.NewPCG(s.seed, uint64(s.pos*s.batch+b)))
		c := float32(2)
		if r.IntN(2) == 0 {
			c = -2
		}
		x[2*b] = c + 0.3*float32(r.NormFloat64())
		x[2*b+1] = c + 0.3*float32(r.NormFloat64())
	}
	s.pos++
	if s.pos == s.poisonBatch {
		for i := range x {
			x[i] = float32(math.NaN())
		}
	}
	return x, nil
}

func (s *clusterSource) State() ([]byte, error) { return json.Marshal(clusterState{s.seed, s.pos}) }

func (s *clusterSource) Restore(b []byte) error {
	var st clusterState
	if err := json.Unmarshal(b, &st); err != nil {
		return err
	}
	s.seed, s.pos = st.Seed, st.Pos
	return nil
}

// smallConfig is a fast configuration for tests.
func smallConfig() Config {
	c := DefaultConfig()
	c.Steps = 20
	c.BatchSize = 64
	c.LearningRate = 3e-3
	c.EMADecay = 0.99
	c.LogEvery = 0
	c.CheckpointEvery = 0
	return c
}

func newSchedule(tb testing.TB, T int) *diffusion.Schedule {
	tb.Helper()
	s, err := diffusion.NewSchedule(diffusion.ScheduleConfig{Kind: diffusion.Linear, T: T})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// varBytes copies the raw bytes of every variable in the trainer (model, EMA, moments).
func varBytes(tb testing.TB, tr *Trainer) map[string][]byte {
	tb.Helper()
	out := map[string][]byte{}
	for _, e := range tr.entries() {
		out[e.role+" "+e.path] = tensorBytes(tb, must1(e.v.Value()))
	}
	return out
}

func tensorBytes(tb testing.TB, t *tensors.Tensor) []byte {
	tb.Helper()
	var b []byte
	if err := t.ConstBytes(func(d []byte) { b = append([]byte(nil), d...) }); err != nil {
		tb.Fatal(err)
	}
	return b
}

func tensorFloats(tb testing.TB, t *tensors.Tensor) []float64 {
	tb.Helper()
	var out []float64
	if err := t.ConstFlatData(func(flat any) {
		for _, v := range flat.([]float32) {
			out = append(out, float64(v))
		}
	}); err != nil {
		tb.Fatal(err)
	}
	return out
}

func must1[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// forward runs den on x [B, 2] at timestep t for every example.
func forward(tb testing.TB, b compute.Backend, den diffusion.Denoiser, x [][]float32, t int32) []float64 {
	tb.Helper()
	ts := make([]int32, len(x))
	for i := range ts {
		ts[i] = t
	}
	out, err := model.CallOnce(b, den.Store, func(scope *model.Scope, x, t *Node) *Node {
		return den.Fn(scope, x, ConvertDType(t, dtypes.Int32))
	}, x, ts)
	if err != nil {
		tb.Fatal(err)
	}
	return tensorFloats(tb, out)
}

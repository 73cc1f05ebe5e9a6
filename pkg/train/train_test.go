package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/difflab/difflab/pkg/diffusion"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v, want nil", err)
	}
	tests := []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"steps", func(c *Config) { c.Steps = 0 }, `"steps" = 0`},
		{"batch", func(c *Config) { c.BatchSize = -1 }, `"batch_size" = -1`},
		{"lr zero", func(c *Config) { c.LearningRate = 0 }, `"learning_rate" = 0`},
		{"lr nan", func(c *Config) { c.LearningRate = math.NaN() }, `"learning_rate" = NaN`},
		{"warmup", func(c *Config) { c.WarmupSteps = c.Steps + 1 }, `"warmup_steps" = 10001, want in [0, steps=10000]`},
		{"decay", func(c *Config) { c.Decay = "linear" }, `"decay" = "linear", want one of constant, cosine`},
		{"decay empty", func(c *Config) { c.Decay = "" }, `"decay" = ""`},
		{"wd", func(c *Config) { c.WeightDecay = -1 }, `"weight_decay" = -1`},
		{"beta1", func(c *Config) { c.AdamBeta1 = 1 }, `"adam_beta1" = 1, want in [0, 1)`},
		{"beta2", func(c *Config) { c.AdamBeta2 = -0.1 }, `"adam_beta2" = -0.1`},
		{"eps", func(c *Config) { c.AdamEpsilon = 0 }, `"adam_epsilon" = 0`},
		{"clip", func(c *Config) { c.GradClip = -1 }, `"grad_clip" = -1`},
		{"ema", func(c *Config) { c.EMADecay = 1 }, `"ema_decay" = 1, want in [0, 1)`},
		{"gamma", func(c *Config) { c.MinSNRGamma = math.Inf(1) }, `"min_snr_gamma" = +Inf`},
		{"ckpt every", func(c *Config) { c.CheckpointEvery = -1 }, `"checkpoint_every" = -1`},
		{"keep", func(c *Config) { c.KeepLast = -2 }, `"keep_last" = -2`},
		{"log", func(c *Config) { c.LogEvery = -1 }, `"log_every" = -1`},
		{"sample", func(c *Config) { c.SampleEvery = -1 }, `"sample_every" = -1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("Validate() = %v, want an error containing %s", err, tc.field)
			}
		})
	}
	// Several bad fields are all reported.
	c := DefaultConfig()
	c.Steps, c.BatchSize = 0, 0
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "steps") || !strings.Contains(err.Error(), "batch_size") {
		t.Errorf("Validate() = %v, want both steps and batch_size named", err)
	}
}

func TestLearningRateAt(t *testing.T) {
	cos := Config{LearningRate: 1e-3, WarmupSteps: 10, Steps: 110, Decay: DecayCosine}
	cst := cos
	cst.Decay = DecayConstant
	tests := []struct {
		cfg  Config
		k    int
		want float64
	}{
		{cos, 1, 1e-4}, // warm-up k/W
		{cos, 5, 5e-4},
		{cos, 10, 1e-3},
		{cos, 11, 1e-3},                  // cos(0)
		{cos, 60, 0.0005157053795390641}, // (1+cos(0.49 pi))/2 * 1e-3
		{cos, 110, 2.467198171342e-07},   // (1+cos(0.99 pi))/2 * 1e-3
		{cos, 500, 2.467198171342e-07},   // clamped to Steps
		{cst, 3, 3e-4},
		{cst, 11, 1e-3},
		{cst, 110, 1e-3},
		{Config{LearningRate: 2e-4, Steps: 5, Decay: DecayConstant}, 1, 2e-4}, // no warm-up
	}
	for _, tc := range tests {
		if got := tc.cfg.LearningRateAt(tc.k); math.Abs(got-tc.want) > 1e-15*math.Max(1, math.Abs(tc.want)) {
			t.Errorf("Config{%s, W=%d, N=%d}.LearningRateAt(%d) = %.17g, want %.17g", tc.cfg.Decay, tc.cfg.WarmupSteps, tc.cfg.Steps, tc.k, got, tc.want)
		}
	}
}

func TestEMADecayAt(t *testing.T) {
	c := Config{EMADecay: 0.9999}
	for _, tc := range []struct {
		k    int
		want float64
	}{{1, 0.1}, {2, 0.18181818181818182}, {10, 0.5263157894736842}, {1e6, 0.9999}} {
		if got := c.EMADecayAt(tc.k); math.Abs(got-tc.want) > 1e-16 {
			t.Errorf("EMADecayAt(%d) = %.17g, want %.17g", tc.k, got, tc.want)
		}
	}
	if got := (Config{EMADecay: 0.5}).EMADecayAt(100); got != 0.5 {
		t.Errorf("EMADecayAt(100) with EMADecay 0.5 = %v, want 0.5", got)
	}
}

func TestMinSNRWeights(t *testing.T) {
	s := newSchedule(t, 1000)
	const gamma = 5.0
	for _, tt := range []int{0, 100, 500, 999} {
		snr := s.AlphasCumprod[tt] / (1 - s.AlphasCumprod[tt])
		want := map[diffusion.Prediction]float64{
			diffusion.PredictEps: math.Min(snr, gamma) / snr,
			diffusion.PredictX0:  math.Min(snr, gamma),
			diffusion.PredictV:   math.Min(snr, gamma) / (snr + 1),
		}
		for p, w := range want {
			if got := MinSNRWeights(s, p, gamma)[tt]; math.Abs(got-w) > 1e-12*math.Max(1, w) {
				t.Errorf("MinSNRWeights(%s, gamma=5)[%d] = %.17g, want %.17g (SNR %.6g)", p, tt, got, w, snr)
			}
		}
	}
	// At t = 0 of the linear schedule SNR = 9999 > gamma, so eps weights 5/9999.
	if got, want := MinSNRWeights(s, diffusion.PredictEps, gamma)[0], 5/(0.9999/0.0001); math.Abs(got-want) > 1e-12 {
		t.Errorf("MinSNRWeights(eps)[0] = %v, want %v", got, want)
	}
	for _, w := range MinSNRWeights(s, diffusion.PredictV, 0) {
		if w != 1 {
			t.Fatalf("MinSNRWeights(gamma=0) has %v, want all ones", w)
		}
	}
}

func TestClipByGlobalNorm(t *testing.T) {
	b := testBackend(t)
	a := []float32{3, -4, 1}
	c := [][]float32{{2, 0}, {-1, 5}}
	sumSq := 0.0
	for _, v := range a {
		sumSq += float64(v * v)
	}
	for _, r := range c {
		for _, v := range r {
			sumSq += float64(v * v)
		}
	}
	norm := math.Sqrt(sumSq) // sqrt(56)
	for _, maxNorm := range []float64{0, 1, 100} {
		outs, err := ExecOnceN(b, func(a, c *Node) []*Node {
			cl, n := clipByGlobalNorm([]*Node{a, c}, maxNorm)
			return []*Node{cl[0], cl[1], n}
		}, a, c)
		if err != nil {
			t.Fatal(err)
		}
		scale := 1.0
		if maxNorm > 0 {
			scale = math.Min(1, maxNorm/(norm+1e-6))
		}
		if got := scalarOf(outs[2]); math.Abs(got-norm) > 1e-5 {
			t.Errorf("maxNorm %v: norm = %v, want %v", maxNorm, got, norm)
		}
		got := append(tensorFloats(t, outs[0]), tensorFloats(t, outs[1])...)
		want := []float32{3, -4, 1, 2, 0, -1, 5}
		for i := range want {
			if w := float64(want[i]) * scale; math.Abs(got[i]-w) > 1e-6 {
				t.Errorf("maxNorm %v: clipped[%d] = %v, want %v", maxNorm, i, got[i], w)
			}
		}
	}
}

func TestAdamWUpdate(t *testing.T) {
	b := testBackend(t)
	h := adamWHyper{beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01}
	w := []float32{0.5, -1, 2}
	g := []float32{0.1, 0.2, -0.3}
	m := []float32{0.01, 0, -0.02}
	v := []float32{1e-4, 2e-4, 0}
	const lr, k = 1e-2, 3
	bc1, bc2 := 1/(1-math.Pow(0.9, k)), 1/(1-math.Pow(0.999, k))
	outs, err := ExecOnceN(b, func(in []*Node) []*Node {
		w2, m2, v2 := adamWUpdate(h, in[0], in[1], in[2], in[3], in[4], in[5], in[6])
		return []*Node{w2, m2, v2}
	}, w, g, m, v, float32(lr), float32(bc1), float32(bc2))
	if err != nil {
		t.Fatal(err)
	}
	gw, gm, gv := tensorFloats(t, outs[0]), tensorFloats(t, outs[1]), tensorFloats(t, outs[2])
	for i := range w {
		mi := 0.9*float64(m[i]) + 0.1*float64(g[i])
		vi := 0.999*float64(v[i]) + 0.001*float64(g[i])*float64(g[i])
		wi := float64(w[i]) - lr*(mi*bc1/(math.Sqrt(vi*bc2)+1e-8)+0.01*float64(w[i]))
		for _, c := range []struct {
			name      string
			got, want float64
		}{{"m", gm[i], mi}, {"v", gv[i], vi}, {"w", gw[i], wi}} {
			if math.Abs(c.got-c.want) > 1e-6*math.Max(1, math.Abs(c.want)) {
				t.Errorf("adamWUpdate %s[%d] = %.9g, want %.9g", c.name, i, c.got, c.want)
			}
		}
	}
}

func TestWhereScalarCondition(t *testing.T) {
	// stepGraph relies on Where broadcasting a scalar condition over a tensor.
	b := testBackend(t)
	out, err := ExecOnce(b, func(x *Node) *Node {
		return Where(IsFinite(ReduceAllSum(x)), MulScalar(x, 2), x)
	}, []float32{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := tensorFloats(t, out); got[0] != 2 || got[1] != 4 {
		t.Errorf("Where(true, 2x, x) = %v, want [2 4]", got)
	}
}

// newTestTrainer builds a trainer of a fresh MLP on the cluster source.
func newTestTrainer(t *testing.T, cfg Config, p diffusion.Prediction, hidden ...int) (*Trainer, *clusterSource) {
	t.Helper()
	src := &clusterSource{seed: 7, batch: cfg.BatchSize}
	tr, err := New(testBackend(t), newSchedule(t, 100), mlpDenoiser(p, hidden...), cfg, src, []int{2})
	if err != nil {
		t.Fatal(err)
	}
	return tr, src
}

func TestLossDecreases(t *testing.T) {
	if testing.Short() {
		t.Skip("trains 300 steps")
	}
	cfg := smallConfig()
	cfg.Steps = 300
	cfg.BatchSize = 128
	cfg.LearningRate = 3e-3
	cfg.WarmupSteps = 20
	cfg.Decay = DecayCosine
	cfg.Seed = 1
	tr, _ := newTestTrainer(t, cfg, diffusion.PredictEps, 64, 64)
	var losses []float64
	tr.OnStep(1, func(step int, tr *Trainer) error {
		losses = append(losses, tr.Loss())
		return nil
	})
	if err := tr.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	mean := func(x []float64) float64 {
		s := 0.0
		for _, v := range x {
			s += v
		}
		return s / float64(len(x))
	}
	first, last := mean(losses[:30]), mean(losses[len(losses)-30:])
	t.Logf("mean loss: first 30 steps %.4f, last 30 steps %.4f", first, last)
	// For eps-prediction the loss of a model that predicts 0 is E||eps||^2/D = 1.
	if !(last < 0.7*first) || !(last < 0.7) {
		t.Errorf("mean loss went from %.4f to %.4f, want the last below 0.7 and below 0.7 × the first", first, last)
	}
	if tr.Step() != cfg.Steps {
		t.Errorf("Step() = %d, want %d", tr.Step(), cfg.Steps)
	}
}

// TestEMA checks the EMA after k updates against the closed form
//
//	ema_k = (prod_{j=1..k} d_j) w_0 + sum_{j=1..k} (1 - d_j) (prod_{i=j+1..k} d_i) w_j
//
// where w_j are the raw weights after update j, recorded by a hook.
func TestEMA(t *testing.T) {
	cfg := smallConfig()
	cfg.Steps = 6
	cfg.EMADecay = 0.3 // reached from step 1 on... min(0.3, k/(9+k)): 0.1, 0.18, 0.25, 0.3, 0.3, ...
	tr, _ := newTestTrainer(t, cfg, diffusion.PredictEps, 16)
	path := tr.trainable[0].Path()
	ws := [][]float64{tensorFloats(t, must1(tr.trainable[0].Value()))}
	tr.OnStep(1, func(step int, tr *Trainer) error {
		ws = append(ws, tensorFloats(t, must1(tr.trainable[0].Value())))
		return nil
	})
	if err := tr.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	emaDen, err := tr.EMADenoiser()
	if err != nil {
		t.Fatal(err)
	}
	got := tensorFloats(t, must1(emaDen.Store.GetVariable(path).Value()))
	k := cfg.Steps
	for i := range got {
		want, prod := 0.0, 1.0
		for j := k; j >= 1; j-- {
			d := cfg.EMADecayAt(j)
			want += (1 - d) * prod * ws[j][i]
			prod *= d
		}
		want += prod * ws[0][i]
		if math.Abs(got[i]-want) > 1e-6*math.Max(1, math.Abs(want)) {
			t.Fatalf("EMA of %s[%d] after %d steps = %.9g, want %.9g", path, i, k, got[i], want)
		}
	}
	// The raw weights differ from the EMA (the test would be vacuous otherwise).
	if ws[k][0] == got[0] {
		t.Errorf("EMA equals the raw weights")
	}
}

// TestResumeBitwise checks that N steps in one go and N/2 + checkpoint + a fresh
// trainer + Resume + N/2 give the same bytes in every variable.
func TestResumeBitwise(t *testing.T) {
	for _, p := range []diffusion.Prediction{diffusion.PredictEps, diffusion.PredictV} {
		t.Run(string(p), func(t *testing.T) {
			cfg := smallConfig()
			cfg.Steps = 12
			cfg.WarmupSteps = 3
			cfg.Decay = DecayCosine
			cfg.WeightDecay = 0.01
			cfg.GradClip = 0.5
			cfg.MinSNRGamma = 5
			cfg.Seed = 42

			straight, _ := newTestTrainer(t, cfg, p, 16, 16)
			if err := straight.Run(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			want := varBytes(t, straight)

			cfg.CheckpointDir = t.TempDir()
			first, _ := newTestTrainer(t, cfg, p, 16, 16)
			ctx, cancel := context.WithCancel(context.Background())
			first.OnStep(cfg.Steps/2, func(int, *Trainer) error { cancel(); return nil })
			err := first.Run(ctx, nil)
			if !errors.Is(err, context.Canceled) || first.Step() != cfg.Steps/2 {
				t.Fatalf("Run with cancel at step %d = %v at step %d, want context.Canceled at step %d", cfg.Steps/2, err, first.Step(), cfg.Steps/2)
			}

			second, src := newTestTrainer(t, cfg, p, 16, 16)
			if err := second.Resume(""); err != nil {
				t.Fatal(err)
			}
			if second.Step() != cfg.Steps/2 || src.pos != cfg.Steps/2 {
				t.Fatalf("after Resume: step %d, data position %d, want %d and %d", second.Step(), src.pos, cfg.Steps/2, cfg.Steps/2)
			}
			if err := second.Run(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			got := varBytes(t, second)
			if len(got) != len(want) {
				t.Fatalf("%d variables, want %d", len(got), len(want))
			}
			for k, w := range want {
				if !bytes.Equal(got[k], w) {
					t.Errorf("%s differs after resume", k)
				}
			}
		})
	}
}

func TestNaNStopsTraining(t *testing.T) {
	cfg := smallConfig()
	cfg.Steps = 10
	cfg.CheckpointEvery = 5
	cfg.CheckpointDir = t.TempDir()
	tr, src := newTestTrainer(t, cfg, diffusion.PredictEps, 16)
	src.poisonBatch = 8
	var after7 map[string][]byte
	tr.OnStep(1, func(step int, tr *Trainer) error {
		if step == 7 {
			after7 = varBytes(t, tr)
		}
		return nil
	})
	err := tr.Run(context.Background(), nil)
	wantDir := filepath.Join(cfg.CheckpointDir, "ckpt-00000005")
	want := "train: loss is NaN at step 8; last good checkpoint: " + wantDir
	if err == nil || err.Error() != want {
		t.Fatalf("Run() = %v, want %q", err, want)
	}
	if tr.Step() != 7 {
		t.Errorf("Step() = %d after the NaN, want 7", tr.Step())
	}
	for k, w := range varBytes(t, tr) {
		if !bytes.Equal(w, after7[k]) {
			t.Errorf("%s changed by the step with a NaN loss", k)
		}
	}
	if latest, err := LatestCheckpoint(cfg.CheckpointDir); err != nil || latest != wantDir {
		t.Errorf("LatestCheckpoint = %q, %v; want %q", latest, err, wantDir)
	}
	fresh, _ := newTestTrainer(t, cfg, diffusion.PredictEps, 16)
	if err := fresh.Resume(""); err != nil || fresh.Step() != 5 {
		t.Errorf("Resume after NaN: %v, step %d; want step 5", err, fresh.Step())
	}
}

func TestHugeLearningRateStops(t *testing.T) {
	cfg := smallConfig()
	cfg.Steps = 50
	cfg.LearningRate = 1e30
	cfg.GradClip = 0
	tr, _ := newTestTrainer(t, cfg, diffusion.PredictEps, 16)
	err := tr.Run(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "at step ") || !strings.Contains(err.Error(), "last good checkpoint: none") {
		t.Fatalf("Run with lr 1e30 = %v, want a non-finite loss error naming the step", err)
	}
	t.Log(err)
}

func TestCheckpointKeepAndLoadDenoiser(t *testing.T) {
	cfg := smallConfig()
	cfg.Steps = 8
	cfg.CheckpointEvery = 2
	cfg.KeepLast = 2
	cfg.CheckpointDir = t.TempDir()
	tr, _ := newTestTrainer(t, cfg, diffusion.PredictV, 16)
	if err := tr.SetMetadata("model", map[string]any{"hidden": []int{16}}); err != nil {
		t.Fatal(err)
	}
	log := &memLogger{params: map[string]any{}, metrics: map[string][]float64{}}
	tr.cfg.LogEvery = 2
	if err := tr.Run(context.Background(), log); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(cfg.CheckpointDir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "ckpt-00000006,ckpt-00000008" {
		t.Errorf("checkpoint dir holds %v, want [ckpt-00000006 ckpt-00000008]", names)
	}
	m, err := ReadManifest(cfg.CheckpointDir)
	if err != nil {
		t.Fatal(err)
	}
	var meta bytes.Buffer
	_ = json.Compact(&meta, m.Metadata["model"])
	if m.Step != 8 || meta.String() != `{"hidden":[16]}` || m.Config.Steps != 8 {
		t.Errorf("manifest step %d metadata %s config.steps %d", m.Step, m.Metadata["model"], m.Config.Steps)
	}
	if got := log.metrics["train/loss"]; len(got) != 4 {
		t.Errorf("logged %d losses, want 4", len(got))
	}
	if got := log.metrics["train/checkpoint_step"]; len(got) != 4 || got[3] != 8 {
		t.Errorf("logged checkpoint steps %v, want [2 4 6 8]", got)
	}
	if log.params["train/steps"] != 8 || log.params["train/prediction"] != "v" {
		t.Errorf("params %v", log.params)
	}

	b := testBackend(t)
	x := [][]float32{{0.5, -1}, {2, 2}, {-2, -1.5}}
	emaDen, err := tr.EMADenoiser()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		w   Weights
		ref diffusion.Denoiser
	}{{EMAWeights, emaDen}, {RawWeights, tr.Denoiser()}} {
		loaded, err := LoadDenoiser(cfg.CheckpointDir, mlpDenoiser("", 16), c.w)
		if err != nil {
			t.Fatal(err)
		}
		if loaded.Prediction != diffusion.PredictV {
			t.Errorf("loaded prediction %q, want v", loaded.Prediction)
		}
		got, want := forward(t, b, loaded, x, 40), forward(t, b, c.ref, x, 40)
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s weights: output[%d] = %v, want %v", c.w, i, got[i], want[i])
			}
		}
	}
	if _, err := LoadDenoiser(cfg.CheckpointDir, mlpDenoiser(diffusion.PredictEps, 16), EMAWeights); err == nil {
		t.Errorf("LoadDenoiser with the wrong prediction type succeeded")
	}
	// A corrupted tensor file is detected.
	f := filepath.Join(m.Dir, DataFile)
	data, _ := os.ReadFile(f)
	data[0] ^= 1
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDenoiser(m.Dir, mlpDenoiser("", 16), EMAWeights); err == nil || !strings.Contains(err.Error(), "sha256 mismatch") {
		t.Errorf("LoadDenoiser of a corrupt checkpoint = %v, want a sha256 mismatch", err)
	}
}

func TestResumeNoCheckpoint(t *testing.T) {
	cfg := smallConfig()
	cfg.CheckpointDir = filepath.Join(t.TempDir(), "none")
	tr, _ := newTestTrainer(t, cfg, diffusion.PredictEps, 8)
	if err := tr.Resume(""); !errors.Is(err, ErrNoCheckpoint) {
		t.Errorf("Resume on an empty dir = %v, want ErrNoCheckpoint", err)
	}
}

func TestNewErrors(t *testing.T) {
	b := testBackend(t)
	s := newSchedule(t, 10)
	cfg := smallConfig()
	src := &clusterSource{batch: cfg.BatchSize}
	bad := cfg
	bad.Steps = 0
	if _, err := New(b, s, mlpDenoiser(diffusion.PredictEps, 8), bad, src, []int{2}); err == nil || !strings.Contains(err.Error(), `"steps"`) {
		t.Errorf("New with steps 0 = %v", err)
	}
	// A model whose output shape differs from its input's.
	den := mlpDenoiser(diffusion.PredictEps, 8)
	fn := den.Fn
	den.Fn = func(scope *model.Scope, x, t *Node) *Node { return Concatenate([]*Node{fn(scope, x, t), x}, -1) }
	if _, err := New(b, s, den, cfg, src, []int{2}); err == nil || !strings.Contains(err.Error(), "want the same shape") {
		t.Errorf("New with a bad model = %v", err)
	}
}

// memLogger records what Run logs.
type memLogger struct {
	params  map[string]any
	metrics map[string][]float64
}

func (l *memLogger) LogParam(k string, v any) error { l.params[k] = v; return nil }
func (l *memLogger) LogMetric(k string, _ int64, v float64) error {
	l.metrics[k] = append(l.metrics[k], v)
	return nil
}
func (l *memLogger) LogArtifact(string, io.Reader) error { return nil }

// fakeTerminal is a buffer that progress.IsTerminal takes for a terminal.
type fakeTerminal struct{ bytes.Buffer }

func (*fakeTerminal) IsTerminal() bool { return true }

// TestProgressLine: the rate leaves out the first interval (the compilation), reads
// in s/step below one step a second, and the time left is the remaining steps at
// that rate; a terminal gets each report redrawn in place, a log the last line.
func TestProgressLine(t *testing.T) {
	var term fakeTerminal
	var log bytes.Buffer
	var reports []Progress
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := newProgressReporter([]func(Progress){progressBar(&term), progressBar(&log), func(p Progress) { reports = append(reports, p) }}, 0, 10, t0)
	last := func() string { return reports[len(reports)-1].String() }
	p.update(2, 0.5, t0.Add(20*time.Second)) // a slow first step: not a rate
	if got := last(); !strings.Contains(got, "step 2/10 (20.0%)  loss 0.5  - steps/s  elapsed 20s") || strings.Contains(got, "left") {
		t.Errorf("first line %q, want no rate and no time left yet", got)
	}
	p.update(3, 0.4, t0.Add(20*time.Second+100*time.Millisecond)) // within progress.DefaultEvery: no report
	p.update(4, 0.25, t0.Add(24*time.Second))                     // 2 steps in 4 s
	if want := "step 4/10 (40.0%)  loss 0.25  2.00 s/step  elapsed 24s  left 12s"; last() != want {
		t.Errorf("line %q, want %q", last(), want)
	}
	p.update(10, 0.1, t0.Add(27*time.Second)) // 6 steps in 3 s: smoothed 0.3*2 + 0.7*0.5 = 0.95 steps/s
	final := "step 10/10 (100.0%)  loss 0.1  1.05 s/step  elapsed 27s"
	if last() != final {
		t.Errorf("last line %q, want %q", last(), final)
	}
	p.done()
	if len(reports) != 4 || !reports[3].Done || reports[3].String() != final {
		t.Errorf("reports %+v, want 3 and the last again with Done", reports)
	}
	if got := term.String(); strings.Count(got, "\r") != 3 || !strings.HasSuffix(got, final+"\x1b[K\n") {
		t.Errorf("terminal got %q, want 3 carriage-return refreshes and a newline", got)
	}
	if got := log.String(); got != final+"\n" {
		t.Errorf("log got %q, want the last line, plain", got)
	}
}

func TestProgressAndSourceOf(t *testing.T) {
	cfg := smallConfig()
	cfg.Steps = 3
	tr, _ := newTestTrainer(t, cfg, diffusion.PredictEps, 8)
	var buf fakeTerminal
	var log bytes.Buffer
	AttachProgressBar(tr, &buf)
	AttachProgressBar(tr, &log)
	AttachProgressBar(tr, nil)
	if err := tr.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); !strings.HasPrefix(got, "\rstep 3/3 (100.0%)  loss ") || !(strings.Contains(got, " steps/s") || strings.Contains(got, " s/step")) || strings.Contains(got, "- steps/s") || !strings.HasSuffix(got, "\n") {
		t.Errorf("progress output %q, want a final line \\rstep 3/3 (100.0%%)  loss ... with a rate", got)
	}
	lines := strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n")
	if got := lines[len(lines)-1]; !strings.HasPrefix(got, "step 3/3 (100.0%)  loss ") || strings.ContainsAny(log.String(), "\r\x1b") {
		t.Errorf("log output %q, want plain lines ending with step 3/3 (100.0%%)  loss ...", log.String())
	}

	type st struct{ N int }
	n := 0
	src := SourceOf(func() []float32 { n++; return []float32{float32(n)} }, func() st { return st{n} }, func(s st) error { n = s.N; return nil })
	_, _ = src.Next()
	b, err := src.State()
	if err != nil || string(b) != `{"N":1}` {
		t.Fatalf("State() = %s, %v", b, err)
	}
	_, _ = src.Next()
	if err := src.Restore(b); err != nil || n != 1 {
		t.Errorf("Restore: %v, n = %d, want 1", err, n)
	}
}

// TestImageShapes trains a few steps on [B, 4, 4, 1] "images" with a flatten-Dense
// model, covering rank-4 inputs through q_sample, the loss and the checkpoint.
func TestImageShapes(t *testing.T) {
	cfg := smallConfig()
	cfg.Steps = 4
	cfg.BatchSize = 8
	cfg.MinSNRGamma = 5
	cfg.CheckpointDir = t.TempDir()
	den := diffusion.Denoiser{
		Prediction: diffusion.PredictX0,
		Store:      model.NewStore(),
		Fn: func(scope *model.Scope, x, t *Node) *Node {
			b := x.Shape().Dimensions[0]
			h := Concatenate([]*Node{Reshape(x, b, 16), ExpandAxes(ConvertDType(t, x.DType()), -1)}, -1)
			return Reshape(layers.Dense(scope.In("out"), h, true, 16), x.Shape().Dimensions...)
		},
	}
	src := SourceOf(func() []float32 {
		x := make([]float32, 8*16)
		for i := range x {
			x[i] = float32(i%16) / 16
		}
		return x
	}, func() int { return 0 }, func(int) error { return nil })
	tr, err := New(testBackend(t), newSchedule(t, 50), den, cfg, src, []int{4, 4, 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(cfg.CheckpointDir)
	if err != nil || m.Step != 4 || !slices.Equal(m.XShape, []int{4, 4, 1}) {
		t.Errorf("manifest %+v, %v", m, err)
	}
}

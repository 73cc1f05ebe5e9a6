package models

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/difflab/difflab/pkg/diffusion"
	"github.com/difflab/difflab/pkg/gmm"
)

// tinyUNet is a two-level UNet on 8×8×1 images small enough for fast tests; its
// parameters are counted by hand in TestUNetParamCount.
func tinyUNet() UNetConfig {
	c := DefaultUNetConfig()
	c.ImageSize = 8
	c.BaseChannels = 8
	c.ChannelMult = []int{1, 2}
	c.NumResBlocks = 1
	c.AttentionResolutions = []int{4}
	c.TimeEmbedDim = 16
	c.Groups = 4
	c.Dropout = 0
	return c
}

func tinyMLP() MLPConfig {
	c := DefaultMLPConfig()
	c.Hidden = 16
	c.NumBlocks = 2
	c.TimeEmbedDim = 8
	return c
}

func TestUNetConfigValidate(t *testing.T) {
	if err := DefaultUNetConfig().Validate(); err != nil {
		t.Fatalf("DefaultUNetConfig().Validate() = %v", err)
	}
	for _, tc := range []struct {
		field  string
		modify func(*UNetConfig)
	}{
		{"ImageSize", func(c *UNetConfig) { c.ImageSize = 0 }},
		{"ImageSize", func(c *UNetConfig) { c.ImageSize = 30; c.ChannelMult = []int{1, 2, 2, 2} }},
		{"InChannels", func(c *UNetConfig) { c.InChannels = -1 }},
		{"BaseChannels", func(c *UNetConfig) { c.BaseChannels = 30 }},
		{"ChannelMult", func(c *UNetConfig) { c.ChannelMult = nil }},
		{"ChannelMult[1]", func(c *UNetConfig) { c.ChannelMult = []int{1, 0} }},
		{"NumResBlocks", func(c *UNetConfig) { c.NumResBlocks = 0 }},
		{"AttentionResolutions[0]", func(c *UNetConfig) { c.AttentionResolutions = []int{8} }},
		{"Dropout", func(c *UNetConfig) { c.Dropout = 1 }},
		{"TimeEmbedDim", func(c *UNetConfig) { c.TimeEmbedDim = 0 }},
		{"Groups", func(c *UNetConfig) { c.Groups = 0 }},
		{"Downsampling", func(c *UNetConfig) { c.Downsampling = "maxpool" }},
		{"Prediction", func(c *UNetConfig) { c.Prediction = "score" }},
	} {
		c := DefaultUNetConfig()
		tc.modify(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "UNetConfig."+tc.field+" ") {
			t.Errorf("Validate() with bad %s = %v, want an error naming UNetConfig.%s", tc.field, err, tc.field)
		}
	}
	if _, err := NewUNet(UNetConfig{}); err == nil {
		t.Errorf("NewUNet(UNetConfig{}) returned no error")
	}
}

func TestMLPConfigValidate(t *testing.T) {
	if err := DefaultMLPConfig().Validate(); err != nil {
		t.Fatalf("DefaultMLPConfig().Validate() = %v", err)
	}
	for _, tc := range []struct {
		field  string
		modify func(*MLPConfig)
	}{
		{"Dim", func(c *MLPConfig) { c.Dim = 0 }},
		{"Hidden", func(c *MLPConfig) { c.Hidden = 0 }},
		{"NumBlocks", func(c *MLPConfig) { c.NumBlocks = -1 }},
		{"TimeEmbedDim", func(c *MLPConfig) { c.TimeEmbedDim = 1 }},
		{"Norm", func(c *MLPConfig) { c.Norm = "batchnorm" }},
		{"Dropout", func(c *MLPConfig) { c.Dropout = -0.1 }},
		{"Prediction", func(c *MLPConfig) { c.Prediction = "" }},
	} {
		c := DefaultMLPConfig()
		tc.modify(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "MLPConfig."+tc.field+" ") {
			t.Errorf("Validate() with bad %s = %v, want an error naming MLPConfig.%s", tc.field, err, tc.field)
		}
	}
}

// unetInputs returns a seeded batch x [B, S, S, C] and the steps t.
func unetInputs(cfg UNetConfig, steps []int32, seed uint64) (*tensors.Tensor, *tensors.Tensor) {
	rng := rand.New(rand.NewPCG(seed, 7))
	b := len(steps)
	x := toF32(randSlice(rng, b*cfg.ImageSize*cfg.ImageSize*cfg.InChannels, 1))
	return tensors.FromFlatDataAndDimensions(x, b, cfg.ImageSize, cfg.ImageSize, cfg.InChannels),
		tensors.FromFlatDataAndDimensions(slices.Clone(steps), b)
}

// forward runs den on (x, t) once, out of training.
func forward(t *testing.T, den diffusion.Denoiser, x, ts *tensors.Tensor) []float32 {
	t.Helper()
	exec, err := model.NewExec(testBackend(t), den.Store, den.Fn)
	if err != nil {
		t.Fatalf("NewExec: %v", err)
	}
	out, err := exec.Call1(x, ts)
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	if !slices.Equal(out.Shape().Dimensions, x.Shape().Dimensions) {
		t.Fatalf("output shape %s, want %s", out.Shape(), x.Shape())
	}
	return flat[float32](t, out)
}

func maxAbsDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

func TestUNetForward(t *testing.T) {
	cfg := tinyUNet()
	cfg.Dropout = 0.5 // must be off outside training
	den, err := NewUNet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if den.Prediction != diffusion.PredictV || den.Prediction != cfg.Prediction {
		t.Errorf("Prediction = %q, want the config's %q (the default, v)", den.Prediction, cfg.Prediction)
	}
	x, t0 := unetInputs(cfg, []int32{0, 0}, 1)
	_, t1 := unetInputs(cfg, []int32{500, 500}, 1)
	a := forward(t, den, x, t0)
	b := forward(t, den, x, t0)
	c := forward(t, den, x, t1)
	if d := maxAbsDiff(a, b); d != 0 {
		t.Errorf("two evaluations differ by %g: dropout active outside training?", d)
	}
	if d := maxAbsDiff(a, c); d < 1e-4 {
		t.Errorf("output at t=0 and t=500 differ by only %g: t is ignored", d)
	}
	for i, v := range a {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("output[%d] = %g", i, v)
		}
	}

	// Same seed, same weights; another seed, other weights.
	same, _ := NewUNet(cfg)
	if d := maxAbsDiff(a, forward(t, same, x, t0)); d != 0 {
		t.Errorf("same seed gives outputs differing by %g", d)
	}
	cfg.Seed = 2
	other, _ := NewUNet(cfg)
	if d := maxAbsDiff(a, forward(t, other, x, t0)); d < 1e-4 {
		t.Errorf("seeds 1 and 2 give outputs differing by only %g", d)
	}
}

// TestUNetParamCount checks NumParams and ParamCount against a hand count of tinyUNet
// (8×8×1, ch 8, mult [1 2], 1 res block, attention at 4, temb 16), with
// conv(k, i, o) = k²io + o, dense(i, o) = io + o, norm(c) = 2c and
// res(i, o) = norm(i) + conv(3,i,o) + dense(16,o) + norm(o) + conv(3,o,o) [+ conv(1,i,o) if i≠o]:
//
//	time MLP   dense(8,16) + dense(16,16)                  144 + 272          =   416
//	in conv    conv(3,1,8)                                                    =    80
//	level 0    res(8,8) + down conv(3,8,8)                 1336 + 584         =  1920
//	level 1    res(8,16) + attn(16)                        3952 + 1120        =  5072
//	middle     res(16,16) + attn(16) + res(16,16)          4976 + 1120 + 4976 = 11072
//	up 1       res(32,16)+attn + res(24,16)+attn + up conv 7840+1120+6544+1120+2320 = 18944
//	up 0       res(24,8) + res(16,8)                       2720 + 2064        =  4784
//	out        norm(8) + conv(3,8,1)                       16 + 73            =    89
//	total                                                                     = 42377
//
// with attn(c) = norm(c) + dense(c,3c) + dense(c,c).
func TestUNetParamCount(t *testing.T) {
	cfg := tinyUNet()
	const hand = 42377
	if got := cfg.NumParams(); got != hand {
		t.Errorf("tiny UNetConfig.NumParams() = %d, want %d (hand count)", got, hand)
	}
	for _, c := range []UNetConfig{cfg, DefaultUNetConfig(), LargeUNetConfig(), func() UNetConfig {
		c := LargeUNetConfig()
		c.NumResBlocks = 2
		c.Downsampling = DownsampleAvgPool
		c.AttentionResolutions = []int{14, 7}
		return c
	}()} {
		den, err := NewUNet(c)
		if err != nil {
			t.Fatal(err)
		}
		if got := ParamCount(den.Store); got != 0 {
			t.Errorf("ParamCount before the first build = %d, want 0", got)
		}
		g := graph.NewGraph(testBackend(t), "count")
		x := graph.Parameter(g, "x", shapes.Make(dtypes.Float32, 2, c.ImageSize, c.ImageSize, c.InChannels))
		ts := graph.Parameter(g, "t", shapes.Make(dtypes.Int32, 2))
		den.Fn(den.Store.RootScope(), x, ts)
		if got, want := ParamCount(den.Store), c.NumParams(); got != want {
			t.Errorf("%s: ParamCount(store) = %d, NumParams() = %d", c, got, want)
		}
		t.Logf("%s: %d parameters", c, c.NumParams())
		g.Finalize()
	}
}

func TestMLPParamCount(t *testing.T) {
	// (2+1)·128 + (32+1)·128 + 3·((128+1)·128 + 2·128) + (128+1)·2 = 384 + 4224 + 50304 + 258.
	if got, want := DefaultMLPConfig().NumParams(), 55170; got != want {
		t.Errorf("DefaultMLPConfig().NumParams() = %d, want %d", got, want)
	}
	den, err := NewMLP(DefaultMLPConfig())
	if err != nil {
		t.Fatal(err)
	}
	x := tensors.FromFlatDataAndDimensions([]float32{0.5, -1, 2, 0}, 2, 2)
	ts := tensors.FromFlatDataAndDimensions([]int32{3, 900}, 2)
	exec := model.MustNewExec(testBackend(t), den.Store, den.Fn)
	out := exec.MustCall1(x, ts)
	if got := ParamCount(den.Store); got != 55170 {
		t.Errorf("ParamCount(MLP store) = %d, want 55170", got)
	}
	if !slices.Equal(out.Shape().Dimensions, []int{2, 2}) {
		t.Errorf("MLP output shape %s, want [2 2]", out.Shape())
	}
}

// gradNorms builds loss = MSE(fn(x, t), target) and returns, for every trainable
// variable, its path and the sum of squares of d loss / d variable.
func gradNorms(t *testing.T, store *model.Store, fn func(*model.Scope, *graph.Node, *graph.Node) *graph.Node, x, ts, target *tensors.Tensor) map[string]float64 {
	t.Helper()
	var names []string
	exec := model.MustNewExec(testBackend(t), store, func(scope *model.Scope, xn, tn, yn *graph.Node) []*graph.Node {
		out := fn(scope, xn, tn)
		l := graph.ReduceAllMean(graph.Square(graph.Sub(out, yn)))
		var vars []*graph.Node
		names = names[:0]
		for v := range store.IterVariables() {
			if v.Trainable && v.InUseByGraph(xn.Graph()) {
				vars = append(vars, v.NodeValue(xn.Graph()))
				names = append(names, v.Path())
			}
		}
		grads := graph.Gradient(l, vars...)
		norms := make([]*graph.Node, len(grads))
		for i, g := range grads {
			norms[i] = graph.ReduceAllSum(graph.Square(g))
		}
		return norms
	})
	outs := exec.MustCall(x, ts, target)
	res := make(map[string]float64, len(outs))
	for i, o := range outs {
		res[names[i]] = float64(flat[float32](t, o)[0])
	}
	return res
}

func checkAllGradients(t *testing.T, norms map[string]float64, wantVars int) {
	t.Helper()
	if len(norms) != wantVars {
		t.Errorf("gradients for %d variables, want %d", len(norms), wantVars)
	}
	for name, n := range norms {
		if !(n > 0) || math.IsInf(n, 0) {
			t.Errorf("|d loss / d %s|² = %g, want finite and > 0", name, n)
		}
	}
}

func trainableVars(store *model.Store) int {
	n := 0
	for v := range store.IterVariables() {
		if v.Trainable && v.Shape().DType.IsFloat() {
			n++
		}
	}
	return n
}

func TestUNetGradients(t *testing.T) {
	cfg := tinyUNet()
	den, _ := NewUNet(cfg)
	x, ts := unetInputs(cfg, []int32{3, 700}, 2)
	target, _ := unetInputs(cfg, []int32{0, 0}, 3)
	norms := gradNorms(t, den.Store, den.Fn, x, ts, target)
	checkAllGradients(t, norms, trainableVars(den.Store))
}

func TestMLPGradients(t *testing.T) {
	cfg := tinyMLP()
	den, _ := NewMLP(cfg)
	rng := rand.New(rand.NewPCG(5, 6))
	x := tensors.FromFlatDataAndDimensions(toF32(randSlice(rng, 8*2, 1)), 8, 2)
	y := tensors.FromFlatDataAndDimensions(toF32(randSlice(rng, 8*2, 1)), 8, 2)
	ts := tensors.FromFlatDataAndDimensions([]int32{0, 1, 5, 50, 100, 300, 600, 999}, 8)
	norms := gradNorms(t, den.Store, den.Fn, x, ts, y)
	checkAllGradients(t, norms, trainableVars(den.Store))
}

// trainLosses runs steps Adam steps of MSE regression of fn(x, t) onto target with a
// GoMLX trainer (a training graph: dropout on) and returns the batch losses.
func trainLosses(t *testing.T, den diffusion.Denoiser, x, ts, target *tensors.Tensor, steps int, lr float64) []float64 {
	t.Helper()
	trainer := train.NewTrainer(testBackend(t), den.Store, den.Fn, loss.MeanSquaredError,
		optimizer.Adam().LearningRate(lr).Done(), nil, nil)
	losses := make([]float64, steps)
	for i := range steps {
		// TrainStep takes ownership of its tensors: give it copies.
		batch := train.Batch{Inputs: []*tensors.Tensor{clone(t, x), clone(t, ts)}, Labels: []*tensors.Tensor{clone(t, target)}}
		metrics, err := trainer.TrainStep(batch)
		if err != nil {
			t.Fatalf("TrainStep %d: %v", i, err)
		}
		losses[i] = float64(flat[float32](t, metrics[0])[0])
	}
	return losses
}

func TestUNetTrains(t *testing.T) {
	cfg := tinyUNet()
	cfg.Dropout = 0.1
	den, _ := NewUNet(cfg)
	x, ts := unetInputs(cfg, []int32{3, 200, 500, 999}, 4)
	target, _ := unetInputs(cfg, []int32{0, 0, 0, 0}, 5)
	losses := trainLosses(t, den, x, ts, target, 15, 3e-3)
	if last := losses[len(losses)-1]; !(last < 0.7*losses[0]) {
		t.Errorf("UNet loss went from %.4g to %.4g in %d Adam steps, want a drop of 30%%: %v", losses[0], last, len(losses), losses)
	}
}

func TestMLPTrains(t *testing.T) {
	cfg := tinyMLP()
	den, _ := NewMLP(cfg)
	rng := rand.New(rand.NewPCG(8, 9))
	x := tensors.FromFlatDataAndDimensions(toF32(randSlice(rng, 16*2, 1)), 16, 2)
	y := tensors.FromFlatDataAndDimensions(toF32(randSlice(rng, 16*2, 1)), 16, 2)
	ts := make([]int32, 16)
	for i := range ts {
		ts[i] = int32(60 * i)
	}
	losses := trainLosses(t, den, x, tensors.FromFlatDataAndDimensions(ts, 16), y, 30, 1e-2)
	if last := losses[len(losses)-1]; !(last < 0.5*losses[0]) {
		t.Errorf("MLP loss went from %.4g to %.4g in %d Adam steps, want a halving: %v", losses[0], last, len(losses), losses)
	}
}

func clone(t testing.TB, x *tensors.Tensor) *tensors.Tensor {
	t.Helper()
	c, err := x.LocalClone()
	if err != nil {
		t.Fatalf("LocalClone: %v", err)
	}
	return c
}

// TestVLBUntrainedMLP checks that diffusion.VLB runs on a network whose variables do
// not exist yet (they are created, in float32, by the bound's own graph), and that
// the bound of an untrained network is finite and well above the exact denoiser's
// on the same mixture.
func TestVLBUntrainedMLP(t *testing.T) {
	s, err := diffusion.NewSchedule(diffusion.ScheduleConfig{Kind: diffusion.Linear, T: 50})
	if err != nil {
		t.Fatal(err)
	}
	g := &gmm.Mixture{Weights: []float64{0.5, 0.5}, Means: [][]float64{{-1, 0}, {1, 0.5}}, Stds: []float64{0.2, 0.3}}
	x0 := make([]float64, 2*64)
	diffusion.NewPCGNoise(3).Fill(x0)
	for i := range x0 {
		x0[i] *= 0.3
	}
	den, err := NewMLP(DefaultMLPConfig())
	if err != nil {
		t.Fatal(err)
	}
	be := testBackend(t)
	untrained, err := diffusion.VLB(be, s, den, x0, []int{64, 2}, diffusion.FixedSmall, diffusion.NewPCGNoise(7))
	if err != nil {
		t.Fatalf("VLB of an untrained MLP: %v", err)
	}
	exact, err := diffusion.VLB(be, s, diffusion.ExactDenoiser(g, s), x0, []int{64, 2}, diffusion.FixedSmall, diffusion.NewPCGNoise(7))
	if err != nil {
		t.Fatal(err)
	}
	if math.IsNaN(untrained.TotalContinuous) || math.IsInf(untrained.TotalContinuous, 0) || untrained.TotalContinuous <= exact.TotalContinuous {
		t.Errorf("bits/dim: untrained MLP %v, exact denoiser %v; want finite and larger", untrained.TotalContinuous, exact.TotalContinuous)
	}
}

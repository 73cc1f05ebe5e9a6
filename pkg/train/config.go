package train

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// DecayKind names how the learning rate evolves after warm-up. The list is append-only.
type DecayKind string

const (
	// DecayConstant keeps the learning rate at Config.LearningRate after warm-up.
	DecayConstant DecayKind = "constant"
	// DecayCosine follows half a cosine from Config.LearningRate down towards 0 at
	// Config.Steps (Loshchilov & Hutter 2017, SGDR, without restarts); see LearningRate.
	DecayCosine DecayKind = "cosine"
)

// DecayKinds lists every DecayKind, in the order they were added.
var DecayKinds = []DecayKind{DecayConstant, DecayCosine}

// Config describes a training run. Start from DefaultConfig and change what you need:
// decoding JSON or TOML onto DefaultConfig() keeps the defaults of omitted fields.
// Validate names every field that is out of range.
type Config struct {
	// Steps is the total number of optimiser updates, >= 1. Default 10000.
	Steps int `json:"steps" toml:"steps"`
	// BatchSize is the number of examples per update, >= 1. Default 128. The
	// BatchSource must return batches of exactly this size.
	BatchSize int `json:"batch_size" toml:"batch_size"`
	// LearningRate is the peak AdamW learning rate, > 0. Default 2e-4 (Ho et al. 2020, CIFAR-10).
	LearningRate float64 `json:"learning_rate" toml:"learning_rate"`
	// WarmupSteps is the number of updates over which the learning rate rises
	// linearly from LearningRate/WarmupSteps to LearningRate, in [0, Steps]. Default 0.
	WarmupSteps int `json:"warmup_steps" toml:"warmup_steps"`
	// Decay is what the learning rate does after warm-up: "constant" or "cosine". Default "constant".
	Decay DecayKind `json:"decay" toml:"decay"`
	// WeightDecay is AdamW's decoupled weight decay lambda, >= 0, applied to every
	// trainable variable (biases included). Default 0.
	WeightDecay float64 `json:"weight_decay" toml:"weight_decay"`
	// AdamBeta1 and AdamBeta2 are Adam's moment decay rates, in [0, 1). Defaults 0.9 and 0.999.
	AdamBeta1 float64 `json:"adam_beta1" toml:"adam_beta1"`
	AdamBeta2 float64 `json:"adam_beta2" toml:"adam_beta2"`
	// AdamEpsilon is added to sqrt(v_hat) in Adam's denominator, > 0. Default 1e-8.
	AdamEpsilon float64 `json:"adam_epsilon" toml:"adam_epsilon"`
	// GradClip is the maximum global L2 norm of the gradient, >= 0; 0 turns clipping
	// off. Default 1.0.
	GradClip float64 `json:"grad_clip" toml:"grad_clip"`
	// EMADecay is the decay of the exponential moving average of the weights, in
	// [0, 1); see EMADecayAt for the warm-up. Default 0.9999 (Ho et al. 2020).
	EMADecay float64 `json:"ema_decay" toml:"ema_decay"`
	// MinSNRGamma is gamma of the min-SNR-gamma loss weighting (Hang et al. 2023), >= 0;
	// 0 turns the weighting off (plain L_simple). Default 0. The paper recommends 5.
	MinSNRGamma float64 `json:"min_snr_gamma" toml:"min_snr_gamma"`
	// Seed seeds the trainer's PCG source (timesteps and noise) and, when the model
	// store has no RNG state yet, the store's RNG (weight initialisation). Default 0.
	Seed uint64 `json:"seed" toml:"seed"`
	// CheckpointDir is where checkpoints go; "" turns checkpointing off. Default "".
	CheckpointDir string `json:"checkpoint_dir" toml:"checkpoint_dir"`
	// CheckpointEvery saves a checkpoint every N updates, >= 0; 0 saves only at the
	// end of Run (and on cancellation). Default 1000.
	CheckpointEvery int `json:"checkpoint_every" toml:"checkpoint_every"`
	// KeepLast is how many checkpoints to keep, >= 0; 0 keeps all. Default 3.
	KeepLast int `json:"keep_last" toml:"keep_last"`
	// LogEvery logs the mean loss of the last N updates to the Logger, >= 0; 0 turns
	// metric logging off. Default 100. (The progress display refreshes on its own.)
	LogEvery int `json:"log_every" toml:"log_every"`
	// SampleEvery runs the hooks given to Trainer.OnSample every N updates, >= 0;
	// 0 turns them off. Default 0.
	SampleEvery int `json:"sample_every" toml:"sample_every"`
}

// DefaultConfig returns the defaults documented on each Config field. This is the
// only place they are set.
func DefaultConfig() Config {
	return Config{
		Steps:           10000,
		BatchSize:       128,
		LearningRate:    2e-4,
		WarmupSteps:     0,
		Decay:           DecayConstant,
		WeightDecay:     0,
		AdamBeta1:       0.9,
		AdamBeta2:       0.999,
		AdamEpsilon:     1e-8,
		GradClip:        1.0,
		EMADecay:        0.9999,
		MinSNRGamma:     0,
		Seed:            0,
		CheckpointEvery: 1000,
		KeepLast:        3,
		LogEvery:        100,
		SampleEvery:     0,
	}
}

// Validate returns nil if every field is in range, else an error listing each bad
// field by its JSON name, its value and what is allowed.
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, value any, want string) {
		errs = append(errs, fmt.Errorf("train: config field %q = %v, want %s", field, value, want))
	}
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	if c.Steps < 1 {
		bad("steps", c.Steps, ">= 1")
	}
	if c.BatchSize < 1 {
		bad("batch_size", c.BatchSize, ">= 1")
	}
	if !(c.LearningRate > 0) || !finite(c.LearningRate) {
		bad("learning_rate", c.LearningRate, "a finite value > 0")
	}
	if c.WarmupSteps < 0 || (c.Steps >= 1 && c.WarmupSteps > c.Steps) {
		bad("warmup_steps", c.WarmupSteps, fmt.Sprintf("in [0, steps=%d]", c.Steps))
	}
	switch c.Decay {
	case DecayConstant, DecayCosine:
	default:
		s := make([]string, len(DecayKinds))
		for i, k := range DecayKinds {
			s[i] = string(k)
		}
		bad("decay", fmt.Sprintf("%q", c.Decay), "one of "+strings.Join(s, ", "))
	}
	if !(c.WeightDecay >= 0) || !finite(c.WeightDecay) {
		bad("weight_decay", c.WeightDecay, "a finite value >= 0")
	}
	if !(c.AdamBeta1 >= 0 && c.AdamBeta1 < 1) {
		bad("adam_beta1", c.AdamBeta1, "in [0, 1)")
	}
	if !(c.AdamBeta2 >= 0 && c.AdamBeta2 < 1) {
		bad("adam_beta2", c.AdamBeta2, "in [0, 1)")
	}
	if !(c.AdamEpsilon > 0) || !finite(c.AdamEpsilon) {
		bad("adam_epsilon", c.AdamEpsilon, "a finite value > 0")
	}
	if !(c.GradClip >= 0) || !finite(c.GradClip) {
		bad("grad_clip", c.GradClip, "a finite value >= 0 (0 = off)")
	}
	if !(c.EMADecay >= 0 && c.EMADecay < 1) {
		bad("ema_decay", c.EMADecay, "in [0, 1)")
	}
	if !(c.MinSNRGamma >= 0) || !finite(c.MinSNRGamma) {
		bad("min_snr_gamma", c.MinSNRGamma, "a finite value >= 0 (0 = off)")
	}
	if c.CheckpointEvery < 0 {
		bad("checkpoint_every", c.CheckpointEvery, ">= 0 (0 = only at the end)")
	}
	if c.KeepLast < 0 {
		bad("keep_last", c.KeepLast, ">= 0 (0 = keep all)")
	}
	if c.LogEvery < 0 {
		bad("log_every", c.LogEvery, ">= 0 (0 = off)")
	}
	if c.SampleEvery < 0 {
		bad("sample_every", c.SampleEvery, ">= 0 (0 = off)")
	}
	return errors.Join(errs...)
}

// LearningRateAt is the learning rate of update k = 1..Steps:
//
//	warm-up  (k <= W):  lr_k = LearningRate * k / W
//	constant (k >  W):  lr_k = LearningRate
//	cosine   (k >  W):  lr_k = LearningRate * (1 + cos(pi * (k - W - 1) / (Steps - W))) / 2
//
// with W = WarmupSteps. The cosine branch is get_cosine_schedule_with_warmup of
// Hugging Face transformers with its 0-based step s = k - 1, so it starts at the
// peak right after warm-up and reaches LearningRate*(1+cos(pi (Steps-W-1)/(Steps-W)))/2
// (close to 0) on the last update; the warm-up uses k instead of s so that the first
// update is not wasted with a zero rate. k outside 1..Steps is clamped to that range.
func (c Config) LearningRateAt(k int) float64 {
	k = max(1, min(k, c.Steps))
	w := c.WarmupSteps
	if k <= w {
		return c.LearningRate * float64(k) / float64(w)
	}
	if c.Decay == DecayCosine {
		progress := float64(k-w-1) / float64(c.Steps-w)
		return c.LearningRate * 0.5 * (1 + math.Cos(math.Pi*progress))
	}
	return c.LearningRate
}

// EMADecayAt is the decay used by the k-th update (k = 1, 2, ...) of the EMA of the weights:
//
//	decay_k = min(EMADecay, (1 + s) / (10 + s)),  s = k - 1
//	ema    <- decay_k * ema + (1 - decay_k) * w_k
//
// where w_k are the weights after update k and ema starts equal to the initial
// weights. The warm-up (1 + s)/(10 + s) is that of TensorFlow's
// ExponentialMovingAverage with num_updates and of diffusers' EMAModel: it keeps the
// average from being dominated by the random initial weights early in training.
func (c Config) EMADecayAt(k int) float64 {
	s := float64(max(k, 1) - 1)
	return min(c.EMADecay, (1+s)/(10+s))
}

// params returns the config as flat key/value pairs for a Logger, keys prefixed "train/".
func (c Config) params() []struct {
	key   string
	value any
} {
	return []struct {
		key   string
		value any
	}{
		{"train/steps", c.Steps}, {"train/batch_size", c.BatchSize},
		{"train/learning_rate", c.LearningRate}, {"train/warmup_steps", c.WarmupSteps},
		{"train/decay", string(c.Decay)}, {"train/weight_decay", c.WeightDecay},
		{"train/adam_beta1", c.AdamBeta1}, {"train/adam_beta2", c.AdamBeta2},
		{"train/adam_epsilon", c.AdamEpsilon}, {"train/grad_clip", c.GradClip},
		{"train/ema_decay", c.EMADecay}, {"train/min_snr_gamma", c.MinSNRGamma},
		{"train/seed", seedParam(c.Seed)}, {"train/checkpoint_dir", c.CheckpointDir},
		{"train/checkpoint_every", c.CheckpointEvery}, {"train/keep_last", c.KeepLast},
		{"train/log_every", c.LogEvery}, {"train/sample_every", c.SampleEvery},
	}
}

// seedParam is the seed as an int64 param, or as a decimal string when it does not fit.
func seedParam(seed uint64) any {
	if seed > math.MaxInt64 {
		return strconv.FormatUint(seed, 10)
	}
	return int64(seed)
}

package models

import (
	"fmt"
	"math"
	"slices"
	"strings"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads like maths with the dot import
	"github.com/gomlx/gomlx/ml/model"

	"github.com/difflab/difflab/pkg/diffusion"
)

// Downsampling names how a UNet halves its resolution between levels.
type Downsampling string

const (
	// DownsampleConv is a 3×3 convolution of stride 2 (Ho et al. 2020, resample_with_conv=True).
	DownsampleConv Downsampling = "conv"
	// DownsampleAvgPool is a 2×2 average (Nichol & Dhariwal 2021's conv_resample=False).
	DownsampleAvgPool Downsampling = "avgpool"
)

// UNetConfig describes the denoising UNet of Ho et al. 2020 (appendix B), a
// PixelCNN++-style encoder/decoder of residual blocks with skip concatenations and
// self-attention at low resolutions. DefaultUNetConfig holds every default.
type UNetConfig struct {
	// ImageSize is the height and width of the (square) input. It must be divisible by
	// 2^(len(ChannelMult)-1). Default 28 (MNIST).
	ImageSize int
	// InChannels is the number of image channels, also the number of output channels.
	// Default 1.
	InChannels int
	// BaseChannels is the width of the first level, "ch" in Ho et al. Default 16.
	BaseChannels int
	// ChannelMult gives the width of each level as a multiple of BaseChannels; the
	// resolution halves between consecutive levels. Default [1, 2, 4]: 28 → 14 → 7.
	ChannelMult []int
	// NumResBlocks is the number of residual blocks per level on the way down (the way
	// up has one more, as in Ho et al.). Default 1.
	NumResBlocks int
	// AttentionResolutions lists the resolutions (height in pixels) at which a
	// self-attention block follows each residual block; each must be one of the levels'
	// resolutions. The middle block always has one (Ho et al.). Default none: only
	// the middle block's, at the lowest resolution.
	AttentionResolutions []int
	// Dropout is the dropout rate in the residual blocks while training, in [0, 1).
	// Default 0 (Ho et al. used 0.1 on CIFAR-10; LargeUNetConfig uses 0.1).
	Dropout float64
	// TimeEmbedDim is the width of the time embedding after its MLP. The sinusoidal
	// embedding has BaseChannels dimensions, as in Ho et al. Default 128 (8·BaseChannels;
	// Ho et al. use 4·ch).
	TimeEmbedDim int
	// Groups is the number of groups of every GroupNorm; every level's width must be a
	// multiple of it. Default 8 (Ho et al. used 32 groups at width 128).
	Groups int
	// Downsampling is how resolution halves: "conv" or "avgpool". Default "conv".
	Downsampling Downsampling
	// Prediction is what the network is trained to output. Default "v".
	Prediction diffusion.Prediction
	// Seed seeds the weight initialisation of the store NewUNet creates. Default 1.
	Seed int64
}

// DefaultUNetConfig returns the defaults for 28×28×1 images (MNIST), a UNet sized to
// train on a 2-core CPU with the pure-Go backend: three levels 28 → 14 → 7 of widths
// 16, 32 and 64, self-attention only in the middle block (at 7×7), no dropout, and
// v-prediction (Salimans & Ho 2022); 679,601 parameters (see UNetConfig.NumParams;
// bench/pytorch_unet.py builds the same network). configs/mnist-unet.toml is its MNIST
// training recipe (docs/mnist-samples.png); bench/RESULTS.md has its cost and sample
// quality. Every default of UNetConfig is set here and only here.
func DefaultUNetConfig() UNetConfig {
	return UNetConfig{
		ImageSize:            28,
		InChannels:           1,
		BaseChannels:         16,
		ChannelMult:          []int{1, 2, 4},
		NumResBlocks:         1,
		AttentionResolutions: nil,
		Dropout:              0,
		TimeEmbedDim:         128,
		Groups:               8,
		Downsampling:         DownsampleConv,
		Prediction:           diffusion.PredictV,
		Seed:                 1,
	}
}

// SmallUNetConfig is DefaultUNetConfig with two levels 28 → 14 of widths 16 and 32
// (self-attention in the middle block at 14×14) and epsilon-prediction: 190,737
// parameters. configs/mnist-unet-small.toml uses it; bench/RESULTS.md compares its
// MNIST samples with the default's.
func SmallUNetConfig() UNetConfig {
	c := DefaultUNetConfig()
	c.ChannelMult = []int{1, 2}
	c.Prediction = diffusion.PredictEps
	return c
}

// LargeUNetConfig is DefaultUNetConfig with widths 32, 64 and 64, attention at 7×7 as
// well as in the middle block, dropout 0.1 and epsilon-prediction, as in Ho et al.'s
// smaller models: 1,112,801 parameters, for a GPU or a long run
// (configs/mnist-unet-large.toml; its cost is in bench/RESULTS.md).
func LargeUNetConfig() UNetConfig {
	c := DefaultUNetConfig()
	c.BaseChannels = 32
	c.ChannelMult = []int{1, 2, 2}
	c.AttentionResolutions = []int{7}
	c.Dropout = 0.1
	c.Prediction = diffusion.PredictEps
	return c
}

// Resolutions returns the height of each level, from ImageSize down.
func (c UNetConfig) Resolutions() []int {
	res := make([]int, len(c.ChannelMult))
	r := c.ImageSize
	for i := range res {
		res[i] = r
		r /= 2
	}
	return res
}

// Validate returns an error naming the first invalid field, its value and what is allowed.
func (c UNetConfig) Validate() error {
	switch {
	case c.ImageSize <= 0:
		return fmt.Errorf("UNetConfig.ImageSize = %d, want > 0", c.ImageSize)
	case c.InChannels <= 0:
		return fmt.Errorf("UNetConfig.InChannels = %d, want > 0", c.InChannels)
	case c.BaseChannels <= 0:
		return fmt.Errorf("UNetConfig.BaseChannels = %d, want > 0", c.BaseChannels)
	case len(c.ChannelMult) == 0:
		return fmt.Errorf("UNetConfig.ChannelMult is empty, want at least one level (e.g. [1 2 2])")
	case c.NumResBlocks < 1:
		return fmt.Errorf("UNetConfig.NumResBlocks = %d, want >= 1", c.NumResBlocks)
	case c.Dropout < 0 || c.Dropout >= 1 || math.IsNaN(c.Dropout):
		return fmt.Errorf("UNetConfig.Dropout = %g, want in [0, 1)", c.Dropout)
	case c.TimeEmbedDim <= 0:
		return fmt.Errorf("UNetConfig.TimeEmbedDim = %d, want > 0", c.TimeEmbedDim)
	case c.Groups <= 0:
		return fmt.Errorf("UNetConfig.Groups = %d, want > 0", c.Groups)
	case c.Downsampling != DownsampleConv && c.Downsampling != DownsampleAvgPool:
		return fmt.Errorf("UNetConfig.Downsampling = %q, want %q or %q", c.Downsampling, DownsampleConv, DownsampleAvgPool)
	case !slices.Contains(diffusion.Predictions, c.Prediction):
		return fmt.Errorf("UNetConfig.Prediction = %q, want one of %q", c.Prediction, diffusion.Predictions)
	}
	if f := 1 << (len(c.ChannelMult) - 1); c.ImageSize%f != 0 {
		return fmt.Errorf("UNetConfig.ImageSize = %d, want a multiple of 2^(len(ChannelMult)-1) = %d so that every level halves exactly", c.ImageSize, f)
	}
	if c.BaseChannels%c.Groups != 0 {
		return fmt.Errorf("UNetConfig.BaseChannels = %d, want a multiple of Groups = %d", c.BaseChannels, c.Groups)
	}
	for i, m := range c.ChannelMult {
		if m <= 0 || (m*c.BaseChannels)%c.Groups != 0 {
			return fmt.Errorf("UNetConfig.ChannelMult[%d] = %d, want > 0 with BaseChannels·ChannelMult a multiple of Groups = %d", i, m, c.Groups)
		}
	}
	res := c.Resolutions()
	for i, r := range c.AttentionResolutions {
		if !slices.Contains(res, r) {
			return fmt.Errorf("UNetConfig.AttentionResolutions[%d] = %d, want one of the level resolutions %v", i, r, res)
		}
	}
	return nil
}

// String is a one-line description of the configuration, for logs and run records.
func (c UNetConfig) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "UNet{%dx%dx%d ch=%d mult=%v res_blocks=%d attn=%v dropout=%g temb=%d groups=%d down=%s pred=%s seed=%d}",
		c.ImageSize, c.ImageSize, c.InChannels, c.BaseChannels, c.ChannelMult, c.NumResBlocks,
		c.AttentionResolutions, c.Dropout, c.TimeEmbedDim, c.Groups, c.Downsampling, c.Prediction, c.Seed)
	return b.String()
}

// NewUNet validates cfg and returns a denoiser whose Fn is UNetFn(cfg) and whose
// Store is a new store seeded with cfg.Seed (see NewStore). The weights do not exist
// yet: GoMLX creates them, with the store's seeded initializer, the first time a
// graph calling Fn is built and run (model.Exec or a train.Trainer); the store's
// variables are then under "/unet/...".
func NewUNet(cfg UNetConfig) (diffusion.Denoiser, error) {
	if err := cfg.Validate(); err != nil {
		return diffusion.Denoiser{}, err
	}
	store, err := NewStore(cfg.Seed)
	if err != nil {
		return diffusion.Denoiser{}, err
	}
	return diffusion.Denoiser{Prediction: cfg.Prediction, Store: store, Fn: UNetFn(cfg)}, nil
}

// UNetFn returns the graph builder of the UNet for cfg, for trainers that build their
// own graphs: fn(scope, x, t) maps x [B, ImageSize, ImageSize, InChannels] (NHWC,
// float32) and t [B] (int32, 0-based) to an output of x's shape. Its variables live
// in scope.At("unet"), so calling fn twice with the same scope shares the weights.
// Dropout is active only when scope.IsTraining(g). It panics when cfg is invalid or x
// has the wrong shape.
//
// Architecture (Ho et al. 2020, appendix B; improved-diffusion's UNetModel without
// its additions): a sinusoidal embedding of t (BaseChannels wide) goes through
// Dense(TimeEmbedDim), SiLU, Dense(TimeEmbedDim). The image goes through a 3×3
// convolution to BaseChannels, then for each level NumResBlocks residual blocks (each
// followed by attention at AttentionResolutions) and a downsampling (except the
// last), keeping every output for the skips; a middle of residual block, attention,
// residual block; then for each level in reverse NumResBlocks+1 residual blocks whose
// input is the concatenation of the current activations and the matching skip, and an
// upsampling (except at the top); finally GroupNorm, SiLU and a 3×3 convolution to
// InChannels. Unlike improved-diffusion, no layer is zero-initialised.
func UNetFn(cfg UNetConfig) func(scope *model.Scope, x, t *Node) *Node {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg.ChannelMult = slices.Clone(cfg.ChannelMult)
	cfg.AttentionResolutions = slices.Clone(cfg.AttentionResolutions)
	return func(scope *model.Scope, x, t *Node) *Node {
		want := []int{x.Shape().Dimensions[0], cfg.ImageSize, cfg.ImageSize, cfg.InChannels}
		if !slices.Equal(x.Shape().Dimensions, want) {
			panic(fmt.Sprintf("models.UNet: x has shape %s, want %v (NHWC)", x.Shape(), want))
		}
		return unet(scope.At("unet"), cfg, x, t)
	}
}

func unet(scope *model.Scope, cfg UNetConfig, x, t *Node) *Node {
	temb := TimeEmbedding(t, cfg.BaseChannels)
	temb = Dense(scope.In("time_0"), temb, cfg.TimeEmbedDim)
	temb = Dense(scope.In("time_1"), SiLU(temb), cfg.TimeEmbedDim)

	res := cfg.Resolutions()
	h := Conv2D(scope.In("in"), x, cfg.BaseChannels, 3, 1)
	skips := []*Node{h}
	for level, mult := range cfg.ChannelMult {
		attn := slices.Contains(cfg.AttentionResolutions, res[level])
		for i := range cfg.NumResBlocks {
			s := scope.In("down_%d_%d", level, i)
			h = ResBlock(s, h, temb, mult*cfg.BaseChannels, cfg.Groups, cfg.Dropout)
			if attn {
				h = AttentionBlock(s, h, cfg.Groups)
			}
			skips = append(skips, h)
		}
		if level < len(cfg.ChannelMult)-1 {
			h = Downsample(scope.In("down_%d", level), h, cfg.Downsampling)
			skips = append(skips, h)
		}
	}
	mid := scope.In("mid")
	ch := h.Shape().Dimensions[3]
	h = ResBlock(mid.In("res_0"), h, temb, ch, cfg.Groups, cfg.Dropout)
	h = AttentionBlock(mid, h, cfg.Groups)
	h = ResBlock(mid.In("res_1"), h, temb, ch, cfg.Groups, cfg.Dropout)
	for level := len(cfg.ChannelMult) - 1; level >= 0; level-- {
		attn := slices.Contains(cfg.AttentionResolutions, res[level])
		for i := range cfg.NumResBlocks + 1 {
			s := scope.In("up_%d_%d", level, i)
			skip := skips[len(skips)-1]
			skips = skips[:len(skips)-1]
			h = ResBlock(s, Concatenate([]*Node{h, skip}, -1), temb, cfg.ChannelMult[level]*cfg.BaseChannels, cfg.Groups, cfg.Dropout)
			if attn {
				h = AttentionBlock(s, h, cfg.Groups)
			}
		}
		if level > 0 {
			h = Upsample(scope.In("up_%d", level), h)
		}
	}
	out := scope.In("out")
	h = SiLU(GroupNorm(out, h, cfg.Groups))
	return Conv2D(out, h, cfg.InChannels, 3, 1)
}

// ResBlock is the residual block of Ho et al. 2020 (appendix B; improved-diffusion's
// ResBlock without scale-shift norm) on x [B, H, W, C] with the time embedding temb
// [B, E]:
//
//	h   = Conv3x3(SiLU(GroupNorm(x)))
//	h  += Dense(SiLU(temb))          broadcast over H, W
//	h   = Conv3x3(Dropout(SiLU(GroupNorm(h))))
//	out = skip(x) + h                skip = identity if C == outChannels, else a 1×1 conv
//
// Variables live under scope in "norm_0", "conv_0", "temb", "norm_1", "conv_1", "skip".
func ResBlock(scope *model.Scope, x, temb *Node, outChannels, groups int, dropoutRate float64) *Node {
	h := Conv2D(scope.In("conv_0"), SiLU(GroupNorm(scope.In("norm_0"), x, groups)), outChannels, 3, 1)
	e := Dense(scope.In("temb"), SiLU(temb), outChannels)
	h = Add(h, ExpandAxes(e, 1, 2))
	h = SiLU(GroupNorm(scope.In("norm_1"), h, groups))
	h = dropout(scope, h, dropoutRate)
	h = Conv2D(scope.In("conv_1"), h, outChannels, 3, 1)
	skip := x
	if x.Shape().Dimensions[3] != outChannels {
		skip = Conv2D(scope.In("skip"), x, outChannels, 1, 1)
	}
	return Add(skip, h)
}

// AttentionBlock is single-head self-attention over the H·W positions of x [B, H, W, C]
// with a residual connection (Ho et al. 2020, appendix B; improved-diffusion's
// AttentionBlock with one head):
//
//	q, k, v = 1×1 convs of GroupNorm(x)            each [B, HW, C]
//	a       = softmax_j(q_i · k_j / sqrt(C))        [B, HW, HW]
//	out     = x + Proj(sum_j a_ij v_j)              Proj a 1×1 conv
//
// Variables live in scope.In("attn").
func AttentionBlock(scope *model.Scope, x *Node, groups int) *Node {
	scope = scope.In("attn")
	d := x.Shape().Dimensions
	b, n, c := d[0], d[1]*d[2], d[3]
	h := Reshape(GroupNorm(scope, x, groups), b, n, c)
	qkv := Dense(scope.In("qkv"), h, 3*c)
	q := Slice(qkv, AxisRange(), AxisRange(), AxisRange(0, c))
	k := Slice(qkv, AxisRange(), AxisRange(), AxisRange(c, 2*c))
	v := Slice(qkv, AxisRange(), AxisRange(), AxisRange(2*c, 3*c))
	logits := MulScalar(Einsum("bic,bjc->bij", q, k), 1/math.Sqrt(float64(c)))
	a := formulationOf(logits.Graph()).softmax(logits)
	o := Einsum("bij,bjc->bic", a, v)
	o = Dense(scope.In("proj"), o, c)
	return Add(x, Reshape(o, d...))
}

package models

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads like maths with the dot import
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
)

// NormEpsilon is the epsilon added to the variance in GroupNorm and LayerNorm
// (1e-5, as torch.nn.GroupNorm and improved-diffusion's GroupNorm32).
const NormEpsilon = 1e-5

// MaxPeriod is the longest period of the sinusoidal time embedding (10000, as in
// Vaswani et al. 2017 and Ho et al. 2020).
const MaxPeriod = 10000.0

// TimeEmbedding returns the sinusoidal embedding of the timesteps t (shape [B], any
// numeric dtype) as a float32 tensor of shape [B, dim], following improved-diffusion's
// timestep_embedding (Nichol & Dhariwal 2021), which is the embedding of Ho et al. 2020
// (appendix B) and of the Transformer (Vaswani et al. 2017, section 3.5). With
// half = dim/2 (integer division):
//
//	freq_i      = exp(-ln(MaxPeriod) * i / half),   i = 0 .. half-1
//	emb[b, i]        = cos(t_b * freq_i)
//	emb[b, half + i] = sin(t_b * freq_i)
//
// and a last column of zeros when dim is odd. (Ho et al.'s TensorFlow code divides by
// half-1 instead of half and puts sin before cos; the network learns either.)
// It panics when t is not of rank 1 or dim < 2.
func TimeEmbedding(t *Node, dim int) *Node {
	if t.Rank() != 1 {
		panic(fmt.Sprintf("models.TimeEmbedding: t must have shape [B], got %s", t.Shape()))
	}
	if dim < 2 {
		panic(fmt.Sprintf("models.TimeEmbedding: dim must be >= 2, got %d", dim))
	}
	g := t.Graph()
	half := dim / 2
	freqs := make([]float32, half)
	for i := range freqs {
		freqs[i] = float32(math.Exp(-math.Log(MaxPeriod) * float64(i) / float64(half)))
	}
	args := Mul(ExpandAxes(ConvertDType(t, dtypes.Float32), -1), ExpandAxes(Const(g, freqs), 0)) // [B, half]
	parts := []*Node{Cos(args), Sin(args)}
	if dim%2 == 1 {
		parts = append(parts, Zeros(g, shapes.Make(dtypes.Float32, t.Shape().Dimensions[0], 1)))
	}
	return Concatenate(parts, -1)
}

// normalize returns (x - mean) / sqrt(var + NormEpsilon) with mean and (biased)
// variance taken over axes. It uses Div and Sqrt rather than Rsqrt, which has no
// gradient in GoMLX v0.28.
func normalize(x *Node, axes ...int) *Node {
	mean := ReduceAndKeep(x, ReduceMean, axes...)
	centred := Sub(x, mean)
	variance := ReduceAndKeep(Square(centred), ReduceMean, axes...)
	return Div(centred, Sqrt(AddScalar(variance, NormEpsilon)))
}

// scaleAndOffset creates the per-channel variables "scale" (initialised to 1) and
// "offset" (initialised to 0) in scope and returns x*scale + offset, broadcast over
// the last axis of x.
func scaleAndOffset(scope *model.Scope, x *Node) *Node {
	g := x.Graph()
	c := x.Shape().Dimensions[x.Rank()-1]
	shape := shapes.Make(x.DType(), c)
	scale := scope.WithInitializer(initializer.One).VariableWithShape("scale", shape).NodeValue(g)
	offset := scope.WithInitializer(initializer.Zero).VariableWithShape("offset", shape).NodeValue(g)
	return Add(Mul(x, onLastAxis(scale, x.Rank())), onLastAxis(offset, x.Rank()))
}

// onLastAxis reshapes v [C] to [1, ..., 1, C] of the given rank, so that it broadcasts
// against a tensor of that rank with C channels last (GoMLX broadcasts only between
// equal ranks).
func onLastAxis(v *Node, rank int) *Node {
	dims := make([]int, rank)
	for i := range dims {
		dims[i] = 1
	}
	dims[rank-1] = v.Shape().Dimensions[0]
	return Reshape(v, dims...)
}

// GroupNorm is group normalisation (Wu & He 2018) for channels-last input x of shape
// [B, ..., C] (NHWC for images). The C channels are split into `groups` groups of C/groups
// consecutive channels; each example and group is normalised over all its spatial
// positions and channels, then scaled and shifted per channel:
//
//	y[b, s, c] = (x[b, s, c] - mu[b, g]) / sqrt(var[b, g] + 1e-5) * scale[c] + offset[c],   g = c / (C/groups)
//
// with mu and var the mean and biased variance over s and the channels of group g, as
// torch.nn.GroupNorm. It creates the variables "scale" (ones) and "offset" (zeros) of
// shape [C] in scope.In("group_norm"). It panics when C is not a multiple of groups or
// x has rank < 2.
//
// The statistics are taken in two passes (mean, then the mean of the centred
// squares, so nothing cancels), each reducing over the spatial axes of x first and
// over each group's channels second; scale and 1/sqrt(var + eps) fold into one
// factor per (example, channel):
//
//	y = (x - mu) · a + offset,   a[b, c] = scale[c] / sqrt(var[b, g] + 1e-5)
//
// Reducing a [B, S, G, C/G] view of x over its axes 1 and 3 instead costs 1.8x as
// much on ONNX Runtime and 1.1x on the pure-Go backend (BenchmarkMicroForward), and
// its reshape of x cost ONNX Runtime transposes around every convolution
// (bench/RESULTS.md).
func GroupNorm(scope *model.Scope, x *Node, groups int) *Node {
	if x.Rank() < 2 {
		panic(fmt.Sprintf("models.GroupNorm: x must have shape [B, ..., C], got %s", x.Shape()))
	}
	dims := x.Shape().Dimensions
	c := dims[len(dims)-1]
	if groups <= 0 || c%groups != 0 {
		panic(fmt.Sprintf("models.GroupNorm: channels %d must be a positive multiple of groups %d", c, groups))
	}
	scope = scope.In("group_norm")
	g := x.Graph()
	shape := shapes.Make(x.DType(), c)
	scale := scope.WithInitializer(initializer.One).VariableWithShape("scale", shape).NodeValue(g)
	offset := scope.WithInitializer(initializer.Zero).VariableWithShape("offset", shape).NodeValue(g)

	centred := Sub(x, groupMean(x, groups))
	variance := groupMean(Square(centred), groups)
	a := Div(onLastAxis(scale, x.Rank()), Sqrt(AddScalar(variance, NormEpsilon))) // [B, 1, ..., 1, C]
	return Add(Mul(centred, a), onLastAxis(offset, x.Rank()))
}

// groupMean returns, for x [B, ..., C], the mean over the spatial axes and over
// the channels of each group of C/groups consecutive channels, broadcast back to
// [B, 1, ..., 1, C]. Only the small per-channel means are reshaped, never x, so
// that a backend that runs convolutions channels-first (ONNX Runtime) can keep x
// in that layout through the normalisation.
func groupMean(x *Node, groups int) *Node {
	d := x.Shape().Dimensions
	b, c := d[0], d[len(d)-1]
	spatial := make([]int, 0, len(d)-2)
	for i := 1; i < len(d)-1; i++ {
		spatial = append(spatial, i)
	}
	perChannel := x
	if len(spatial) > 0 {
		perChannel = ReduceAndKeep(x, ReduceMean, spatial...) // [B, 1, ..., 1, C]
	}
	perGroup := ReduceAndKeep(Reshape(perChannel, b, groups, c/groups), ReduceMean, 2) // [B, G, 1]
	return Reshape(BroadcastToDims(perGroup, b, groups, c/groups), perChannel.Shape().Dimensions...)
}

// LayerNorm normalises x of shape [B, ..., C] over its last axis (Ba et al. 2016), then
// scales and shifts per channel, with eps 1e-5; it is GroupNorm's formula with one
// group and no spatial axes. It creates "scale" and "offset" in scope.In("layer_norm").
func LayerNorm(scope *model.Scope, x *Node) *Node {
	return scaleAndOffset(scope.In("layer_norm"), normalize(x, -1))
}

// SiLU is x * sigmoid(x) (Elfwing et al. 2017; "swish"), the activation of Ho et al. 2020.
//
// On the pure-Go backend, builds with GOEXPERIMENT=simd compute it as siluExpm1, others
// through the backend's Logistic op (siluLogistic): on the Intel dev machine a simd build
// makes math.Exp, which Logistic calls per element, ~100x slower, while the expm1
// formulation (pure-Go math.Expm1) is unaffected; see bench/RESULTS.md. Other backends
// use Logistic (see formulationOf). All give x·sigmoid(x) and its exact gradient, to
// float32 rounding.
func SiLU(x *Node) *Node { return formulationOf(x.Graph()).silu(x) }

// siluLogistic is SiLU through the backend's Logistic op.
func siluLogistic(x *Node) *Node { return Mul(x, Sigmoid(x)) }

// siluExpm1 is SiLU without the backend's Logistic and Exp ops, which call math.Exp
// per element (see bench/RESULTS.md): with s = 1 / (2 + expm1(-x)) = sigmoid(x),
//
//	S = s + (x - stop(x)) * s (1 - s)      value s, derivative s (1 - s)
//	SiLU(x) = x * S
//
// where stop is StopGradient, so the gradient is the exact s + x s (1 - s) without a
// VJP for Expm1 (GoMLX has none).
func siluExpm1(x *Node) *Node {
	s := StopGradient(Reciprocal(AddScalar(Expm1(Neg(x)), 2)))
	ds := StopGradient(Mul(s, OneMinus(s)))
	S := Add(s, Mul(Sub(x, StopGradient(x)), ds))
	return Mul(x, S)
}

// softmaxExpm1 is Softmax over the last axis without the backend's Exp op, which
// calls math.Exp per element (see siluExpm1): with m the row maximum,
//
//	p_i = (1 + expm1(x_i - m)) / sum_j (1 + expm1(x_j - m))
//
// (x_i - m <= 0, where 1 + expm1 loses nothing that matters next to the row sum,
// which is >= 1), and the gradient is the exact softmax Jacobian p_i (delta_ik - p_k),
// carried by Z_i = p_i (x_i - sum_j p_j x_j) with p held constant:
//
//	softmax(x) = p + Z - stop(Z)
func softmaxExpm1(x *Node) *Node {
	xs := StopGradient(x)
	e := AddScalar(Expm1(Sub(xs, ReduceAndKeep(xs, ReduceMax, -1))), 1)
	p := StopGradient(Div(e, ReduceAndKeep(e, ReduceSum, -1)))
	z := Mul(p, Sub(x, ReduceAndKeep(Mul(p, x), ReduceSum, -1)))
	return Add(p, Sub(z, StopGradient(z)))
}

// softmaxExp is the backend's Softmax over the last axis.
func softmaxExp(x *Node) *Node { return Softmax(x, -1) }

// Conv2D is a "same"-padded 2-D convolution of channels-last x [B, H, W, C] with a
// kernel×kernel kernel (kernel odd: 1, 3, ...) and stride 1 or 2, plus a bias:
//
//	y[b, i, j, o] = bias[o] + sum_{dy, dx, c} xpad[b, s*i + dy, s*j + dx, c] * weights[dy, dx, c, o]
//
// where xpad is x with (kernel-1)/2 zero rows and columns on each side (PyTorch's
// padding=k/2; with stride 2 the output is ceil(H/2) × ceil(W/2)).
//
// On backends with a fast native convolution (XLA, ONNX Runtime; see formulationOf) it
// is GoMLX's Convolve with explicit symmetric padding; on ONNX Runtime, in a training
// graph (scope.IsTraining), with stride 1 it carries difflab's own gradient
// (convSameGrad). On the pure-Go backend, whose
// native convolution is much slower than matrix products (bench/RESULTS.md), it is
// convRows, with standard ops only (so it runs on any backend). The zero
// padding is a concatenation (Pad has no gradient in GoMLX v0.28). The kernel column
// shifts dx of xpad (strided) are concatenated on channels into
// xw [B, H+2p, W', kernel·C] in (dx, c) order; one product with the weights regrouped
// as [(dx, c), (dy, o)] gives Z [kernel·O, B, H+2p, W'] (weights on the left, so the
// weight gradient needs no transpose of xw); y is the sum over dy of the rows dy, dy+s,
// ... of Z's dy-th block of O channels, transposed once to [B, H', W', O]. Against
// im2col (all kernel² windows concatenated, one product) this copies a third of the
// data forward and backward (BenchmarkMicroConv; bench/RESULTS.md has the figures). There
// a 1×1 kernel of stride 1 is a plain product.
//
// Variables, in scope.In("conv"): "weights" [kernel, kernel, C, O] (He-normal by the
// scope's initializer, the layout of GoMLX's layers.Convolution) and "biases" [O] (zeros).
// It panics on an even kernel, a stride other than 1 or 2, or x not of rank 4.
func Conv2D(scope *model.Scope, x *Node, outChannels, kernel, stride int) *Node {
	if x.Rank() != 4 {
		panic(fmt.Sprintf("models.Conv2D: x must have shape [B, H, W, C], got %s", x.Shape()))
	}
	if kernel < 1 || kernel%2 == 0 {
		panic(fmt.Sprintf("models.Conv2D: kernel must be odd and positive, got %d", kernel))
	}
	if stride != 1 && stride != 2 {
		panic(fmt.Sprintf("models.Conv2D: stride must be 1 or 2, got %d", stride))
	}
	scope = scope.In("conv")
	g := x.Graph()
	c := x.Shape().Dimensions[3]
	wShape := shapes.Make(x.DType(), kernel, kernel, c, outChannels)
	weights := scope.VariableWithShape("weights", wShape).NodeValue(g)
	biases := scope.WithInitializer(initializer.Zero).VariableWithShape("biases", shapes.Make(x.DType(), outChannels)).NodeValue(g)

	if f := formulationOf(g); f.nativeConv {
		if f.convGrad && stride == 1 && scope.IsTraining(g) {
			return Add(convSameGrad(x, weights), onLastAxis(biases, 4))
		}
		return Add(convSame(x, weights, stride), onLastAxis(biases, 4))
	}
	if kernel == 1 && stride == 1 {
		y := TransposeAllAxes(Dot(Reshape(weights, c, outChannels), x).General([]int{0}, nil, []int{3}, nil), 1, 2, 3, 0)
		return Add(y, onLastAxis(biases, 4))
	}
	return Add(convRows(x, weights, kernel, stride), onLastAxis(biases, 4))
}

// convSame is GoMLX's native convolution of x [B, H, W, C] by weights [k, k, C, O]
// with stride s and (k-1)/2 zeros on each side of both spatial axes.
func convSame(x, weights *Node, stride int) *Node {
	p := (weights.Shape().Dimensions[0] - 1) / 2
	return Convolve(x, weights).PaddingPerDim([][2]int{{p, p}, {p, p}}).StridePerAxis(stride, stride).Done()
}

// convSameGrad is convSame with stride 1 and its gradient written out, for ONNX
// Runtime: GoMLX's gradient of a convolution computes the weight gradient as a
// convolution of x by the output gradient (a k×k output, an H×W "kernel"), which
// ONNX Runtime runs as an im2col of H·W·B rows for 9 columns, 10-30 times slower than
// the forward convolution (bench/RESULTS.md, "The training step on ONNX Runtime").
// With p = (k-1)/2, dy the gradient of the output and
// dyp it zero-padded by p,
//
//	dx = dy convolved (padding p) with weights flipped in both spatial axes, C and O swapped
//	dW[kh, kw, c, o] = sum_{b,i,j} x[b, i, j, c] · dyp[b, i+2p-kh, j+2p-kw, o]
//	                 = sum_{b,i,j} xp[b, i+kh, j+kw, c] · dy[b, i, j, o]
//
// and the weight gradient is one matrix product: the k² shifted windows of the
// operand with fewer channels, stacked as rows [(kh, kw, channel), B·H·W], times the
// other operand as a [B·H·W, channels] matrix (NHWC as it is).
//
// GoMLX lets a graph give a gradient only to the input of an identity
// (IdentityWithCustomGradient), so the convolution's value is taken with both
// operands cut from the gradient, and x and the weights reach the output through a
// term that is zero, s - stop(s) with s the sum of both; their identities return the
// gradients above, computed from dy, which an identity on the output records (the
// reverse pass visits it first: it comes after them in the graph).
func convSameGrad(x, weights *Node) *Node {
	var dy *Node
	xs := IdentityWithCustomGradient(x, func(_, _ *Node) *Node { return convInputGrad(dy, weights) })
	ws := IdentityWithCustomGradient(weights, func(_, _ *Node) *Node { return convWeightGrad(x, dy, weights.Shape().Dimensions[0]) })
	s := Add(ReduceAllSum(xs), ReduceAllSum(ws))
	y := Add(convSame(StopGradient(x), StopGradient(weights), 1), Sub(s, StopGradient(s)))
	return IdentityWithCustomGradient(y, func(_, v *Node) *Node {
		dy = v
		return v
	})
}

// convInputGrad is the gradient of convSame(x, weights, 1) with respect to x, given
// dy, the gradient of its output: dy convolved with the weights flipped and with
// their channel axes swapped.
func convInputGrad(dy, weights *Node) *Node {
	return convSame(dy, TransposeAllAxes(Reverse(weights, 0, 1), 0, 1, 3, 2), 1)
}

// convWeightGrad is the gradient of convSame(x, weights, 1) with respect to its
// k×k weights, given dy, the gradient of its output (see convSameGrad).
func convWeightGrad(x, dy *Node, k int) *Node {
	d := x.Shape().Dimensions
	b, h, w, c := d[0], d[1], d[2], d[3]
	o := dy.Shape().Dimensions[3]
	n := b * h * w
	if k == 1 {
		// [O, B·H·W] · [B·H·W, C] -> [O, C], then [1, 1, C, O]
		g := Dot(Reshape(TransposeAllAxes(dy, 3, 0, 1, 2), o, n), Reshape(x, n, c)).Product()
		return Reshape(Transpose(g, 0, 1), 1, 1, c, o)
	}
	p := (k - 1) / 2
	// Shift the operand with fewer channels; start(kh) is where window kh begins in
	// its padded copy.
	shifted, other, start := dy, x, func(kh int) int { return 2*p - kh }
	if c < o {
		shifted, other, start = x, dy, func(kh int) int { return kh }
	}
	m := shifted.Shape().Dimensions[3]
	sp := padAxes(TransposeAllAxes(shifted, 3, 0, 1, 2), p, 2) // [m, B, H+2p, W+2p]
	windows := make([]*Node, 0, k*k)
	for kh := range k {
		for kw := range k {
			windows = append(windows, Slice(sp, AxisRange(), AxisRange(),
				AxisRange(start(kh), start(kh)+h), AxisRange(start(kw), start(kw)+w)))
		}
	}
	rows := Reshape(Concatenate(windows, 0), k*k*m, n)                       // [(kh, kw, m), B·H·W]
	g := Dot(rows, Reshape(other, n, other.Shape().Dimensions[3])).Product() // [(kh, kw, m), other's channels]
	g = Reshape(g, k, k, m, -1)
	if shifted == dy {
		g = TransposeAllAxes(g, 0, 1, 3, 2) // [k, k, C, O]
	}
	return g
}

// convRows is Conv2D without the bias, for kernel > 1 or stride 2 (see Conv2D):
// column shifts concatenated on channels, one product, and a sum of row shifts.
func convRows(x, weights *Node, kernel, stride int) *Node {
	d := x.Shape().Dimensions
	h, w, c := d[1], d[2], d[3]
	o := weights.Shape().Dimensions[3]
	p := (kernel - 1) / 2
	ho := (h + stride - 1) / stride
	wo := (w + stride - 1) / stride
	xp := padZeros(x, p)
	shifts := make([]*Node, kernel)
	for dx := range kernel {
		shifts[dx] = Slice(xp, AxisRange(), AxisRange(), AxisRange(dx, dx+stride*(wo-1)+1).Stride(stride), AxisRange())
	}
	xw := shifts[0]
	if kernel > 1 {
		xw = Concatenate(shifts, -1) // [B, H+2p, W', kernel·C], channels in (dx, c) order
	}
	// weights [dy, dx, c, o] -> [(dx, c), (dy, o)]
	wr := Reshape(TransposeAllAxes(weights, 1, 2, 0, 3), kernel*c, kernel*o)
	z := Dot(wr, xw).General([]int{0}, nil, []int{3}, nil) // [kernel·O, B, H+2p, W']
	var y *Node
	for dy := range kernel {
		zy := Slice(z, AxisRange(dy*o, (dy+1)*o), AxisRange(), AxisRange(dy, dy+stride*(ho-1)+1).Stride(stride), AxisRange())
		if y == nil {
			y = zy
		} else {
			y = Add(y, zy)
		}
	}
	return TransposeAllAxes(y, 1, 2, 3, 0) // [B, H', W', O]
}

// padZeros pads the two spatial axes of x [B, H, W, C] with p zeros on each side by
// concatenation (Pad has no gradient in GoMLX v0.28).
func padZeros(x *Node, p int) *Node { return padAxes(x, p, 1) }

// padAxes pads axes a and a+1 of the rank-4 x with p zeros on each side, by
// concatenation.
func padAxes(x *Node, p, a int) *Node {
	if p == 0 {
		return x
	}
	g := x.Graph()
	d := slices.Clone(x.Shape().Dimensions)
	d[a] = p
	rows := Zeros(g, shapes.Make(x.DType(), d...))
	x = Concatenate([]*Node{rows, x, rows}, a)
	d = slices.Clone(x.Shape().Dimensions)
	d[a+1] = p
	cols := Zeros(g, shapes.Make(x.DType(), d...))
	return Concatenate([]*Node{cols, x, cols}, a+1)
}

// Downsample halves the spatial size of x [B, H, W, C] (H, W even): with
// DownsampleConv a 3×3 convolution of stride 2 (Ho et al. 2020, resample_with_conv),
// with DownsampleAvgPool a 2×2 average (by reshape and ReduceMean, which the Go backend
// runs faster than MeanPool). Channels are kept.
func Downsample(scope *model.Scope, x *Node, kind Downsampling) *Node {
	d := x.Shape().Dimensions
	switch kind {
	case DownsampleConv:
		return Conv2D(scope.In("down"), x, d[3], 3, 2)
	case DownsampleAvgPool:
		return ReduceMean(Reshape(x, d[0], d[1]/2, 2, d[2]/2, 2, d[3]), 2, 4)
	}
	panic(fmt.Sprintf("models.Downsample: unknown kind %q, want one of %q, %q", kind, DownsampleConv, DownsampleAvgPool))
}

// Upsample doubles the spatial size of x [B, H, W, C] by nearest-neighbour repetition
// (broadcast and reshape) followed by a 3×3 convolution keeping the channels (Ho et
// al. 2020).
func Upsample(scope *model.Scope, x *Node) *Node {
	d := x.Shape().Dimensions
	y := BroadcastToDims(Reshape(x, d[0], d[1], 1, d[2], 1, d[3]), d[0], d[1], 2, d[2], 2, d[3])
	y = Reshape(y, d[0], 2*d[1], 2*d[2], d[3])
	return Conv2D(scope.In("up"), y, d[3], 3, 1)
}

// Dense is a fully connected layer on the last axis of x with a bias (GoMLX's
// layers.Dense: variables "weights" [in, out] He-normal and "biases" [out] zeros, in
// scope.In("dense")).
func Dense(scope *model.Scope, x *Node, out int) *Node {
	return layers.Dense(scope, x, true, out)
}

// dropout zeroes each element with probability rate and scales the rest by 1/(1-rate)
// while the graph is training (scope.IsTraining(g), set by the trainer); otherwise,
// or when rate is 0, it returns x unchanged.
func dropout(scope *model.Scope, x *Node, rate float64) *Node {
	if rate <= 0 || !scope.IsTraining(x.Graph()) {
		return x
	}
	return layers.DropoutStatic(scope, x, rate)
}

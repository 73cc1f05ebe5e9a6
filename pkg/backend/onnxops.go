package backend

import (
	"fmt"
	"maps"
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/compute/support/xslices"
)

// withOps wraps ONNX Runtime's backend (compute-onnx) with what difflab's graphs
// need that it lacks, composed from ops it has:
//
//   - Pad (Concatenate, Reshape, Slice, BroadcastInDim): GoMLX emits it in
//     gradients, the VJP of Slice (the attention's split of q, k, v) and of the
//     convolution;
//   - ConvGeneral with input dilation or negative padding (interior zero padding
//     and cropping of the input): GoMLX's gradient of a strided convolution;
//   - IsFinite (x - x == 0): the trainer's non-finite guard;
//
// and with two of its bugs worked around: an output that is a parameter, a
// constant or another output comes back unwritten (garbage: the non-finite losses
// of early trials), and a Reshape to a scalar cannot be returned (see Return and
// Reshape). A binary op of a scalar and a tensor of many short rows gets the scalar
// broadcast first (see broadcastScalar): ONNX Runtime runs it 15-40 times slower
// otherwise; a sum over leading axes into short rows is a product with ones (see
// ReduceSum), for the same reason.
//
// Everything else is the wrapped backend's. Its buffers and executables are wrapped
// too, so that every tensor GoMLX makes names this backend (GoMLX ties a tensor to
// one backend instance). TestWithOps checks the compositions against the pure-Go
// backend's own ops; the whole test suite passes with GOMLX_BACKEND=onnx.
type withOps struct{ compute.Backend }

// Capabilities adds Pad and IsFinite to the wrapped backend's operations.
func (b *withOps) Capabilities() compute.Capabilities {
	c := b.Backend.Capabilities()
	c.Operations = maps.Clone(c.Operations)
	if c.Operations == nil {
		c.Operations = map[compute.OpType]bool{}
	}
	c.Operations[compute.OpTypePad] = true
	c.Operations[compute.OpTypeIsFinite] = true
	return c
}

func (b *withOps) Builder(name string) compute.Builder {
	return &opsBuilder{Builder: b.Backend.Builder(name), backend: b}
}

func (b *withOps) BufferFromFlatData(deviceNum compute.DeviceNum, flat any, shape shapes.Shape) (compute.Buffer, error) {
	buf, err := b.Backend.BufferFromFlatData(deviceNum, flat, shape)
	return b.wrapBuffer(buf), err
}

func (b *withOps) NewSharedBuffer(deviceNum compute.DeviceNum, shape shapes.Shape) (compute.Buffer, any, error) {
	buf, flat, err := b.Backend.NewSharedBuffer(deviceNum, shape)
	return b.wrapBuffer(buf), flat, err
}

func (b *withOps) wrapBuffer(buf compute.Buffer) compute.Buffer {
	if buf == nil {
		return nil
	}
	return &opsBuffer{Buffer: buf, backend: b}
}

// opsBuffer is a buffer of the wrapped backend that names withOps as its backend.
type opsBuffer struct {
	compute.Buffer
	backend *withOps
}

func (p *opsBuffer) Backend() compute.Backend { return p.backend }

func (p *opsBuffer) CopyToDevice(deviceNum compute.DeviceNum) (compute.Buffer, error) {
	buf, err := p.Buffer.CopyToDevice(deviceNum)
	return p.backend.wrapBuffer(buf), err
}

func unwrapBuffer(buf compute.Buffer) compute.Buffer {
	if p, ok := buf.(*opsBuffer); ok {
		return p.Buffer
	}
	return buf
}

// opsExecutable runs the wrapped backend's executable on unwrapped buffers.
type opsExecutable struct {
	compute.Executable
	backend *withOps
}

func (e *opsExecutable) Execute(inputs []compute.Buffer, donate []bool, defaultDevice compute.DeviceNum) ([]compute.Buffer, error) {
	in := make([]compute.Buffer, len(inputs))
	for i, b := range inputs {
		in[i] = unwrapBuffer(b)
	}
	out, err := e.Executable.Execute(in, donate, defaultDevice)
	for i, b := range out {
		out[i] = e.backend.wrapBuffer(b)
	}
	return out, err
}

type opsBuilder struct {
	compute.Builder
	backend *withOps
}

func (b *opsBuilder) Compile() (compute.Executable, error) {
	e, err := b.Builder.Compile()
	if err != nil {
		return nil, err
	}
	return &opsExecutable{Executable: e, backend: b.backend}, nil
}

func (b *opsBuilder) Main() compute.Function { return b.wrap(b.Builder.Main()) }

func (b *opsBuilder) NewFunction(name string) (compute.Function, error) {
	f, err := b.Builder.NewFunction(name)
	return b.wrap(f), err
}

func (b *opsBuilder) wrap(f compute.Function) compute.Function {
	if f == nil {
		return nil
	}
	return &opsFunction{Function: f, b: b, leaves: map[compute.Value]bool{}}
}

// opsFunction is a function of the wrapped builder with withOps' ops; the functions
// it passes on (Call, Sort, While, If) are unwrapped first.
type opsFunction struct {
	compute.Function
	b *opsBuilder
	// leaves are the values made by Parameter and Constant (see Return).
	leaves map[compute.Value]bool
}

func unwrap(f compute.Function) compute.Function {
	if p, ok := f.(*opsFunction); ok {
		return p.Function
	}
	return f
}

func (f *opsFunction) Builder() compute.Builder { return f.b }

func (f *opsFunction) Parameter(name string, shape shapes.Shape, sharding *compute.ShardingSpec) (compute.Value, error) {
	v, err := f.Function.Parameter(name, shape, sharding)
	if err == nil {
		f.leaves[v] = true
	}
	return v, err
}

func (f *opsFunction) Constant(flat any, dims ...int) (compute.Value, error) {
	v, err := f.Function.Constant(flat, dims...)
	if err == nil {
		f.leaves[v] = true
	}
	return v, err
}

// Reshape to a scalar (no dimensions) is a Reshape to [1] and a sum over its one
// axis: compute-onnx allocates a scalar Reshape's output as [1], and ONNX Runtime
// then refuses to run the graph when that output is returned.
func (f *opsFunction) Reshape(x compute.Value, dimensions ...int) (compute.Value, error) {
	if len(dimensions) > 0 {
		return f.Function.Reshape(x, dimensions...)
	}
	v, err := f.Function.Reshape(x, 1)
	if err != nil {
		return nil, err
	}
	return f.Function.ReduceSum(v, 0)
}

func (f *opsFunction) Parent() compute.Function { return f.b.wrap(f.Function.Parent()) }

func (f *opsFunction) Closure() (compute.Function, error) {
	c, err := f.Function.Closure()
	return f.b.wrap(c), err
}

func (f *opsFunction) Call(g compute.Function, inputs ...compute.Value) ([]compute.Value, error) {
	return f.Function.Call(unwrap(g), inputs...)
}

func (f *opsFunction) Sort(comparator compute.Function, axis int, isStable bool, inputs ...compute.Value) ([]compute.Value, error) {
	return f.Function.Sort(unwrap(comparator), axis, isStable, inputs...)
}

func (f *opsFunction) While(cond, body compute.Function, initialState ...compute.Value) ([]compute.Value, error) {
	return f.Function.While(unwrap(cond), unwrap(body), initialState...)
}

func (f *opsFunction) If(pred compute.Value, trueBranch, falseBranch compute.Function) ([]compute.Value, error) {
	return f.Function.If(pred, unwrap(trueBranch), unwrap(falseBranch))
}

// Return gives every output that is a parameter, a constant or an earlier output
// its own Identity node: compute-onnx leaves such outputs unwritten (their buffers
// hold whatever memory they got; GoMLX returns an input unchanged, e.g. a clip
// by a norm of 0 or an eps prediction passed through).
func (f *opsFunction) Return(outputs []compute.Value, shardings []*compute.ShardingSpec) error {
	out := make([]compute.Value, len(outputs))
	seen := map[compute.Value]bool{}
	for i, v := range outputs {
		if f.leaves[v] || seen[v] {
			id, err := f.Function.Identity(v)
			if err != nil {
				return err
			}
			out[i] = id
		} else {
			out[i] = v
		}
		seen[v] = true
	}
	return f.Function.Return(out, shardings)
}

// broadcastScalar returns lhs and rhs with a scalar operand broadcast to the shape
// of the other when that other is made of at least minScalarRows rows (its
// innermost axis) shorter than minScalarSpan. ONNX Runtime (1.30, CPU) runs an
// elementwise op of a scalar and a tensor one row at a time, about 15 ns a row
// whatever its length: at 256x28x28x1 a Mul by a scalar takes 2.7-4.4 ms and an
// Add of one 3.4-4.3 ms, BroadcastInDim then the op 0.06-0.2 ms; at 256x28x28x16
// (as many rows, 16 times the values) 1.4-3 ms either way, and from there on
// materialising the scalar costs more than it saves (bench/RESULTS.md, "The image
// path on ONNX Runtime"). GoMLX passes scalars to the backend as they are: in
// difflab they meet such tensors in the samplers' step graphs (coefficients times
// x_t of shape [B, 28, 28, 1]). The UNet's forward and training graphs have none
// of that size and are left as they are (a training step with the final
// convolution's [3, 3, 16, 1] Adam updates broadcast too measured 1.78 s against
// 1.25 s).
func (f *opsFunction) broadcastScalar(lhs, rhs compute.Value) (compute.Value, compute.Value, error) {
	ls, err := f.Shape(lhs)
	if err != nil {
		return nil, nil, err
	}
	rs, err := f.Shape(rhs)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case ls.Rank() == 0 && manyShortRows(rs):
		lhs, err = f.Function.BroadcastInDim(lhs, shapes.Make(ls.DType, rs.Dimensions...), nil)
	case rs.Rank() == 0 && manyShortRows(ls):
		rhs, err = f.Function.BroadcastInDim(rhs, shapes.Make(rs.DType, ls.Dimensions...), nil)
	}
	return lhs, rhs, err
}

// manyShortRows reports whether broadcastScalar broadcasts a scalar to a tensor of shape s.
func manyShortRows(s shapes.Shape) bool {
	if s.Rank() == 0 {
		return false
	}
	span := s.Dimensions[s.Rank()-1]
	return span < minScalarSpan && s.Size() >= minScalarRows*span
}

// minScalarSpan and minScalarRows bound the tensors broadcastScalar broadcasts a
// scalar to: innermost axis shorter than minScalarSpan, at least minScalarRows rows.
const (
	minScalarSpan = 8
	minScalarRows = 1024
)

// binary applies op to lhs and rhs after broadcastScalar.
func (f *opsFunction) binary(op func(lhs, rhs compute.Value) (compute.Value, error), lhs, rhs compute.Value) (compute.Value, error) {
	lhs, rhs, err := f.broadcastScalar(lhs, rhs)
	if err != nil {
		return nil, err
	}
	return op(lhs, rhs)
}

func (f *opsFunction) Add(lhs, rhs compute.Value) (compute.Value, error) {
	return f.binary(f.Function.Add, lhs, rhs)
}

func (f *opsFunction) Sub(lhs, rhs compute.Value) (compute.Value, error) {
	return f.binary(f.Function.Sub, lhs, rhs)
}

func (f *opsFunction) Mul(lhs, rhs compute.Value) (compute.Value, error) {
	return f.binary(f.Function.Mul, lhs, rhs)
}

func (f *opsFunction) Div(lhs, rhs compute.Value) (compute.Value, error) {
	return f.binary(f.Function.Div, lhs, rhs)
}

func (f *opsFunction) Max(lhs, rhs compute.Value) (compute.Value, error) {
	return f.binary(f.Function.Max, lhs, rhs)
}

func (f *opsFunction) Min(lhs, rhs compute.Value) (compute.Value, error) {
	return f.binary(f.Function.Min, lhs, rhs)
}

func (f *opsFunction) Pow(lhs, rhs compute.Value) (compute.Value, error) {
	return f.binary(f.Function.Pow, lhs, rhs)
}

func (f *opsFunction) Equal(lhs, rhs compute.Value) (compute.Value, error) {
	return f.binary(f.Function.Equal, lhs, rhs)
}

func (f *opsFunction) NotEqual(lhs, rhs compute.Value) (compute.Value, error) {
	return f.binary(f.Function.NotEqual, lhs, rhs)
}

func (f *opsFunction) GreaterThan(lhs, rhs compute.Value) (compute.Value, error) {
	return f.binary(f.Function.GreaterThan, lhs, rhs)
}

func (f *opsFunction) GreaterOrEqual(lhs, rhs compute.Value) (compute.Value, error) {
	return f.binary(f.Function.GreaterOrEqual, lhs, rhs)
}

func (f *opsFunction) LessThan(lhs, rhs compute.Value) (compute.Value, error) {
	return f.binary(f.Function.LessThan, lhs, rhs)
}

func (f *opsFunction) LessOrEqual(lhs, rhs compute.Value) (compute.Value, error) {
	return f.binary(f.Function.LessOrEqual, lhs, rhs)
}

// ConvGeneral rewrites what ONNX's Conv lacks and GoMLX's gradient of a strided
// convolution uses: input dilations, as interior zero padding of the input's
// spatial axes (x dilated by d has d-1 zeros between neighbours), and negative
// paddings, as cropping of the (dilated) input, which is what they mean.
func (f *opsFunction) ConvGeneral(input, kernel compute.Value, axes compute.ConvolveAxesConfig, strides []int, paddings [][2]int, inputDilations, kernelDilations []int, channelGroupCount, batchGroupCount int) (compute.Value, error) {
	if slices.ContainsFunc(inputDilations, func(d int) bool { return d > 1 }) {
		s, err := f.Shape(input)
		if err != nil {
			return nil, err
		}
		cfg := make([]compute.PadAxis, s.Rank())
		for i, axis := range axes.InputSpatial {
			cfg[axis].Interior = inputDilations[i] - 1
		}
		zero, err := f.zero("ConvGeneral with input dilation", s)
		if err != nil {
			return nil, err
		}
		if input, err = f.Pad(input, zero, cfg...); err != nil {
			return nil, err
		}
		inputDilations = nil
	}
	if slices.ContainsFunc(paddings, func(p [2]int) bool { return p[0] < 0 || p[1] < 0 }) {
		nonNeg := make([][2]int, len(paddings))
		for i, p := range paddings {
			var err error
			if input, err = f.crop(input, axes.InputSpatial[i], max(-p[0], 0), max(-p[1], 0)); err != nil {
				return nil, err
			}
			nonNeg[i] = [2]int{max(p[0], 0), max(p[1], 0)}
		}
		paddings = nonNeg
	}
	return f.Function.ConvGeneral(input, kernel, axes, strides, paddings, inputDilations, kernelDilations, channelGroupCount, batchGroupCount)
}

// zero returns a scalar constant 0 of s's dtype, for op (named in the error when
// the dtype is neither float32 nor float64).
func (f *opsFunction) zero(op string, s shapes.Shape) (compute.Value, error) {
	switch s.DType {
	case dtypes.Float64:
		return f.Constant([]float64{0})
	case dtypes.Float32:
		return f.Constant([]float32{0})
	}
	return nil, fmt.Errorf("backend: %s on ONNX Runtime: dtype %s not supported (float32, float64)", op, s.DType)
}

// IsFinite is x - x == 0, false exactly where x is ±Inf or NaN (the trainer's
// non-finite guard); compute-onnx has no IsFinite.
func (f *opsFunction) IsFinite(x compute.Value) (compute.Value, error) {
	s, err := f.Shape(x)
	if err != nil {
		return nil, err
	}
	d, err := f.Sub(x, x)
	if err != nil {
		return nil, err
	}
	zero, err := f.zero("IsFinite", s)
	if err != nil {
		return nil, err
	}
	zeros, err := f.BroadcastInDim(zero, s, nil)
	if err != nil {
		return nil, err
	}
	return f.Equal(d, zeros)
}

// Pad pads x axis by axis with fill (a scalar): Interior copies of fill between
// neighbours (a new axis after the padded one, concatenated and flattened back),
// then Start before and End after (concatenated blocks of fill; a negative Start or
// End crops, by Slice), the semantics of XLA's Pad.
func (f *opsFunction) Pad(x, fill compute.Value, axesConfig ...compute.PadAxis) (compute.Value, error) {
	var err error
	for axis, p := range axesConfig {
		if p.Interior < 0 {
			return nil, fmt.Errorf("Pad: axis %d: negative interior padding %d", axis, p.Interior)
		}
		if p.Interior > 0 {
			if x, err = f.padInterior(x, fill, axis, p.Interior); err != nil {
				return nil, err
			}
		}
		if x, err = f.padEdges(x, fill, axis, p.Start, p.End); err != nil {
			return nil, err
		}
	}
	return x, nil
}

// filled returns a block of fill of shape dims.
func (f *opsFunction) filled(fill compute.Value, dtypeOf compute.Value, dims []int) (compute.Value, error) {
	s, err := f.Shape(dtypeOf)
	if err != nil {
		return nil, err
	}
	return f.BroadcastInDim(fill, shapes.Make(s.DType, dims...), nil)
}

func (f *opsFunction) padInterior(x, fill compute.Value, axis, k int) (compute.Value, error) {
	s, err := f.Shape(x)
	if err != nil {
		return nil, err
	}
	d := s.Dimensions
	n := d[axis]
	if n <= 1 {
		return x, nil
	}
	// [.., n, ..] -> [.., n, 1, ..] ++ fill [.., n, k, ..] -> [.., n·(1+k), ..], then
	// drop the k trailing fills: (n-1)·(1+k) + 1 values.
	expanded := append(append(append([]int{}, d[:axis+1]...), 1), d[axis+1:]...)
	xe, err := f.Reshape(x, expanded...)
	if err != nil {
		return nil, err
	}
	blockDims := append([]int{}, expanded...)
	blockDims[axis+1] = k
	block, err := f.filled(fill, x, blockDims)
	if err != nil {
		return nil, err
	}
	cat, err := f.Concatenate(axis+1, xe, block)
	if err != nil {
		return nil, err
	}
	flat := append([]int{}, d...)
	flat[axis] = n * (1 + k)
	y, err := f.Reshape(cat, flat...)
	if err != nil {
		return nil, err
	}
	starts, limits := make([]int, len(d)), append([]int{}, flat...)
	limits[axis] = (n-1)*(1+k) + 1
	return f.Slice(y, starts, limits, xslices.SliceWithValue(len(d), 1))
}

// crop drops lo values at the start and hi at the end of x's axis.
func (f *opsFunction) crop(x compute.Value, axis, lo, hi int) (compute.Value, error) {
	if lo == 0 && hi == 0 {
		return x, nil
	}
	s, err := f.Shape(x)
	if err != nil {
		return nil, err
	}
	d := s.Dimensions
	starts, limits := make([]int, len(d)), append([]int{}, d...)
	starts[axis], limits[axis] = lo, d[axis]-hi
	return f.Slice(x, starts, limits, xslices.SliceWithValue(len(d), 1))
}

func (f *opsFunction) padEdges(x, fill compute.Value, axis, start, end int) (compute.Value, error) {
	if start == 0 && end == 0 {
		return x, nil
	}
	s, err := f.Shape(x)
	if err != nil {
		return nil, err
	}
	if start < 0 || end < 0 {
		if x, err = f.crop(x, axis, max(-start, 0), max(-end, 0)); err != nil {
			return nil, err
		}
		if s, err = f.Shape(x); err != nil {
			return nil, err
		}
		start, end = max(start, 0), max(end, 0)
		if start == 0 && end == 0 {
			return x, nil
		}
	}
	d := s.Dimensions
	parts := make([]compute.Value, 0, 3)
	for _, k := range []int{start, -1, end} {
		if k == -1 {
			parts = append(parts, x)
			continue
		}
		if k == 0 {
			continue
		}
		dims := append([]int{}, d...)
		dims[axis] = k
		block, err := f.filled(fill, x, dims)
		if err != nil {
			return nil, err
		}
		parts = append(parts, block)
	}
	return f.Concatenate(axis, parts...)
}

// ReduceSum over the leading axes of x, at least minReduceCount values into each of
// at most maxReduceSpan outputs (the gradients of the biases and norm scales of
// channels-last activations), is a matrix product: ones [1, N] times x as [N, C].
// ONNX Runtime (1.30, CPU) sums over leading axes slowly when the rows it keeps are
// short: eight reductions of [64, 28, 28, 16] over its first three axes took 31.6 ms,
// as products 1.8 ms; of [64, 14, 14, 64] 5.0 and 1.9 ms. Over middle axes (GroupNorm's
// spatial means, [B, H·W, C] over H·W) a batched product is slower than ONNX Runtime's
// own sum (9.3 against 12.6 ms at [256, 28, 28, 16]) and is not used (bench/RESULTS.md,
// "The training step on ONNX Runtime"). Other reductions are the wrapped backend's.
func (f *opsFunction) ReduceSum(x compute.Value, axes ...int) (compute.Value, error) {
	s, err := f.Shape(x)
	if err != nil {
		return nil, err
	}
	n, c, ok := leadingReduction(s, axes)
	if !ok {
		return f.Function.ReduceSum(x, axes...)
	}
	x2, err := f.Function.Reshape(x, n, c)
	if err != nil {
		return nil, err
	}
	one, err := f.Constant(oneOf(s.DType))
	if err != nil {
		return nil, err
	}
	ones, err := f.Function.BroadcastInDim(one, shapes.Make(s.DType, 1, n), nil)
	if err != nil {
		return nil, err
	}
	sum, err := f.Function.DotGeneral(ones, []int{1}, nil, x2, []int{0}, nil, compute.DotGeneralConfig{})
	if err != nil {
		return nil, err
	}
	return f.Function.Reshape(sum, s.Dimensions[len(axes):]...)
}

// minReduceCount and maxReduceSpan bound the reductions ReduceSum computes as
// products: at least minReduceCount values summed into each of at most
// maxReduceSpan outputs.
const (
	minReduceCount = 1024
	maxReduceSpan  = 64
)

// leadingReduction reports whether ReduceSum computes the sum of x (shape s) over
// axes as a product, and x's shape as [n, c] for it: axes are 0, 1, ..., k-1 for
// some k < rank, of n >= minReduceCount values, leaving 1 < c <= maxReduceSpan, and
// x is float32 or float64.
func leadingReduction(s shapes.Shape, axes []int) (n, c int, ok bool) {
	k := len(axes)
	if k == 0 || k >= s.Rank() || (s.DType != dtypes.Float32 && s.DType != dtypes.Float64) {
		return 0, 0, false
	}
	if !slices.Equal(slices.Sorted(slices.Values(axes)), xslices.Iota(0, k)) {
		return 0, 0, false
	}
	n, c = 1, 1
	for i, d := range s.Dimensions {
		if i < k {
			n *= d
		} else {
			c *= d
		}
	}
	return n, c, n >= minReduceCount && c > 1 && c <= maxReduceSpan
}

// oneOf is 1 as a flat slice of dtype (float32 or float64), for Constant.
func oneOf(dtype dtypes.DType) any {
	if dtype == dtypes.Float64 {
		return []float64{1}
	}
	return []float32{1}
}

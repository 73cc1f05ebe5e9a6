package models

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/ml/model"
)

// NewStore returns an empty store whose random number generator is seeded with seed,
// so that the weights GoMLX creates lazily at the first graph build (He-normal by
// default, drawn from the store's generator in creation order) are the same on every
// run. The same generator later drives dropout during training.
func NewStore(seed int64) (*model.Store, error) {
	store := model.NewStore()
	if err := SeedStore(store, seed); err != nil {
		return nil, err
	}
	return store, nil
}

// SeedStore seeds the random number generator of an existing store (for trainers that
// bring their own store): it sets GoMLX's model.ParamInitialSeed and resets the
// generator state from it.
func SeedStore(store *model.Store, seed int64) error {
	store.SetParam("/"+model.ParamInitialSeed, seed)
	if err := store.SetRNGStateFromSeed(seed); err != nil {
		return fmt.Errorf("models: seeding the store: %w", err)
	}
	return nil
}

// ParamCount returns the number of trainable parameters in the store: the sum of the
// sizes of its trainable floating-point variables. It leaves out the random
// generator's state and optimizer slots that are not trainable. It is 0 before the
// first graph build (see NewUNet).
func ParamCount(store *model.Store) int {
	n := 0
	for v := range store.IterVariables() {
		if v.Trainable && v.Shape().DType.IsFloat() {
			n += v.Shape().Size()
		}
	}
	return n
}

// Parameter counts of the layers, in the layouts used here.
func convParams(k, in, out int) int { return k*k*in*out + out }
func denseParams(in, out int) int   { return in*out + out }
func normParams(c int) int          { return 2 * c }

// NumParams returns the number of trainable parameters UNetFn(c) creates, computed
// from the configuration without building a graph. It panics when c is invalid.
func (c UNetConfig) NumParams() int {
	if err := c.Validate(); err != nil {
		panic(err)
	}
	e := c.TimeEmbedDim
	res := func(in, out int) int {
		n := normParams(in) + convParams(3, in, out) + denseParams(e, out) + normParams(out) + convParams(3, out, out)
		if in != out {
			n += convParams(1, in, out)
		}
		return n
	}
	attn := func(ch int) int { return normParams(ch) + denseParams(ch, 3*ch) + denseParams(ch, ch) }
	resolutions := c.Resolutions()

	n := denseParams(c.BaseChannels, e) + denseParams(e, e)
	n += convParams(3, c.InChannels, c.BaseChannels)
	skips := []int{c.BaseChannels}
	ch := c.BaseChannels
	for level, mult := range c.ChannelMult {
		hasAttn := slices.Contains(c.AttentionResolutions, resolutions[level])
		for range c.NumResBlocks {
			n += res(ch, mult*c.BaseChannels)
			ch = mult * c.BaseChannels
			if hasAttn {
				n += attn(ch)
			}
			skips = append(skips, ch)
		}
		if level < len(c.ChannelMult)-1 {
			if c.Downsampling == DownsampleConv {
				n += convParams(3, ch, ch)
			}
			skips = append(skips, ch)
		}
	}
	n += res(ch, ch) + attn(ch) + res(ch, ch)
	for level := len(c.ChannelMult) - 1; level >= 0; level-- {
		hasAttn := slices.Contains(c.AttentionResolutions, resolutions[level])
		for range c.NumResBlocks + 1 {
			skip := skips[len(skips)-1]
			skips = skips[:len(skips)-1]
			out := c.ChannelMult[level] * c.BaseChannels
			n += res(ch+skip, out)
			ch = out
			if hasAttn {
				n += attn(ch)
			}
		}
		if level > 0 {
			n += convParams(3, ch, ch)
		}
	}
	n += normParams(ch) + convParams(3, ch, c.InChannels)
	return n
}

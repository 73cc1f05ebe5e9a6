package models

import (
	"fmt"
	"math"
	"slices"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads like maths with the dot import
	"github.com/gomlx/gomlx/ml/model"

	"github.com/difflab/difflab/pkg/diffusion"
)

// Normalization names the normalisation inside the MLP's residual blocks.
type Normalization string

const (
	// NormLayer is LayerNorm over the hidden features (Ba et al. 2016).
	NormLayer Normalization = "layernorm"
	// NormNone is no normalisation.
	NormNone Normalization = "none"
)

// MLPConfig describes a residual MLP denoiser for low-dimensional data (2-D toy
// distributions and the like). DefaultMLPConfig holds every default.
type MLPConfig struct {
	// Dim is the data dimension D (input and output width). Default 2.
	Dim int
	// Hidden is the width of the residual stream. Default 128.
	Hidden int
	// NumBlocks is the number of residual blocks. Default 3.
	NumBlocks int
	// TimeEmbedDim is the width of the sinusoidal time embedding. Default 32.
	TimeEmbedDim int
	// Norm is the normalisation in each block: "layernorm" or "none". Default "layernorm".
	Norm Normalization
	// Dropout is the dropout rate before each block's Dense while training, in [0, 1).
	// Default 0.
	Dropout float64
	// Prediction is what the network is trained to output. Default "epsilon".
	Prediction diffusion.Prediction
	// Seed seeds the weight initialisation of the store NewMLP creates. Default 1.
	Seed int64
}

// DefaultMLPConfig returns the defaults for 2-D data: 55,170 parameters (see
// MLPConfig.NumParams). Every default of MLPConfig is set here and only here.
func DefaultMLPConfig() MLPConfig {
	return MLPConfig{
		Dim:          2,
		Hidden:       128,
		NumBlocks:    3,
		TimeEmbedDim: 32,
		Norm:         NormLayer,
		Dropout:      0,
		Prediction:   diffusion.PredictEps,
		Seed:         1,
	}
}

// Validate returns an error naming the first invalid field, its value and what is allowed.
func (c MLPConfig) Validate() error {
	switch {
	case c.Dim <= 0:
		return fmt.Errorf("MLPConfig.Dim = %d, want > 0", c.Dim)
	case c.Hidden <= 0:
		return fmt.Errorf("MLPConfig.Hidden = %d, want > 0", c.Hidden)
	case c.NumBlocks < 0:
		return fmt.Errorf("MLPConfig.NumBlocks = %d, want >= 0", c.NumBlocks)
	case c.TimeEmbedDim < 2:
		return fmt.Errorf("MLPConfig.TimeEmbedDim = %d, want >= 2", c.TimeEmbedDim)
	case c.Norm != NormLayer && c.Norm != NormNone:
		return fmt.Errorf("MLPConfig.Norm = %q, want %q or %q", c.Norm, NormLayer, NormNone)
	case c.Dropout < 0 || c.Dropout >= 1 || math.IsNaN(c.Dropout):
		return fmt.Errorf("MLPConfig.Dropout = %g, want in [0, 1)", c.Dropout)
	case !slices.Contains(diffusion.Predictions, c.Prediction):
		return fmt.Errorf("MLPConfig.Prediction = %q, want one of %q", c.Prediction, diffusion.Predictions)
	}
	return nil
}

// String is a one-line description of the configuration.
func (c MLPConfig) String() string {
	return fmt.Sprintf("MLP{dim=%d hidden=%d blocks=%d temb=%d norm=%s dropout=%g pred=%s seed=%d}",
		c.Dim, c.Hidden, c.NumBlocks, c.TimeEmbedDim, c.Norm, c.Dropout, c.Prediction, c.Seed)
}

// NumParams returns the number of trainable parameters MLPFn(c) creates:
//
//	(D+1)H  +  (E+1)H  +  NumBlocks·((H+1)H + 2H·[layernorm])  +  (H+1)D
//
// It panics when c is invalid.
func (c MLPConfig) NumParams() int {
	if err := c.Validate(); err != nil {
		panic(err)
	}
	block := denseParams(c.Hidden, c.Hidden)
	if c.Norm == NormLayer {
		block += normParams(c.Hidden)
	}
	return denseParams(c.Dim, c.Hidden) + denseParams(c.TimeEmbedDim, c.Hidden) + c.NumBlocks*block + denseParams(c.Hidden, c.Dim)
}

// NewMLP validates cfg and returns a denoiser whose Fn is MLPFn(cfg) and whose Store is
// a new store seeded with cfg.Seed. As for NewUNet, the weights are created at the
// first graph build, under "/mlp/...".
func NewMLP(cfg MLPConfig) (diffusion.Denoiser, error) {
	if err := cfg.Validate(); err != nil {
		return diffusion.Denoiser{}, err
	}
	store, err := NewStore(cfg.Seed)
	if err != nil {
		return diffusion.Denoiser{}, err
	}
	return diffusion.Denoiser{Prediction: cfg.Prediction, Store: store, Fn: MLPFn(cfg)}, nil
}

// MLPFn returns the graph builder of the MLP denoiser for cfg: fn(scope, x, t) maps x
// [B, Dim] (float32) and t [B] (int32, 0-based) to [B, Dim]. Its variables live in
// scope.At("mlp"), so repeated calls share the weights. With e the time embedding:
//
//	e = SiLU(Dense(TimeEmbedding(t, TimeEmbedDim)))         [B, Hidden]
//	h = Dense(x)                                            [B, Hidden]
//	h = h + Dense(Dropout(SiLU(Norm(h) + e)))               NumBlocks times
//	out = Dense(SiLU(h))                                    [B, Dim]
//
// It panics when cfg is invalid or x has the wrong shape.
func MLPFn(cfg MLPConfig) func(scope *model.Scope, x, t *Node) *Node {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return func(scope *model.Scope, x, t *Node) *Node {
		if x.Rank() != 2 || x.Shape().Dimensions[1] != cfg.Dim {
			panic(fmt.Sprintf("models.MLP: x has shape %s, want [B, %d]", x.Shape(), cfg.Dim))
		}
		scope = scope.At("mlp")
		e := SiLU(Dense(scope.In("time"), TimeEmbedding(t, cfg.TimeEmbedDim), cfg.Hidden))
		h := Dense(scope.In("in"), x, cfg.Hidden)
		for i := range cfg.NumBlocks {
			s := scope.In("block_%d", i)
			u := h
			if cfg.Norm == NormLayer {
				u = LayerNorm(s, u)
			}
			u = dropout(s, SiLU(Add(u, e)), cfg.Dropout)
			h = Add(h, Dense(s, u, cfg.Hidden))
		}
		return Dense(scope.In("out"), SiLU(h), cfg.Dim)
	}
}

// Package models holds difflab's denoiser networks as GoMLX graphs: the UNet of Ho et
// al. 2020 for images and a residual MLP for low-dimensional data, with the layers
// they need that GoMLX lacks or runs slowly on its pure-Go backend (GroupNorm, a 3×3
// convolution as shifted copies and one matrix product, the sinusoidal time
// embedding). How a layer is computed can depend on the backend (formulationOf: the
// convolution and its gradient, SiLU, softmax); the function and the variables do not.
//
// Both networks come as a diffusion.Denoiser (NewUNet, NewMLP) and as a bare graph
// builder fn(scope, x, t) (UNetFn, MLPFn) that a trainer can call inside its own graph
// with its own store:
//
//	den, err := models.NewUNet(models.DefaultUNetConfig())
//	exec, err := model.NewExec(backend, den.Store, den.Fn)
//	out := exec.MustCall1(xt, t) // x_t [B, 28, 28, 1] float32, t [B] int32
//	// out is what den.Prediction names: v for the default UNet, eps or x0 if configured.
//
// Weights are created lazily: building a graph that calls Fn declares the variables,
// and GoMLX initialises them (He-normal weights, zero biases, unit norm scales) with
// the store's random generator just before the first run. NewStore/SeedStore seed that
// generator, so the same configuration and seed give the same weights.
//
// Images are channels-last (NHWC). Dropout is applied only in graphs marked as
// training (scope.IsTraining(g), set by GoMLX's train.Trainer).
package models

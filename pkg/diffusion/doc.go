// Package diffusion holds the mathematics of denoising diffusion models: noise
// schedules, the forward process q(x_t | x_0), its posterior q(x_{t-1} | x_t, x_0),
// the epsilon / x0 / v parameterisations, timestep spacings, the DDPM and DDIM
// samplers and the ODE solvers DPM-Solver++(2M), UniPC, PLMS and Heun (see
// solvers.go), the zero-terminal-SNR rescaling, plus an exact denoiser for
// Gaussian mixtures.
//
// # Conventions
//
// Timesteps are 0-based: t = 0..T-1. With beta_t the noise added at step t,
//
//	alpha_t = 1 - beta_t
//	abar_t  = prod_{i <= t} alpha_i        (AlphasCumprod[t])
//	x_t     = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps,   eps ~ N(0, I)
//
// so x_0 is the data itself noised once (abar_0 = alpha_0 < 1), and the
// "previous" cumulative product before t = 0 is abar_{-1} = 1 (AlphasCumprodPrev[0]).
// Ho et al. (2020) number steps 1..T; their t is our t+1.
//
// Schedule tables are plain float64 Go computed once; samplers take the model's
// prediction and own no weights (see Sampler); models live elsewhere.
//
// References:
//   - Ho, Jain, Abbeel (2020), Denoising Diffusion Probabilistic Models, arXiv 2006.11239.
//   - Song, Meng, Ermon (2021), Denoising Diffusion Implicit Models, arXiv 2010.02502.
//   - Nichol, Dhariwal (2021), Improved Denoising Diffusion Probabilistic Models, arXiv 2102.09672.
//   - Salimans, Ho (2022), Progressive Distillation for Fast Sampling of Diffusion Models, arXiv 2202.00512 (v-prediction).
//   - Lu et al. (2022), DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic Models, arXiv 2211.01095.
//   - Zhao et al. (2023), UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of Diffusion Models, arXiv 2302.04867.
//   - Liu et al. (2022), Pseudo Numerical Methods for Diffusion Models on Manifolds (PNDM), arXiv 2202.09778.
//   - Karras et al. (2022), Elucidating the Design Space of Diffusion-Based Generative Models, arXiv 2206.00364.
//   - Lin et al. (2024), Common Diffusion Noise Schedules and Sample Steps Are Flawed, arXiv 2305.08891.
package diffusion

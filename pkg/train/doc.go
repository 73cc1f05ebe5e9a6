// Package train trains difflab's denoisers with the simplified DDPM objective and
// keeps an exponential moving average (EMA) of their weights for sampling.
//
//	tr, err := train.New(backend, sched, den, cfg, src, []int{28, 28, 1})
//	if err := tr.Resume(""); err != nil && !errors.Is(err, train.ErrNoCheckpoint) { ... }
//	train.AttachProgressBar(tr, os.Stderr) // or nb.AttachProgressBar(tr) in a notebook
//	err = tr.Run(ctx, run)            // run: a *track.Run, or nil
//	emaDen, err := tr.EMADenoiser()   // sample with the EMA weights
//
// Each update (see Trainer for why it is one hand-written GoMLX graph):
//
//	t_b ~ U{0..T-1}, eps ~ N(0, I)                      (Go-side PCG, checkpointed)
//	x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps       (Ho et al. 2020, eq. (4))
//	L   = mean_b w_t ||target - f(x_t, t)||^2 / D       (eq. (14); w = MinSNRWeights)
//	g   = clip_by_global_norm(grad L, GradClip)
//	w   = AdamW(w, g, lr_k)                            (Loshchilov & Hutter 2019)
//	ema = d_k ema + (1 - d_k) w                         (Config.EMADecayAt)
//
// with lr_k from Config.LearningRateAt. A non-finite loss stops training with an
// error naming the step and the last good checkpoint; the weights keep their values
// from before that step.
//
// Checkpoints (see SaveCheckpoint) are directories written atomically, holding the
// weights, the EMA, Adam's moments, the step, the PCG state, the batch source's
// state and the config; Resume continues bitwise exactly on the pure-Go backend.
// LoadDenoiser loads a checkpoint's EMA (or raw) weights for sampling.
//
// References:
//   - Ho, Jain, Abbeel (2020), Denoising Diffusion Probabilistic Models, arXiv 2006.11239.
//   - Hang et al. (2023), Efficient Diffusion Training via Min-SNR Weighting Strategy, arXiv 2303.09556.
//   - Loshchilov, Hutter (2019), Decoupled Weight Decay Regularization, arXiv 1711.05101.
//   - Kingma, Ba (2015), Adam: A Method for Stochastic Optimization, arXiv 1412.6980.
package train

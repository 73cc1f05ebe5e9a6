#!/usr/bin/python3
"""PyTorch twin of difflab's 2-D MLP denoiser (pkg/models: DefaultMLPConfig, MLPFn), for
timing DDPM sampling against `difflab sample`.

Same network as models.MLPFn with the defaults (55,170 parameters; printed): with e the
32-d sinusoidal time embedding (improved-diffusion's timestep_embedding),

    e = SiLU(Linear(emb(t)))                [B, 128]
    h = Linear(x)                           [B, 128]
    h = h + Linear(SiLU(LayerNorm(h) + e))  3 times
    out = Linear(SiLU(h))                   [B, 2]

Timed: DDPM ancestral sampling (Ho et al. 2020, Algorithm 2, sigma_t^2 = beta-tilde_t,
"fixed-small") over all T = 1000 steps of the linear schedule, of N points (default
2000), x_0 not clipped, as `difflab sample --sampler ddpm --steps 1000`. The printed
time is sampling only (the network built, weights random: the time does not depend on
them); the process's start-up is what `/usr/bin/time` adds around it.

Run:  /usr/bin/python3 bench/pytorch_mlp.py --n 2000
      (Debian python3-torch 1.13, CPU, 2 threads; install libopenblas0-pthread, or its
      Linear layers run on reference BLAS)
"""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(0)

DIM, HIDDEN, BLOCKS, TEMB, T = 2, 128, 3, 32, 1000


def timestep_embedding(t, dim, max_period=10000.0):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.time = nn.Linear(TEMB, HIDDEN)
        self.inp = nn.Linear(DIM, HIDDEN)
        self.norms = nn.ModuleList([nn.LayerNorm(HIDDEN, eps=1e-5) for _ in range(BLOCKS)])
        self.denses = nn.ModuleList([nn.Linear(HIDDEN, HIDDEN) for _ in range(BLOCKS)])
        self.out = nn.Linear(HIDDEN, DIM)

    def forward(self, x, t):
        e = F.silu(self.time(timestep_embedding(t, TEMB)))
        h = self.inp(x)
        for norm, dense in zip(self.norms, self.denses):
            h = h + dense(F.silu(norm(h) + e))
        return self.out(F.silu(h))


def ddpm_sample(net, n, gen):
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    alphas = 1 - betas
    abar = torch.cumprod(alphas, 0)
    abar_prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
    var = betas * (1 - abar_prev) / (1 - abar)
    x = torch.randn(n, DIM, generator=gen)
    with torch.no_grad():
        for t in reversed(range(T)):
            e = net(x, torch.full((n,), t, dtype=torch.long))
            c1 = 1 / math.sqrt(alphas[t].item())
            c2 = betas[t].item() / math.sqrt(1 - abar[t].item())
            x = c1 * (x - c2 * e)
            if t > 0:
                x = x + math.sqrt(var[t].item()) * torch.randn(x.shape, generator=gen)
    return x


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="number of points N >= 1")
    args = ap.parse_args()
    if args.n < 1:
        ap.error(f"--n = {args.n}, want >= 1")
    net = MLP().eval()
    print(f"torch {torch.__version__}, cpu, threads {torch.get_num_threads()}, BLAS: "
          + next((l.split("=")[1].strip(" ,") for l in torch.__config__.show().split() if l.startswith("BLAS_INFO")), "?"))
    print(f"parameters: {sum(p.numel() for p in net.parameters())}")
    gen = torch.Generator().manual_seed(1)
    t0 = time.perf_counter()
    ddpm_sample(net, args.n, gen)
    s = time.perf_counter() - t0
    print(f"DDPM-{T} sampling of {args.n} points: {s:.2f} s ({s / T * 1e3:.2f} ms/step)")


if __name__ == "__main__":
    main()

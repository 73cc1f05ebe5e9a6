#!/usr/bin/python3
"""PyTorch twin of difflab's UNets (pkg/models: DefaultUNetConfig, SmallUNetConfig,
LargeUNetConfig), for timing.

Same architecture as models.UNetFn (Ho et al. 2020, appendix B): sinusoidal time
embedding (BaseChannels wide, improved-diffusion's timestep_embedding) -> Linear ->
SiLU -> Linear; 3x3 conv in; per level NumResBlocks ResBlocks (+ attention at the
listed resolutions) and a stride-2 3x3 conv down; middle Res/Attn/Res; per level in
reverse NumResBlocks+1 ResBlocks on concatenated skips (+ attention) and nearest x2 +
3x3 conv up; GroupNorm, SiLU, 3x3 conv out. The parameter count printed must equal
UNetConfig.NumParams() (679,601 for the default, 190,737 for the small one and
1,112,801 for the large one). The training step regresses eps whatever the Go
config's prediction type (the default's is v): the target does not change the cost.

Timed: a training step (forward, MSE, backward, Adam) at batch 64, a forward pass at
batch 256, and DDIM sampling with S = 50 steps (eta = 1, linear schedule, T = 1000) of
a batch of 256, as BenchmarkUNetTrainStep, BenchmarkUNetForward and
BenchmarkUNetSampleDDIM50 in pkg/models.

Run:  /usr/bin/python3 bench/pytorch_unet.py --config default --reps 3
      (Debian python3-torch, CPU, 2 threads; --device cuda on a GPU machine)
"""
import argparse
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(0)

IMAGE, IN_CH, NRES, TEMB, GROUPS = 28, 1, 1, 128, 8
# name -> (base channels CH, channel multipliers MULT, attention resolutions ATTN, dropout)
CONFIGS = {
    "default": (16, (1, 2, 4), (), 0.0),
    "small": (16, (1, 2), (), 0.0),
    "large": (32, (1, 2, 2), (7,), 0.1),
}
CH, MULT, ATTN, DROPOUT = CONFIGS["default"]


def timestep_embedding(t, dim, max_period=10000.0):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class ResBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm0 = nn.GroupNorm(GROUPS, cin, eps=1e-5)
        self.conv0 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(TEMB, cout)
        self.norm1 = nn.GroupNorm(GROUPS, cout, eps=1e-5)
        self.drop = nn.Dropout(DROPOUT)
        self.conv1 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, temb):
        h = self.conv0(F.silu(self.norm0(x)))
        h = h + self.temb(F.silu(temb))[:, :, None, None]
        h = self.conv1(self.drop(F.silu(self.norm1(h))))
        return self.skip(x) + h


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = nn.GroupNorm(GROUPS, c, eps=1e-5)
        self.qkv = nn.Linear(c, 3 * c)
        self.proj = nn.Linear(c, c)

    def forward(self, x):
        b, c, h, w = x.shape
        hn = self.norm(x).reshape(b, c, h * w).transpose(1, 2)  # [B, HW, C]
        q, k, v = self.qkv(hn).chunk(3, dim=-1)
        a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(c), dim=-1)
        o = self.proj(a @ v).transpose(1, 2).reshape(b, c, h, w)
        return x + o


class UNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.time0, self.time1 = nn.Linear(CH, TEMB), nn.Linear(TEMB, TEMB)
        self.conv_in = nn.Conv2d(IN_CH, CH, 3, padding=1)
        res = [IMAGE // 2**i for i in range(len(MULT))]
        self.down, skips, ch = nn.ModuleList(), [CH], CH
        for lvl, m in enumerate(MULT):
            for _ in range(NRES):
                self.down.append(ResBlock(ch, m * CH)); ch = m * CH
                if res[lvl] in ATTN:
                    self.down.append(Attention(ch))
                skips.append(ch)
            if lvl < len(MULT) - 1:
                self.down.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1)); skips.append(ch)
        self.mid = nn.ModuleList([ResBlock(ch, ch), Attention(ch), ResBlock(ch, ch)])
        self.up = nn.ModuleList()
        for lvl in reversed(range(len(MULT))):
            for _ in range(NRES + 1):
                self.up.append(ResBlock(ch + skips.pop(), MULT[lvl] * CH)); ch = MULT[lvl] * CH
                if res[lvl] in ATTN:
                    self.up.append(Attention(ch))
            if lvl > 0:
                self.up.append(nn.Upsample(scale_factor=2, mode="nearest"))
                self.up.append(nn.Conv2d(ch, ch, 3, padding=1))
        self.norm_out = nn.GroupNorm(GROUPS, ch, eps=1e-5)
        self.conv_out = nn.Conv2d(ch, IN_CH, 3, padding=1)

    def forward(self, x, t):
        temb = self.time1(F.silu(self.time0(timestep_embedding(t, CH))))
        h = self.conv_in(x)
        hs = [h]
        for m in self.down:
            if isinstance(m, ResBlock):
                h = m(h, temb); hs.append(h)
            elif isinstance(m, Attention):
                h = m(h); hs[-1] = h
            else:
                h = m(h); hs.append(h)
        h = self.mid[2](self.mid[1](self.mid[0](h, temb)), temb)
        for m in self.up:
            if isinstance(m, ResBlock):
                h = m(torch.cat([h, hs.pop()], dim=1), temb)
            else:
                h = m(h)
        return self.conv_out(F.silu(self.norm_out(h)))


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_time(fn, reps, device):
    fn()  # warm-up
    ts = []
    for _ in range(reps):
        sync(device)
        t0 = time.perf_counter(); fn(); sync(device); ts.append(time.perf_counter() - t0)
    ts.sort()
    return ts[len(ts) // 2]


def ddim_sample(net, n, steps, eta, gen):
    """DDIM (Song et al. 2021, eq. (12)) with S = steps evenly spaced timesteps of the linear
    schedule (beta 1e-4 .. 0.02, T = 1000), x_0 clipped to [-1, 1] as difflab's samplers."""
    T = 1000
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    abar = torch.cumprod(1 - betas, 0)
    ts = list(range(0, T, T // steps))
    dev = next(net.parameters()).device
    x = torch.randn(n, IN_CH, IMAGE, IMAGE, generator=gen, device=dev)
    net.eval()
    with torch.no_grad():
        for i in reversed(range(len(ts))):
            a = abar[ts[i]].item()
            ap = abar[ts[i - 1]].item() if i > 0 else 1.0
            e = net(x, torch.full((n,), ts[i], dtype=torch.long, device=dev))
            x0 = ((x - math.sqrt(1 - a) * e) / math.sqrt(a)).clamp(-1, 1)
            sigma = eta * math.sqrt((1 - ap) / (1 - a) * (1 - a / ap))
            x = math.sqrt(ap) * x0 + math.sqrt(max(1 - ap - sigma**2, 0.0)) * e
            if sigma > 0:
                x = x + sigma * torch.randn(x.shape, generator=gen, device=dev)
    return x


def main():
    global CH, MULT, ATTN, DROPOUT
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", choices=sorted(CONFIGS), default="default", help="which difflab UNet")
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions of the train step and forward pass (median)")
    ap.add_argument("--no-sample", action="store_true", help="skip the DDIM sampling timing")
    ap.add_argument("--sample-steps", type=int, default=50, help="DDIM steps S of the sampling timing")
    ap.add_argument("--only-sample", action="store_true", help="time only the sampling (no train step or forward pass)")
    ap.add_argument("--device", default="cpu", help="torch device: cpu (2 threads) or cuda")
    args = ap.parse_args()
    if args.reps < 1:
        ap.error(f"--reps = {args.reps}, want >= 1")
    if args.sample_steps < 1 or 1000 % args.sample_steps:
        ap.error(f"--sample-steps = {args.sample_steps}, want a divisor of T = 1000")
    CH, MULT, ATTN, DROPOUT = CONFIGS[args.config]
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: torch.cuda.is_available() is false")
    net = UNet().to(device)
    what = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, threads {torch.get_num_threads()}"
    print(f"torch {torch.__version__}, {what}, config {args.config}")
    print(f"parameters: {sum(p.numel() for p in net.parameters())}")
    reps = args.reps
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, t, eps = (torch.randn(64, IN_CH, IMAGE, IMAGE, device=device), torch.randint(0, 1000, (64,), device=device),
                 torch.randn(64, IN_CH, IMAGE, IMAGE, device=device))

    def train_step():
        net.train(); opt.zero_grad()
        loss = F.mse_loss(net(x, t), eps); loss.backward(); opt.step()

    if not args.only_sample:
        s = median_time(train_step, reps, device)
        print(f"train step, batch 64: {s:.3f} s median of {reps} ({64 / s:.1f} images/s)")
    xf, tf = torch.randn(256, IN_CH, IMAGE, IMAGE, device=device), torch.randint(0, 1000, (256,), device=device)

    def fwd():
        net.eval()
        with torch.no_grad():
            net(xf, tf)

    if not args.only_sample:
        s = median_time(fwd, reps, device)
        print(f"forward, batch 256: {s:.3f} s median of {reps} ({256 / s:.1f} images/s)")
    if not args.no_sample:
        gen = torch.Generator(device=device).manual_seed(1)
        ddim_sample(net, 256, 2, 1.0, gen)  # warm-up (kernel selection), as the Go benchmark's untimed first call
        sync(device)
        t0 = time.perf_counter()
        S = args.sample_steps
        ddim_sample(net, 256, S, 1.0, gen)
        sync(device)
        s = time.perf_counter() - t0
        print(f"DDIM-{S} sampling, batch 256: {s:.2f} s ({256 / s:.1f} images/s, {s / S:.3f} s/step)")


if __name__ == "__main__":
    main()

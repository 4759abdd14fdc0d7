"""The coder witness's network in torch, and its training on real faces (`coder.py` scans with it in numpy).

A causal CNN (masked convolutions, PixelCNN-style): a 5 x 5 layer that hides the pixel, then three 3 x 3
residual layers that may see their centre, 16 channels and a learned offset per scale, predicts each pixel's
residual from MED's prediction as a discretised logistic law (centre, log scale) from the pixels before it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .coder import CHANNELS, LOG_SCALE
from .surprise import SCALES, T, _planes, residuals


def _mask(k: int, centre: bool) -> torch.Tensor:
    """A k x k causal mask: the rows above, and the pixels to the left (and the centre if `centre`)."""
    m = torch.ones(k, k)
    m[k // 2, k // 2 + int(centre):] = 0
    m[k // 2 + 1:] = 0
    return m


class CausalCoder(nn.Module):
    """Integer planes (B, 1, H, W) and a scale index -> (centre, log scale) of each pixel's residual law (B, 2, H, W).

    The centre is an offset from MED's prediction; both see only the causal neighbourhood.
    """

    def __init__(self, channels: int = CHANNELS):
        super().__init__()
        self.first = nn.Conv2d(1, channels, 5, padding=2)
        self.scale = nn.Embedding(len(SCALES), channels)
        self.body = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in range(3))
        self.head = nn.Conv2d(channels, 2, 1)
        self.register_buffer("mask_a", _mask(5, False), persistent=False)
        self.register_buffer("mask_b", _mask(3, True), persistent=False)

    def forward(self, x: torch.Tensor, scale: int) -> torch.Tensor:
        h = F.conv2d((x - 128.0) / 64.0, self.first.weight * self.mask_a, self.first.bias, padding=2)
        h = F.relu(h + self.scale.weight[scale].view(1, -1, 1, 1))
        for conv in self.body:
            h = F.relu(h + F.conv2d(h, conv.weight * self.mask_b, conv.bias, padding=1))
        return self.head(h)

    def arrays(self) -> dict[str, np.ndarray]:
        """The state_dict as float32 numpy arrays: what `coder.CoderWitness` scans with."""
        return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in self.state_dict().items()}


def log_probs(e: torch.Tensor, centre: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """log P(e) (nats) of integer residuals e in [-T, T] under discretised logistic laws, the two ends taking the tails."""
    inv = torch.exp(-log_scale)
    lo, hi = (e - 0.5 - centre) * inv, (e + 0.5 - centre) * inv
    # log(sigmoid(hi) - sigmoid(lo)) without cancellation: hi + log(1 - exp(lo - hi)) - softplus(lo) - softplus(hi)
    inner = hi + torch.log(-torch.expm1(-inv)) - F.softplus(lo) - F.softplus(hi)
    return torch.where(e <= -T, -F.softplus(-hi), torch.where(e >= T, -F.softplus(lo), inner))


def cost(network: CausalCoder, plane: np.ndarray, scale: int) -> torch.Tensor:
    """Mean coding cost (nats per pixel) of (B, H, W) int16 planes at scale index `scale`, on MED's region."""
    shifted, _ = residuals(plane[:, None])
    out = network(torch.from_numpy(plane[:, None]).float(), scale)[:, :, 1:, 1:-1]
    centre, log_scale = torch.clamp(out[:, :1], -T, T), torch.clamp(out[:, 1:], *LOG_SCALE)
    return -log_probs(torch.from_numpy(shifted - T).float(), centre, log_scale).mean()


def train(inputs: np.ndarray, rows: np.ndarray, *, steps: int, batch: int = 32, lr: float = 2e-3, seed: int = 0,
          checkpoint: str | Path | None = None, log: Callable[[str], None] | None = None) -> CausalCoder:
    """Train a coder on one random patch of `batch` random faces of `rows` per step (real faces only; (N, P, S, S, 3)
    uint8 `inputs`), Adam with a cosine schedule; checkpointed every 200 steps and resumed from `checkpoint`."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    network = CausalCoder()
    opt = torch.optim.Adam(network.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5 * (1 + math.cos(math.pi * t / steps)))
    start = 0
    if checkpoint is not None and Path(checkpoint).exists():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        network.load_state_dict(state["network"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["schedule"])
        start, rng = int(state["step"]), np.random.default_rng([seed, int(state["step"])])
    network.train()
    rows = np.asarray(rows)
    for step in range(start, steps):
        pick = np.sort(rng.choice(rows, batch, replace=len(rows) < batch))
        patch = rng.integers(inputs.shape[1], size=batch)
        x = np.stack([inputs[r, p] for r, p in zip(pick, patch)])[:, None]
        total = sum(cost(network, plane[:, 0], j) for _, j, plane in _planes(x, "luma")) / len(SCALES)
        opt.zero_grad()
        total.backward()
        opt.step()
        sched.step()
        if log is not None and (step + 1) % 50 == 0:
            log(f"step {step + 1}/{steps}: {total.item() / math.log(2):.4f} bits/pixel")
        if checkpoint is not None and ((step + 1) % 200 == 0 or step + 1 == steps):
            torch.save({"network": network.state_dict(), "optimizer": opt.state_dict(), "schedule": sched.state_dict(),
                        "step": step + 1}, checkpoint)
    return network.eval()

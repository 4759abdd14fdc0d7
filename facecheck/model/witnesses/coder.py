"""The coder witness: the surprise witness's gap under a learned coder of real faces' pixels.

After ZED (Cozzolino et al., ECCV 2024), which codes an image with a network trained on real images only:
here a small causal CNN (masked convolutions, PixelCNN-style, about 7,500 weights) sees the pixels before
each pixel in raster order (up to 5 rows above and 5 columns to either side) and predicts the pixel's residual from
LOCO-I's median edge predictor as a discretised logistic law (its centre and its scale), on the luminance
of the face's native-resolution patches at three scales (the patch, its 2 x 2 and 4 x 4 block means; a
learned offset per scale). The surprise witness's coder (`surprise.py`) is a table per context of four
neighbours' activity; this one predicts each pixel's law from a wider view.

Features per scale: the mean gap between each pixel's coding cost and the cost the coder expects (the
entropy of its own prediction, bits), in each of the 16 activity contexts of `surprise.py`, in each of 8
bins of the predicted scale, and overall (25; 75 in all). Trained (`learn`) on real faces as they are,
never on a fake.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError, WeightsError
from .base import LUMA, PatchSpec, Witness, spec_from_dict
from .networks import load_state, save_state
from .surprise import EDGES, PATCHES, SCALES, T, residuals

SCALE_EDGES = (-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0)  # log2 of the predicted logistic scale: 8 bins
PER_SCALE = len(EDGES) + 1 + len(SCALE_EDGES) + 1 + 1
CHANNELS = 16
LOG_SCALE = (-3.0, 5.0)  # the predicted scale's range (natural log)
STEP = 16  # grid points per unit of the entropy table


def _mask(k: int, centre: bool) -> torch.Tensor:
    """A k x k causal mask: the rows above, and the pixels to the left (and the centre if `centre`)."""
    m = torch.ones(k, k)
    m[k // 2, k // 2 + int(centre):] = 0
    m[k // 2 + 1:] = 0
    return m


class CausalCoder(nn.Module):
    """Integer planes (B, 1, H, W) and a scale index -> (centre, log scale) of each pixel's residual law (B, 2, H, W).

    The centre is an offset from MED's prediction; both see only the causal neighbourhood (a 5 x 5 masked
    convolution that hides the pixel itself, then three 3 x 3 masked convolutions that may see their centre).
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


def _log_probs(e: torch.Tensor, centre: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """log P(e) (nats) of integer residuals e in [-T, T] under discretised logistic laws, the two ends taking the tails."""
    inv = torch.exp(-log_scale)
    lo, hi = (e - 0.5 - centre) * inv, (e + 0.5 - centre) * inv
    # log(sigmoid(hi) - sigmoid(lo)) without cancellation: hi + log(1 - exp(lo - hi)) - softplus(lo) - softplus(hi)
    inner = hi + torch.log(-torch.expm1(-inv)) - F.softplus(lo) - F.softplus(hi)
    return torch.where(e <= -T, -F.softplus(-hi), torch.where(e >= T, -F.softplus(lo), inner))


def _planes(inputs: np.ndarray):
    """(scale index, (N * P, 1, s, s) float tensor of integer luminance) of (N, P, S, S, 3) uint8 patches."""
    plane = torch.from_numpy(np.ascontiguousarray(inputs, np.uint8)).float() @ torch.from_numpy(LUMA)
    n, p, s, _ = plane.shape
    plane = plane.reshape(n * p, 1, s, s)
    for j, k in enumerate(SCALES):
        yield j, torch.round(F.avg_pool2d(plane, k) if k > 1 else plane)


def _split(out: torch.Tensor, x: torch.Tensor):
    """(residual from MED clipped to [-T, T], activity context, centre, log scale) on MED's region of one plane
    (the surprise witness's `residuals`)."""
    shifted, ctx = residuals(x.numpy().astype(np.int16))
    e, ctx = torch.from_numpy(shifted - T).float(), torch.from_numpy(ctx)
    centre = torch.clamp(out[:, :1, 1:, 1:-1], -T, T)
    log_scale = torch.clamp(out[:, 1:, 1:, 1:-1], *LOG_SCALE)
    return e, ctx, centre, log_scale


def _entropy_table() -> torch.Tensor:
    """The laws' entropies (nats), (centres, log scales) on a grid of STEP over [-T, T] x LOG_SCALE: the expected cost
    is interpolated in it, since summing 2T + 1 probabilities per pixel would cost more than the network."""
    centre = torch.arange(-T * STEP, T * STEP + 1, dtype=torch.float64).div(STEP).view(-1, 1, 1)
    log_scale = torch.arange(LOG_SCALE[0] * STEP, LOG_SCALE[1] * STEP + 1, dtype=torch.float64).div(STEP).view(1, -1, 1)
    lp = _log_probs(torch.arange(-T, T + 1, dtype=torch.float64).view(1, 1, -1), centre, log_scale)
    return -(lp.exp() * lp).sum(dim=-1).float()


def _expected(table: torch.Tensor, centre: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Bilinear interpolation of the entropy table at each pixel's (centre, log scale)."""
    u = (centre + T) * STEP
    v = (log_scale - LOG_SCALE[0]) * STEP
    i0 = u.floor().clamp(0, table.shape[0] - 2)
    j0 = v.floor().clamp(0, table.shape[1] - 2)
    fu, fv = u - i0, v - j0
    i, j = i0.long(), j0.long()
    top = table[i, j] * (1 - fv) + table[i, j + 1] * fv
    bottom = table[i + 1, j] * (1 - fv) + table[i + 1, j + 1] * fv
    return top * (1 - fu) + bottom * fu


class CoderWitness(Witness):
    """Coding cost against expected cost under a learned causal coder of real faces, per context and scale."""

    kind = "coder"
    summary = ("how much more or less a face costs to code than a small network trained to code real faces expects, "
               "at the image's own resolution (after ZED)")
    file_suffix = ".pt"
    batch = 8  # faces per forward pass (72 patches: the fastest on 2 cores)

    def __init__(self, network: CausalCoder | None = None, *, spec: PatchSpec = PATCHES, name: str = "coder"):
        self.network = CausalCoder() if network is None else network
        self.spec, self.name = spec, name
        self._table = None

    @property
    def n_features(self) -> int:
        return len(SCALES) * PER_SCALE

    @torch.inference_mode()
    def transform(self, inputs: np.ndarray) -> np.ndarray:
        """(N, P, S, S, 3) uint8 -> (N, 75) float32."""
        inputs = np.asarray(inputs)
        if inputs.ndim != 5 or inputs.shape[2:] != self.spec.shape[1:]:
            raise ConfigError(f"coder inputs have shape {inputs.shape}; expected (N, P, {self.spec.size}, {self.spec.size}, 3)")
        self.network.eval()
        out = [self._features(inputs[i:i + self.batch]) for i in range(0, len(inputs), self.batch)]
        return np.concatenate(out) if out else np.zeros((0, self.n_features), np.float32)

    def _features(self, inputs: np.ndarray) -> np.ndarray:
        n = len(inputs)
        if self._table is None:
            self._table = _entropy_table()
        cols = []
        for j, x in _planes(inputs):
            e, ctx, centre, log_scale = _split(self.network(x, j), x)
            cost = -_log_probs(e, centre, log_scale)
            expected = _expected(self._table, centre, log_scale)
            gap = ((cost - expected) / math.log(2)).reshape(n, -1)
            sbin = torch.bucketize(log_scale / math.log(2), torch.tensor(SCALE_EDGES))
            for codes, k in ((ctx, len(EDGES) + 1), (sbin, len(SCALE_EDGES) + 1)):
                flat = codes.reshape(n, -1) + (torch.arange(n) * k)[:, None]
                sums = torch.bincount(flat.ravel(), weights=gap.ravel().double(), minlength=n * k).reshape(n, k)
                hits = torch.bincount(flat.ravel(), minlength=n * k).reshape(n, k)
                cols.append(sums / hits.clamp(min=1))
            cols.append(gap.double().mean(dim=1, keepdim=True))
        return torch.cat(cols, dim=1).float().numpy()

    def loss(self, x: torch.Tensor, scale: int) -> torch.Tensor:
        """Mean coding cost (nats per pixel) of integer planes x (B, 1, s, s) at scale index `scale`."""
        e, _, centre, log_scale = _split(self.network(x, scale), x)
        return -_log_probs(e, centre, log_scale).mean()

    @classmethod
    def learn(cls, inputs: np.ndarray, rows: np.ndarray, *, steps: int = 2000, batch: int = 32, lr: float = 2e-3,
              seed: int = 0, checkpoint: str | Path | None = None, log=None, **kwargs) -> "CoderWitness":
        """Train the coder on one random patch of `batch` random faces of `rows` per step (real faces only;
        (N, P, S, S, 3) uint8 `inputs`), Adam with a cosine schedule; resumes from `checkpoint` if it is there.
        `kwargs`: the witness's spec and name."""
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        w = cls(**kwargs)
        opt = torch.optim.Adam(w.network.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5 * (1 + math.cos(math.pi * t / steps)))
        start = 0
        if checkpoint is not None and Path(checkpoint).exists():
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
            w.network.load_state_dict(state["network"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["schedule"])
            start, rng = int(state["step"]), np.random.default_rng([seed, int(state["step"])])
        w.network.train()
        rows = np.asarray(rows)
        for step in range(start, steps):
            pick = np.sort(rng.choice(rows, batch, replace=len(rows) < batch))
            patch = rng.integers(inputs.shape[1], size=batch)
            x = np.stack([inputs[r, p] for r, p in zip(pick, patch)])[:, None]
            total = sum(w.loss(plane, j) for j, plane in _planes(x)) / len(SCALES)
            opt.zero_grad()
            total.backward()
            opt.step()
            sched.step()
            if log is not None and (step + 1) % 50 == 0:
                log(f"step {step + 1}/{steps}: {total.item() / math.log(2):.4f} bits/pixel")
            if checkpoint is not None and ((step + 1) % 200 == 0 or step + 1 == steps):
                torch.save({"network": w.network.state_dict(), "optimizer": opt.state_dict(), "schedule": sched.state_dict(),
                            "step": step + 1}, checkpoint)
        w.network.eval()
        return w

    train_options = {"coder_steps": 2000}

    @classmethod
    def training_builder(cls, *, coder_steps: int = 2000, seed: int = 0, **_):
        """Train the coder on the run's training-split faces as they are (never a fake), checkpointed in the run's
        work folder every 200 steps and resumed with the run."""

        def build(run) -> "CoderWitness":
            checkpoint = run.work / "coder.ckpt"
            if not run.resume:
                checkpoint.unlink(missing_ok=True)
            run.checkpoints.append(checkpoint)
            rows = np.flatnonzero(run.faces.split == "train")
            return cls.learn(run.inputs(PATCHES), rows, steps=coder_steps, seed=seed, checkpoint=checkpoint, log=run.log)

        return build

    def config(self) -> dict:
        return {"kind": self.kind, "spec": self.spec.to_dict(), "channels": CHANNELS, "scales": list(SCALES), "clip": T}

    def save(self, path: str | Path) -> None:
        save_state(self.network, path)

    @classmethod
    def load(cls, path: str | Path, config: dict, *, name: str | None = None, device: str = "cpu") -> "CoderWitness":
        """Rebuild from the manifest's `config` and the weights at `path` (weights_only=True)."""
        try:
            spec = spec_from_dict(config["spec"])
            if config.get("channels") != CHANNELS or config.get("scales") != list(SCALES) or config.get("clip") != T:
                raise ValueError("the manifest describes another coder")
        except (KeyError, TypeError, ValueError) as exc:
            raise WeightsError(f"{path}: cannot load the coder witness ({exc})") from None
        return cls(load_state(path, CausalCoder, "coder"), spec=spec, name=cls.kind if name is None else name)

"""The trace witness: native-resolution patches of the face through fixed high-pass filters and a small CNN.

It never resizes the face: the pixel-level correlations that a camera (demosaicing, sensor noise) or a
generator's decoder (periodic up-sampling traces) leaves survive only at the image's own resolution.
Trained on photographs only (`train/trace_loop.py`: real patches against re-rendered copies with the
same processing history); a face's features are the mean of its patches' embeddings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...errors import ConfigError, WeightsError
from .base import PatchSpec, Witness, spec_from_dict
from .networks import embed_batches, load_state, resolve_device, save_state, to_tensor

MAX_LAYERS = 16


def srm_kernels() -> torch.Tensor:
    """Four fixed SRM high-pass kernels (5x5): KV 5x5, KV 3x3, second order horizontal and vertical."""
    kv5 = torch.tensor([[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2], [2, -6, 8, -6, 2],
                        [-1, 2, -2, 2, -1]], dtype=torch.float32) / 12
    kv3 = torch.zeros(5, 5)
    kv3[1:4, 1:4] = torch.tensor([[-1, 2, -1], [2, -4, 2], [-1, 2, -1]], dtype=torch.float32) / 4
    h2 = torch.zeros(5, 5)
    h2[2, 1:4] = torch.tensor([1, -2, 1], dtype=torch.float32) / 2
    return torch.stack([kv5, kv3, h2, h2.T])


class SRMFilter(nn.Module):
    """Apply each SRM kernel to each colour channel (pixel units), truncated at +-`clip`, scaled to [-1, 1]."""

    def __init__(self, clip: float = 6.0):
        super().__init__()
        k = srm_kernels()
        self.register_buffer("weight", k.repeat(3, 1, 1).unsqueeze(1), persistent=False)  # (12, 1, 5, 5)
        self.clip = float(clip)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (N, 3, S, S) in [0, 255]; channel c's four residuals are outputs 4c..4c+3.
        x = x.repeat_interleave(4, dim=1)
        r = nn.functional.conv2d(x, self.weight, padding=2, groups=12)
        return r.clamp(-self.clip, self.clip) / self.clip


def _conv(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class TraceNet(nn.Module):
    """SRM residuals -> a plain CNN (full resolution first, then stride 2) -> mean/std pooling -> embedding.

    Parameters
    ----------
    widths : channels per stage; the first stage keeps full resolution, each next halves it.
    embed_dim : size of the embedding the mixture models.
    """

    def __init__(self, widths: tuple[int, ...] = (24, 48, 96, 128), embed_dim: int = 128):
        super().__init__()
        self.widths, self.embed_dim = tuple(int(w) for w in widths), int(embed_dim)
        self.srm = SRMFilter()
        layers, c_in = [], 12
        for i, width in enumerate(self.widths):
            layers += [_conv(c_in, width, 1 if i == 0 else 2), _conv(width, width, 1)]
            c_in = width
        self.features = nn.Sequential(*layers)
        self.project = nn.Sequential(nn.Linear(2 * c_in, embed_dim), nn.BatchNorm1d(embed_dim))
        self.head = nn.Linear(embed_dim, 1)

    def config(self) -> dict:
        return {"widths": list(self.widths), "embed_dim": self.embed_dim}

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) pixels in [0, 255] -> (N, embed_dim)."""
        maps = self.features(self.srm(x)).flatten(2)
        return self.project(torch.cat([maps.mean(dim=2), maps.std(dim=2, unbiased=False)], dim=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (embedding, re-rendered logit (N,))."""
        z = self.embed(x)
        return z, self.head(torch.relu(z)).squeeze(1)


class TraceWitness(Witness):
    """Native-resolution patches -> TraceNet embeddings, averaged over a face's patches."""

    kind = "trace"
    summary = "a CNN trained to tell real patches from re-rendered copies, at the image's own resolution"

    def __init__(self, network: TraceNet, *, spec: PatchSpec = PatchSpec(), name: str = "trace",
                 device: str = "cpu", batch_size: int = 256):
        self.network, self.spec, self.name = network, spec, name
        self.device, self.batch_size = device, batch_size

    def embed_patches(self, patches: np.ndarray) -> np.ndarray:
        """Embeddings (N, embed_dim) float32 of single patches (N, S, S, 3) uint8."""
        return embed_batches(self.network, patches, device=self.device, batch_size=self.batch_size, convert=to_tensor)

    def transform(self, inputs: np.ndarray) -> np.ndarray:
        """Features (N, embed_dim) float32: the mean embedding of each face's patches (N, P, S, S, 3) uint8."""
        inputs = np.asarray(inputs)
        if inputs.ndim != 5 or inputs.shape[2:] != self.spec.shape[1:]:
            raise ConfigError(f"trace inputs have shape {inputs.shape}; expected (N, P, {self.spec.size}, {self.spec.size}, 3)")
        n, p = inputs.shape[:2]
        return self.embed_patches(inputs.reshape(n * p, *inputs.shape[2:])).reshape(n, p, -1).mean(axis=1)

    def config(self) -> dict:
        return {"kind": self.kind, "spec": self.spec.to_dict(), "network": self.network.config()}

    # Trained on real patches against their re-rendered copies, `trace_steps` steps.
    trainer = "facecheck.train.trace_loop:trace_builder"
    train_options = {"trace_steps": 2500}

    def save(self, path: str | Path) -> None:
        save_state(self.network, path)

    @classmethod
    def load(cls, path: str | Path, config: dict, *, name: str = "trace", device: str = "cpu") -> "TraceWitness":
        """Rebuild from `config` and weights (weights_only=True); shapes are checked before anything is built."""
        resolve_device(device)
        try:
            spec = spec_from_dict(config["spec"])
            if not isinstance(spec, PatchSpec) or not 8 <= spec.size <= 512 or not 1 <= spec.grid <= 8 or not 0 < spec.scale < 100:
                raise ValueError("the trace witness needs a patch spec (8-512 px, grid 1-8)")
            net = config["network"]
            if len(net["widths"]) > MAX_LAYERS or max(net["widths"]) > 4096 or int(net["embed_dim"]) > 4096:
                raise ValueError("network too large")
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise WeightsError(f"{path}: cannot load trace witness weights ({exc})") from None
        return cls(load_state(path, lambda: TraceNet(**net), "trace witness"), spec=spec, name=name, device=device)

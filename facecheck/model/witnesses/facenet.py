"""FaceNet in torch: the appearance witness's network as it is trained (`train/loop.py`), and its extractor.

Scanning never needs this module: the appearance witness runs the trained network in numpy
(`appearance.py`). It serves training, fine-tuning, and bundles whose weights are torch files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...errors import ConfigError, WeightsError
from .layout import MAX_BLOCKS, block_layout, stem_width
from .networks import embed_batches, load_state, resolve_device, save_state, to_tensor

N_EXIF_TAGS = 4


class _Block(nn.Module):
    """Basic residual block: two 3x3 convolutions, projection shortcut when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class FaceNet(nn.Module):
    """Residual CNN mapping face crops to an embedding, with EXIF-ranking and manipulation heads.

    Unlike ImageNet ResNets the stem keeps full resolution for one convolution and never
    max-pools, so the high-frequency traces a camera leaves survive into the first stage.
    The embedding pools each final channel by its mean and its standard deviation (texture
    and noise level), then projects to `embed_dim`.

    Parameters
    ----------
    widths : channels of the four stages.
    blocks : residual blocks per stage.
    embed_dim : size of the embedding the GMM models.
    """

    def __init__(
        self,
        widths: tuple[int, ...] = (32, 64, 128, 256),
        blocks: tuple[int, ...] = (1, 2, 2, 2),
        embed_dim: int = 256,
    ):
        super().__init__()
        self.widths, self.blocks, self.embed_dim = tuple(widths), tuple(blocks), int(embed_dim)
        stem = stem_width(widths)
        self.stem = nn.Sequential(
            nn.Conv2d(3, stem, 3, 1, 1, bias=False),
            nn.BatchNorm2d(stem),
            nn.ReLU(inplace=True),
            nn.Conv2d(stem, widths[0], 3, 2, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        layout = block_layout(widths, blocks)
        self.stages = nn.Sequential(*(_Block(c_in, c_out, stride) for c_in, c_out, stride in layout))
        c_out = layout[-1][1] if layout else widths[0]
        self.project = nn.Sequential(nn.Linear(2 * c_out, embed_dim), nn.BatchNorm1d(embed_dim))
        self.exif_head = nn.Linear(embed_dim, N_EXIF_TAGS)
        self.manipulation_head = nn.Linear(embed_dim, 1)

    def config(self) -> dict:
        """Constructor arguments, stored in a bundle's manifest to rebuild the network."""
        return {"widths": list(self.widths), "blocks": list(self.blocks), "embed_dim": self.embed_dim}

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Map normalised images (N, 3, S, S) to embeddings (N, embed_dim)."""
        maps = self.stages(self.stem(x)).flatten(2)
        pooled = torch.cat([maps.mean(dim=2), maps.std(dim=2, unbiased=False)], dim=1)
        return self.project(pooled)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return (embedding, EXIF scores (N, 4), manipulation logit (N,))."""
        z = self.embed(x)
        return z, self.exif_head(torch.relu(z)), self.manipulation_head(torch.relu(z)).squeeze(1)


class FeatureExtractor:
    """A FaceNet with its input normalisation; `transform` maps uint8 crops to features.

    Parameters
    ----------
    network : the FaceNet (trained weights, or fresh for training).
    input_size : side of the square crops, in pixels.
    mean, std : per-channel normalisation of [0, 1] pixel values.
    """

    def __init__(
        self,
        network: FaceNet,
        *,
        input_size: int = 128,
        mean: tuple[float, float, float] = (0.5, 0.5, 0.5),
        std: tuple[float, float, float] = (0.5, 0.5, 0.5),
        device: str = "cpu",
        batch_size: int = 64,
    ):
        self.network = network
        self.input_size = int(input_size)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.device = device
        self.batch_size = batch_size

    def to_tensor(self, crops: np.ndarray, device: torch.device | str | None = None) -> torch.Tensor:
        """Normalise (N, S, S, 3) uint8 crops into an (N, 3, S, S) float tensor on the device."""
        crops = np.asarray(crops)
        if crops.ndim != 4 or crops.shape[1:] != (self.input_size, self.input_size, 3):
            raise ConfigError(
                f"crops have shape {crops.shape}; expected (N, {self.input_size}, {self.input_size}, 3)"
            )
        return to_tensor(crops, resolve_device(self.device) if device is None else device, mean=self.mean, std=self.std)

    def transform(self, crops: np.ndarray) -> np.ndarray:
        """Return features (N, embed_dim) float32 of crops (N, S, S, 3) uint8."""
        return embed_batches(self.network, np.asarray(crops), device=self.device, batch_size=self.batch_size,
                             convert=self.to_tensor)

    def config(self) -> dict:
        """Everything besides the weights needed to rebuild this extractor."""
        return {
            "architecture": "FaceNet",
            "network": self.network.config(),
            "input_size": self.input_size,
            "mean": list(self.mean),
            "std": list(self.std),
        }

    def save(self, path: str | Path) -> None:
        """Write the network's state_dict (tensors only) to `path`."""
        save_state(self.network, path)

    @classmethod
    def load(cls, path: str | Path, config: dict, *, device: str = "cpu") -> "FeatureExtractor":
        """Rebuild from `config` and load weights with `weights_only=True` (no code runs).

        Raises ConfigError for an unusable `device` (checked before any weights are read).
        """
        resolve_device(device)
        if not isinstance(config, dict) or config.get("architecture") != "FaceNet":
            architecture = config.get("architecture") if isinstance(config, dict) else None
            raise WeightsError(f"{path}: unknown architecture {architecture!r}")
        try:
            if sum(config["network"]["blocks"]) > MAX_BLOCKS:
                raise ValueError(f"more than {MAX_BLOCKS} residual blocks")
            mean, std, size = tuple(config["mean"]), tuple(config["std"]), config["input_size"]
        except (KeyError, TypeError, ValueError) as exc:
            raise WeightsError(f"{path}: cannot load extractor weights ({exc})") from None
        network = load_state(path, lambda: FaceNet(**config["network"]), "extractor")
        return cls(network, input_size=size, mean=mean, std=std, device=device)

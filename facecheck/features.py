"""Turn face crops into feature vectors with the CNN extractor (batched torch inference)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from .errors import ConfigError, NotFittedError, WeightsError
from .network import FaceNet


def resolve_device(device: str) -> torch.device:
    """Return the torch device for "cpu" or "cuda"; asking for CUDA without one is an error, not a fallback."""
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ConfigError(f"device {device!r}: use 'cpu' or 'cuda'")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but no CUDA GPU is available; use --device cpu")
    return torch.device(device)


# More residual blocks than any sane FaceNet: refused before anything is built.
MAX_BLOCKS = 64


class FeatureExtractor:
    """Wrap a FaceNet with its input normalisation; `transform` maps uint8 crops to features.

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

    def to_tensor(self, crops: np.ndarray) -> torch.Tensor:
        """Normalise (N, S, S, 3) uint8 crops into an (N, 3, S, S) float tensor on the device."""
        crops = np.asarray(crops)
        if crops.ndim != 4 or crops.shape[1:] != (self.input_size, self.input_size, 3):
            raise ConfigError(
                f"crops have shape {crops.shape}; expected (N, {self.input_size}, {self.input_size}, 3)"
            )
        x = torch.from_numpy(np.ascontiguousarray(crops)).to(resolve_device(self.device))
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, 3, 1, 1)
        return ((x - mean) / std).contiguous(memory_format=torch.channels_last)

    @torch.inference_mode()
    def transform(self, crops: np.ndarray) -> np.ndarray:
        """Return features (N, embed_dim) float32 of crops (N, S, S, 3) uint8."""
        if self.network is None:
            raise NotFittedError("FeatureExtractor has no network; load a bundle first")
        n = len(crops)
        if n == 0:
            return np.zeros((0, self.network.embed_dim), dtype=np.float32)
        self.network.eval().to(resolve_device(self.device), memory_format=torch.channels_last)
        out = [
            self.network.embed(self.to_tensor(crops[i : i + self.batch_size])).float().cpu().numpy()
            for i in range(0, n, self.batch_size)
        ]
        return np.concatenate(out).astype(np.float32, copy=False)

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
        torch.save({k: v.detach().cpu() for k, v in self.network.state_dict().items()}, path)

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
            # weights_only: a pickle that would build other objects (or run code) is refused.
            state = torch.load(path, map_location="cpu", weights_only=True)
            # Check the manifest's network against the weights on the meta device (no memory) before
            # building it, so a forged manifest cannot make us allocate a huge network.
            with torch.device("meta"):
                expected = {k: tuple(v.shape) for k, v in FaceNet(**config["network"]).state_dict().items()}
            if not isinstance(state, dict) or expected != {k: tuple(getattr(v, "shape", ())) for k, v in state.items()}:
                raise ValueError("the weights do not match the network the manifest describes")
            network = FaceNet(**config["network"])
            network.load_state_dict(state)
            return cls(
                network,
                input_size=config["input_size"],
                mean=tuple(config["mean"]),
                std=tuple(config["std"]),
                device=device,
            )
        except pickle.UnpicklingError:
            raise WeightsError(f"{path}: not a plain tensor file (refused to unpickle it); the bundle is unsafe") from None
        # MemoryError / RecursionError: a crafted file (or network config) can claim any size or nesting.
        except (KeyError, TypeError, AttributeError, RuntimeError, ValueError, OSError, EOFError, MemoryError, RecursionError) as exc:
            reason = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
            raise WeightsError(f"{path}: cannot load extractor weights ({reason})") from None


def extract_features(crops: np.ndarray, extractor: FeatureExtractor) -> np.ndarray:
    """Return features (N, embed_dim) float32 of uint8 crops (N, S, S, 3)."""
    return extractor.transform(crops)

"""What the learned witnesses share: the device, uint8 inputs as tensors, batched embedding, the safe weights loader."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...errors import ConfigError, NotFittedError, WeightsError


def resolve_device(device: str) -> torch.device:
    """Return the torch device for "cpu" or "cuda"; asking for CUDA without one is an error, not a fallback."""
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ConfigError(f"device {device!r}: use 'cpu' or 'cuda'")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but no CUDA GPU is available; use --device cpu")
    return torch.device(device)


def to_tensor(images: np.ndarray, device: torch.device | str = "cpu", *, mean: tuple[float, ...] | None = None,
              std: tuple[float, ...] | None = None) -> torch.Tensor:
    """(N, S, S, 3) uint8 -> (N, 3, S, S) float32, channels_last: pixels in [0, 255], or with `mean` and `std`
    the [0, 1] values normalised per channel."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float()
    if mean is not None:
        x = (x.div_(255.0) - torch.tensor(mean, device=x.device).view(1, 3, 1, 1)) / torch.tensor(std, device=x.device).view(1, 3, 1, 1)
    return x.contiguous(memory_format=torch.channels_last)


@torch.inference_mode()
def embed_batches(network: nn.Module | None, images: np.ndarray, *, device: str, batch_size: int,
                  convert: Callable[[np.ndarray, torch.device], torch.Tensor]) -> np.ndarray:
    """`network.embed` of uint8 images (N, S, S, 3) in batches: (N, network.embed_dim) float32."""
    if network is None:
        raise NotFittedError("the witness has no network; load a bundle first")
    dev = resolve_device(device)
    if len(images) == 0:
        return np.zeros((0, network.embed_dim), np.float32)
    network.eval().to(dev, memory_format=torch.channels_last)
    out = [network.embed(convert(images[i : i + batch_size], dev)).float().cpu().numpy()
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out).astype(np.float32, copy=False)


def save_state(network: nn.Module, path: str | Path) -> None:
    """Write the network's state_dict (tensors only) to `path`."""
    torch.save({k: v.detach().cpu() for k, v in network.state_dict().items()}, path)


def load_state(path: str | Path, build: Callable[[], nn.Module], what: str) -> nn.Module:
    """`build()` with the weights at `path` (weights_only=True: no pickle that builds objects or runs code).

    The shapes are checked against `build()` on the meta device first (no memory), so a forged manifest
    cannot make us allocate a huge network. Raises WeightsError naming `path` and `what` it held.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in build().state_dict().items()}
        if not isinstance(state, dict) or expected != {k: tuple(getattr(v, "shape", ())) for k, v in state.items()}:
            raise ValueError("the weights do not match the network the manifest describes")
        network = build()
        network.load_state_dict(state)
        return network
    except pickle.UnpicklingError:
        raise WeightsError(f"{path}: not a plain tensor file (refused to unpickle it); the bundle is unsafe") from None
    # MemoryError / RecursionError: a crafted file (or network config) can claim any size or nesting.
    except (KeyError, TypeError, AttributeError, RuntimeError, ValueError, OSError, EOFError, MemoryError, RecursionError) as exc:
        reason = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise WeightsError(f"{path}: cannot load {what} weights ({reason})") from None

"""The appearance witness: the face's enlarged box resized to a square crop, through FaceNet.

FaceNet is a compact residual CNN trained self-supervised on photographs (EXIF ranking and face
manipulations; `facenet.py` is its torch form, `train/loop.py` trains it). Scanning runs the trained
network here in numpy, its batch norms folded into the convolutions, so that a scan never imports
torch (about a second of every start-up); weights are a plain .npz of the torch state_dict's arrays.
The crop is what facecheck 0.2.0 scored, so a "facecheck-bundle/1" bundle is one appearance witness.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ...errors import ConfigError, WeightsError
from ...scan.inputs import CROP_SCALE, CropSpec, spec_from_dict
from ...scan.workers import one_thread
from .base import Witness
from .layout import MAX_BLOCKS, MAX_WIDTH, block_layout, state_shapes

MAX_INPUT_SIZE = 1024
_EPS = 1e-5  # torch's BatchNorm default
# Faces per product: the fastest on one thread (measured); with BLAS on one thread, a face's features depend
# neither on its batch nor on the caller's thread count.
_BATCH = 1


def _folded(state: dict, conv: str, bn: str) -> tuple[np.ndarray, np.ndarray]:
    """A convolution and the batch norm after it as one (k*k*c_in, c_out) matrix and a bias (eval mode)."""
    w = state[f"{conv}.weight"].astype(np.float32)
    scale = state[f"{bn}.weight"] / np.sqrt(state[f"{bn}.running_var"] + _EPS)
    bias = state[f"{bn}.bias"] - state[f"{bn}.running_mean"] * scale
    o, c, k, _ = w.shape
    return (w * scale[:, None, None, None]).transpose(2, 3, 1, 0).reshape(k * k * c, o).astype(np.float32), bias.astype(np.float32)


def _conv(x: np.ndarray, layer: tuple[np.ndarray, np.ndarray, int, int]) -> np.ndarray:
    """(N, H, W, C) float32 through a k x k convolution (padding k // 2) as one matrix product (im2col)."""
    matrix, bias, k, stride = layer
    if k > 1:
        x = np.pad(x, ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
    n, h, w, c = x.shape
    ho, wo = (h - k) // stride + 1, (w - k) // stride + 1
    sn, sh, sw, sc = x.strides
    cols = np.lib.stride_tricks.as_strided(x, (n, ho, wo, k, k, c), (sn, sh * stride, sw * stride, sh, sw, sc), writeable=False)
    return (cols.reshape(n * ho * wo, k * k * c) @ matrix + bias).reshape(n, ho, wo, -1)


class FaceNetArrays:
    """FaceNet's embedding in numpy (eval mode): what the appearance witness scans with.

    Parameters
    ----------
    state : the torch state_dict as numpy arrays (as `state_shapes` lists them).
    config : the extractor's configuration ({"architecture": "FaceNet", "network", "input_size", "mean", "std"}).
    """

    def __init__(self, state: dict[str, np.ndarray], config: dict):
        self.state, self.extractor_config = state, config
        net = config["network"]
        self.input_size, self.embed_dim = int(config["input_size"]), int(net["embed_dim"])
        self.mean = np.asarray(config["mean"], np.float32)
        self.std = np.asarray(config["std"], np.float32)
        self._stem = [(*_folded(state, "stem.0", "stem.1"), 3, 1), (*_folded(state, "stem.3", "stem.4"), 3, 2)]
        self._blocks = []
        for i, (c_in, width, stride) in enumerate(block_layout(net["widths"], net["blocks"])):
            p = f"stages.{i}"
            short = (*_folded(state, f"{p}.shortcut.0", f"{p}.shortcut.1"), 1, stride) if stride != 1 or c_in != width else None
            self._blocks.append(((*_folded(state, f"{p}.conv1", f"{p}.bn1"), 3, stride),
                                 (*_folded(state, f"{p}.conv2", f"{p}.bn2"), 3, 1), short))
        scale = state["project.1.weight"] / np.sqrt(state["project.1.running_var"] + _EPS)
        self._project = ((state["project.0.weight"].T * scale).astype(np.float32),
                         ((state["project.0.bias"] - state["project.1.running_mean"]) * scale + state["project.1.bias"]).astype(np.float32))

    def transform(self, crops: np.ndarray) -> np.ndarray:
        """Features (N, embed_dim) float32 of crops (N, S, S, 3) uint8, one face at a time."""
        crops = np.asarray(crops)
        if crops.ndim != 4 or crops.shape[1:] != (self.input_size, self.input_size, 3):
            raise ConfigError(f"crops have shape {crops.shape}; expected (N, {self.input_size}, {self.input_size}, 3)")
        if len(crops) == 0:
            return np.zeros((0, self.embed_dim), np.float32)
        with one_thread():
            return np.concatenate([self._embed(crops[i : i + _BATCH]) for i in range(0, len(crops), _BATCH)])

    def _embed(self, crops: np.ndarray) -> np.ndarray:
        x = (crops.astype(np.float32) / np.float32(255.0) - self.mean) / self.std
        for layer in self._stem:
            x = np.maximum(_conv(x, layer), 0)
        for first, second, short in self._blocks:
            out = _conv(np.maximum(_conv(x, first), 0), second)
            x = np.maximum(out + (x if short is None else _conv(x, short)), 0)
        maps = x.reshape(len(x), -1, x.shape[-1])
        pooled = np.concatenate([maps.mean(axis=1), maps.std(axis=1)], axis=1)
        return (pooled @ self._project[0] + self._project[1]).astype(np.float32)

    def save(self, path: str | Path) -> None:
        """Write the state's arrays to `path` (.npz, no pickle)."""
        with open(path, "wb") as f:
            np.savez(f, **self.state)

    @classmethod
    def load(cls, path: str | Path, config: dict) -> "FaceNetArrays":
        """Rebuild from `config` and the .npz at `path` (allow_pickle=False); every key and shape is checked
        against the network `config` describes before anything is computed."""
        try:
            if not isinstance(config, dict) or config.get("architecture") != "FaceNet":
                raise ValueError(f"unknown architecture {config.get('architecture') if isinstance(config, dict) else None!r}")
            expected = _expected(config)
            with np.load(path, allow_pickle=False) as z:
                if set(z.files) != set(expected):
                    raise ValueError("the weights do not match the network the manifest describes")
                state = {}
                for key, shape in expected.items():
                    a = z[key]
                    if a.shape != shape or a.dtype.kind not in "fi":
                        raise ValueError(f"{key} has shape {a.shape} ({a.dtype}); the network needs {shape}")
                    state[key] = a
            if not all(np.isfinite(a).all() for a in state.values()):
                raise ValueError("the weights are not all finite")
            return cls(state, config)
        except (KeyError, TypeError, ValueError, OSError, EOFError, MemoryError, RecursionError, zipfile.BadZipFile) as exc:
            raise WeightsError(f"{path}: cannot load extractor weights ({exc})") from None


def _expected(config: dict) -> dict[str, tuple]:
    """The state shapes of the network `config` describes; ValueError for one too large to build."""
    net = config["network"]
    widths, blocks, embed_dim = tuple(int(w) for w in net["widths"]), tuple(int(b) for b in net["blocks"]), int(net["embed_dim"])
    if len(widths) != len(blocks) or not widths or sum(blocks) > MAX_BLOCKS or max(widths) > MAX_WIDTH or not 0 < embed_dim <= MAX_WIDTH:
        raise ValueError(f"network {net} is not a FaceNet this facecheck builds (at most {MAX_BLOCKS} blocks, {MAX_WIDTH} channels)")
    if len(config["mean"]) != 3 or len(config["std"]) != 3 or not all(float(s) > 0 for s in config["std"]):
        raise ValueError("mean and std need three channels (std > 0)")
    return state_shapes(widths, blocks, embed_dim)


class AppearanceWitness(Witness):
    """FaceNet on the crop it sees (`CropSpec(size=input_size, scale)`).

    Parameters
    ----------
    network : the trained FaceNet, as FaceNetArrays (or a torch `facenet.FeatureExtractor`, converted).
    name : key of its log-likelihood in results and in the bundle.
    scale : how much the detector's box is enlarged before the crop is resized.
    device : "cpu" runs the numpy network; "cuda" runs the torch one on the GPU (no silent fallback).
    """

    kind = "appearance"
    summary = "a CNN on the face resized to a small crop, self-supervised on camera photos (EXIF ranking, face manipulation)"
    file_suffix = ".weights.npz"
    # Trained on the pretext tasks (EXIF ranking, face manipulation).
    trainer = "facecheck.train.pipeline:appearance_builder"

    def __init__(self, network, *, name: str = "appearance", scale: float = CROP_SCALE, device: str = "cpu"):
        if not isinstance(network, FaceNetArrays):  # a torch FeatureExtractor, fresh from training
            state = {k: v.detach().cpu().numpy() for k, v in network.network.state_dict().items()}
            network = FaceNetArrays(state, network.config())
        self.network, self.name, self.device = network, name, device
        self.spec = CropSpec(size=network.input_size, scale=float(scale))
        self._torch = None

    def transform(self, inputs: np.ndarray) -> np.ndarray:
        """Features (N, embed_dim) float32 of crops (N, size, size, 3) uint8."""
        if self.device == "cpu":
            return self.network.transform(inputs)
        return self.extractor().transform(inputs)

    def extractor(self):
        """The torch FeatureExtractor of the same weights (imports torch): for fine-tuning and GPUs; built once."""
        if self._torch is None:
            import torch

            from .facenet import FaceNet, FeatureExtractor

            c = self.network.extractor_config
            net = FaceNet(**c["network"])
            net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in self.network.state.items()})
            self._torch = FeatureExtractor(net, input_size=c["input_size"], mean=tuple(c["mean"]), std=tuple(c["std"]),
                                           device=self.device)
        return self._torch

    def config(self) -> dict:
        return {"kind": self.kind, "spec": self.spec.to_dict(), "extractor": self.network.extractor_config}

    def save(self, path: str | Path) -> None:
        self.network.save(path)

    @classmethod
    def load(cls, path: str | Path, config: dict, *, name: str = "appearance", device: str = "cpu") -> "AppearanceWitness":
        """Rebuild from `config` and the weights at `path`: a .npz (no pickle), or the torch state_dict of
        older bundles (.pt, read with weights_only=True; needs torch)."""
        if device != "cpu":
            try:
                from .networks import resolve_device
            except ImportError:
                raise ConfigError(f"device {device!r} needs torch, which is not installed (pip install 'facecheck[train]'); "
                                  "without it facecheck runs on the CPU (--device cpu)") from None
            resolve_device(device)  # ConfigError for a device this machine lacks, before any weights are read
        try:
            spec = spec_from_dict(config["spec"])
            if not isinstance(spec, CropSpec) or not 8 <= spec.size <= MAX_INPUT_SIZE or not 0 < spec.scale < 100:
                raise ValueError(f"needs a crop of 8-{MAX_INPUT_SIZE} px and a scale between 0 and 100, got {spec}")
            if config["extractor"]["input_size"] != spec.size:
                raise ValueError("the crop size and the extractor's input size differ")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise WeightsError(f"{path}: unusable appearance witness configuration ({exc})") from None
        if Path(path).suffix == ".pt":
            try:
                from .facenet import FeatureExtractor
            except ImportError:
                raise WeightsError(f"{path}: this bundle (facecheck 0.6 or older) keeps its weights as a torch file, and "
                                   "torch is not installed: pip install 'facecheck[train]' to read it") from None
            return cls(FeatureExtractor.load(path, config["extractor"]), name=name, scale=spec.scale, device=device)
        return cls(FaceNetArrays.load(path, config["extractor"]), name=name, scale=spec.scale, device=device)

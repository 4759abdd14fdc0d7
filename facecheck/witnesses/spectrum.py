"""The spectrum witness: where the energy of a face's high-pass residual lies, at the image's own resolution.

Up-sampling decoders leave peaks in the residual's spectrum at fractions of the sampling frequency
(1/2, 1/4, 1/8); cameras leave a smooth, noise-like spectrum. No network: the features are the log
power of the patches' residual (KV 3x3 filter on luminance) averaged in `bins` x `bins` frequency
cells, so the witness needs no training, only its mixture of real faces.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import ConfigError, WeightsError
from .base import PatchSpec, Witness, spec_from_dict

_KV3 = np.array([[-1, 2, -1], [2, -4, 2], [-1, 2, -1]], np.float32) / 4


class SpectrumWitness(Witness):
    """Log power spectrum of the native-resolution residual, pooled into frequency cells."""

    kind = "spectrum"

    def __init__(self, *, spec: PatchSpec = PatchSpec(), bins: int = 16, name: str = "spectrum"):
        if spec.size % bins:
            raise ConfigError(f"patch size {spec.size} is not a multiple of {bins} frequency bins")
        self.spec, self.bins, self.name = spec, int(bins), name

    def transform(self, inputs: np.ndarray) -> np.ndarray:
        """Features (N, bins * (bins // 2 + 1)) float32 of each face's patches (N, P, S, S, 3) uint8."""
        inputs = np.asarray(inputs)
        if inputs.ndim != 5 or inputs.shape[2:] != self.spec.shape[1:]:
            raise ConfigError(f"spectrum inputs have shape {inputs.shape}; expected (N, P, {self.spec.size}, {self.spec.size}, 3)")
        n, p, s = inputs.shape[:3]
        if n == 0:
            return np.zeros((0, self.bins * (self.bins // 2 + 1)), np.float32)
        luma = inputs.reshape(n * p, s, s, 3).astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        resid = np.stack([cv2.filter2D(x, -1, _KV3, borderType=cv2.BORDER_REFLECT) for x in luma])
        resid -= resid.mean(axis=(1, 2), keepdims=True)
        power = np.abs(np.fft.rfft2(resid * np.hanning(s)[:, None] * np.hanning(s)[None, :])) ** 2
        power = np.fft.fftshift(power, axes=1)  # rows: frequency -1/2..1/2 after shift; cols: 0..1/2
        cell = s // self.bins
        cols = power.shape[2]  # s // 2 + 1
        # Pool rows into `bins` cells; columns into bins // 2 + 1 cells (the last holds the Nyquist column).
        rows = power[:, : self.bins * cell].reshape(n * p, self.bins, cell, cols).mean(axis=2)
        edges = np.linspace(0, cols, self.bins // 2 + 2).astype(int)
        pooled = np.stack([rows[:, :, a:b].mean(axis=2) for a, b in zip(edges[:-1], edges[1:])], axis=2)
        feats = np.log(pooled.reshape(n, p, -1).mean(axis=1) + 1e-3)
        # Relative spectrum: the overall noise level is a matter of ISO and JPEG, the shape is the trace.
        return (feats - feats.mean(axis=1, keepdims=True)).astype(np.float32)

    def config(self) -> dict:
        return {"kind": self.kind, "spec": self.spec.to_dict(), "bins": self.bins}

    def save(self, path: str | Path) -> None:
        """Nothing to learn: the file records the configuration, so every witness has one."""
        np.savez(path, bins=np.array(self.bins))

    @classmethod
    def load(cls, path: str | Path, config: dict, *, name: str = "spectrum", device: str = "cpu") -> "SpectrumWitness":
        try:
            spec = spec_from_dict(config["spec"])
            bins = int(config["bins"])
            if not isinstance(spec, PatchSpec) or not 8 <= spec.size <= 512 or not 2 <= bins <= 64:
                raise ValueError("the spectrum witness needs a patch spec of 8-512 px and 2-64 bins")
            with np.load(path, allow_pickle=False) as data:
                if int(data["bins"]) != bins:
                    raise ValueError("the file does not match the manifest")
            return cls(spec=spec, bins=bins, name=name)
        except (KeyError, TypeError, ValueError, OSError, EOFError, ConfigError) as exc:
            raise WeightsError(f"{path}: cannot load the spectrum witness ({exc})") from None

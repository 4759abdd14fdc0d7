"""The spectrum witness: where the energy of a face's high-pass residual lies, at the image's own resolution.

Up-sampling decoders leave peaks in the residual's spectrum at fractions of the sampling frequency
(1/2, 1/4, 1/8); cameras leave a smooth, noise-like spectrum. No network: the features are the log
power of the patches' residual (KV 3x3 filter on luminance) averaged in `bins` x `bins` frequency
cells, so the witness needs no training, only its mixture of real faces.
"""

from __future__ import annotations

import cv2
import numpy as np

from ...errors import ConfigError
from .base import LUMA, FixedWitness, PatchSpec

_KV3 = np.array([[-1, 2, -1], [2, -4, 2], [-1, 2, -1]], np.float32) / 4


class SpectrumWitness(FixedWitness):
    """Log power spectrum of the native-resolution residual, pooled into frequency cells."""

    kind = "spectrum"
    summary = "the power spectrum of the face's fine detail (high-pass residual) at the image's own resolution; nothing learned"
    label = "spectrum"

    def __init__(self, *, spec: PatchSpec = PatchSpec(), bins: int = 16, color: bool = True, name: str = "spectrum"):
        if spec.size % bins or bins % 2:
            raise ConfigError(f"patch size {spec.size} is not a multiple of {bins} (an even number of) frequency bins")
        self.spec, self.bins, self.color, self.name = spec, int(bins), bool(color), name

    @property
    def n_features(self) -> int:
        luma = self.bins * (self.bins // 2 + 1)
        return luma + (2 * (self.bins // 2) * (self.bins // 4 + 1) + 3 if self.color else 0)

    chunk = 256

    def features(self, inputs: np.ndarray) -> np.ndarray:
        """Features (n, n_features) float32 of a batch of faces' patches (n, P, S, S, 3) uint8.

        The luminance residual's relative log spectrum in bins x (bins / 2 + 1) cells; with `color`, also
        the two colour-difference residuals' spectra at half the resolution and the correlations between
        the R, G and B residuals (a camera's demosaicing ties its channels together; a decoder's
        convolutions tie them differently).
        """
        n, p, s = inputs.shape[:3]
        rgb = inputs.reshape(n * p, s, s, 3).astype(np.float32)
        resid = np.stack([cv2.filter2D(x, -1, _KV3, borderType=cv2.BORDER_REFLECT) for x in rgb])  # (M, S, S, 3)
        resid -= resid.mean(axis=(1, 2), keepdims=True)
        parts = [_relative_log_spectrum(resid @ LUMA, self.bins, n, p)]
        if self.color:
            for chroma in (resid[..., 0] - resid[..., 1], resid[..., 2] - resid[..., 1]):
                parts.append(_relative_log_spectrum(chroma, self.bins // 2, n, p))
            flat = resid.reshape(n, p * s * s, 3)
            cov = np.einsum("nkc,nkd->ncd", flat, flat)
            norm = np.sqrt(np.einsum("ncc->nc", cov)) + 1e-6
            corr = cov / norm[:, :, None] / norm[:, None, :]
            parts.append(np.arctanh(np.clip(corr[:, [0, 0, 1], [1, 2, 2]], -0.999, 0.999)))
        return np.concatenate(parts, axis=1).astype(np.float32)

    def params(self) -> dict:
        return {"bins": self.bins, "color": self.color}

    @classmethod
    def from_config(cls, spec: PatchSpec, config: dict, name: str) -> "SpectrumWitness":
        bins = int(config["bins"])
        if not 2 <= bins <= 64:
            raise ValueError("the spectrum witness needs 2-64 bins")
        return cls(spec=spec, bins=bins, color=bool(config.get("color", False)), name=name)


def _relative_log_spectrum(resid: np.ndarray, bins: int, n: int, p: int) -> np.ndarray:
    """(n * p, S, S) residuals -> (n, bins * (bins / 2 + 1)) log power in frequency cells, mean over a face's
    patches, minus its mean (the overall noise level is a matter of ISO and JPEG; the shape is the trace)."""
    s = resid.shape[1]
    window = np.hanning(s)[:, None] * np.hanning(s)[None, :]
    power = np.fft.fftshift(np.abs(np.fft.rfft2(resid * window)) ** 2, axes=1)  # rows -1/2..1/2, cols 0..1/2
    cell, cols = s // bins, power.shape[2]
    rows = power[:, : bins * cell].reshape(len(power), bins, cell, cols).mean(axis=2)
    edges = np.linspace(0, cols, bins // 2 + 2).astype(int)
    pooled = np.stack([rows[:, :, a:b].mean(axis=2) for a, b in zip(edges[:-1], edges[1:])], axis=2)
    feats = np.log(pooled.reshape(n, p, -1).mean(axis=1) + 1e-3)
    return feats - feats.mean(axis=1, keepdims=True)

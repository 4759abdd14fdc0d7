"""The self-description witness: how well, and with what weights, a face's pixels are predicted from their neighbours.

After "forensic self-descriptions" (Nguyen, Azizpour and Stamm, CVPR 2025): an image is described by
the linear filters that best predict its own pixels from their neighbourhood, fitted by least squares
on that image alone, and by what those filters leave unexplained. A camera's demosaicing and a
decoder's up-sampling convolutions tie neighbours, and colour channels, by different rules. Their method
learns the filters' basis with a network; here the basis is the raw neighbourhood, so nothing is
trained: the features are per-face least-squares solutions, and the witness's mixture does the rest.

Features, from the native-resolution patches of the face (never resized):
- the 24 weights predicting each luminance pixel from its 5 x 5 neighbourhood, folded over point
  symmetry (12);
- the autocorrelation of that prediction's residual at six small lags, relative to its variance (6);
- the weights predicting R and B from the green channel's 3 x 3 neighbourhood and their own 4
  nearest neighbours (2 x 13), and each fit's share of unexplained variance (2).
"""

from __future__ import annotations

import numpy as np

from ...errors import ConfigError
from .base import LUMA, FixedWitness, PatchSpec

# 5 x 5 neighbourhood minus the centre, one of each point-symmetric pair (the other is its negation).
_HALF = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if (dy, dx) > (0, 0)]
_LAGS = ((0, 1), (1, 0), (1, 1), (1, -1), (0, 2), (2, 0))
_G3 = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
_N4 = ((0, 1), (0, -1), (1, 0), (-1, 0))
N_FEATURES = len(_HALF) + len(_LAGS) + 2 * (len(_G3) + len(_N4)) + 2


class SelfDescWitness(FixedWitness):
    """Per-face least-squares prediction filters of the native-resolution patches, and their residuals."""

    kind = "selfdesc"
    summary = "how well each pixel is predicted from its neighbours by filters fitted to the face itself; nothing learned"
    label = "self-description"

    def __init__(self, *, spec: PatchSpec = PatchSpec(size=64, grid=3, scale=1.0), name: str = "selfdesc"):
        if spec.size < 16:
            raise ConfigError(f"patch size {spec.size}: the self-description witness needs at least 16 px")
        self.spec, self.name = spec, name

    n_features = N_FEATURES

    chunk = 64

    def features(self, inputs: np.ndarray) -> np.ndarray:
        """(N, n_features) float32 of (N, P, S, S, 3) uint8 patches (see the module's docstring)."""
        rgb = inputs.astype(np.float32)
        luma = rgb @ LUMA  # (N, P, S, S)
        w, resid = _fit(luma, [_shift(luma, dy, dx) + _shift(luma, -dy, -dx) for dy, dx in _HALF], border=2)
        var = (resid**2).mean(axis=(1, 2, 3)) + 1e-6
        lags = [_lagged(resid, dy, dx) / var for dy, dx in _LAGS]
        parts = [w, np.stack(lags, axis=1)]
        g = rgb[..., 1]
        unexplained = []
        for c in (0, 2):
            x = rgb[..., c]
            wc, rc = _fit(x, [_shift(g, dy, dx) for dy, dx in _G3] + [_shift(x, dy, dx) for dy, dx in _N4], border=1)
            parts.append(wc)
            centred = x[..., 1:-1, 1:-1] - x[..., 1:-1, 1:-1].mean(axis=(1, 2, 3), keepdims=True)
            unexplained.append(np.log((rc**2).mean(axis=(1, 2, 3)) + 1e-6) - np.log((centred**2).mean(axis=(1, 2, 3)) + 1e-6))
        parts.append(np.stack(unexplained, axis=1))
        return np.concatenate(parts, axis=1).astype(np.float32)

    def params(self) -> dict:
        return {"n_features": self.n_features}

    @classmethod
    def from_config(cls, spec: PatchSpec, config: dict, name: str) -> "SelfDescWitness":
        return cls(spec=spec, name=name)


def _lagged(r: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """(N,) mean of r[i, j] * r[i + dy, j + dx] over each face's patches (N, P, H, W), dy >= 0."""
    h, w = r.shape[-2:]
    a = r[..., : h - dy, max(0, -dx) : w - max(0, dx)]
    b = r[..., dy:, max(0, dx) : w - max(0, -dx)]
    return (a * b).mean(axis=(1, 2, 3))


def _shift(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """x[..., i + dy, j + dx] for every (i, j), edges repeated (the border is cut before fitting)."""
    pad = max(abs(dy), abs(dx))
    p = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(pad, pad), (pad, pad)], mode="edge")
    h, w = x.shape[-2:]
    return p[..., pad + dy : pad + dy + h, pad + dx : pad + dx + w]


def _fit(target: np.ndarray, regressors: list[np.ndarray], *, border: int) -> tuple[np.ndarray, np.ndarray]:
    """Per face, least-squares weights (N, R) predicting `target` (N, P, S, S) from `regressors`, and the residual.

    Pixels within `border` of a patch edge are left out; target and regressors are centred per face;
    a small ridge keeps flat patches solvable.
    """
    crop = (Ellipsis, slice(border, -border), slice(border, -border))
    n = len(target)
    y = target[crop].reshape(n, -1)
    X = np.stack([r[crop].reshape(n, -1) for r in regressors], axis=1)  # (N, R, M)
    y = y - y.mean(axis=1, keepdims=True)
    X -= X.mean(axis=2, keepdims=True)
    gram = X @ X.transpose(0, 2, 1)
    ridge = 1e-3 * np.trace(gram, axis1=1, axis2=2)[:, None, None] / X.shape[1] + 1e-3
    w = np.linalg.solve(gram + ridge * np.eye(X.shape[1], dtype=gram.dtype), (X @ y[..., None]))[..., 0]
    resid = (y - (w[:, None, :] @ X)[:, 0]).reshape(target[crop].shape)
    return w, resid

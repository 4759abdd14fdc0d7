"""Nuisance statistics: what a detector must not be measuring (size, JPEG, sharpness), and scores controlled for them.

A one-class model of real faces flags whatever its real faces lacked. Six global statistics of an image
and its face describe most of that: pixel count, face size, the JPEG luminance quantiser of the file,
the variance of the Laplacian, and the shares of spectral energy above 0.25 and in 0.1-0.25
cycles/pixel. `controlled_scores` predicts a score from them among real images (k-nearest-neighbour
regression, cross-fitted) and returns the residual: what the score says beyond those statistics.
An AUC of the residual near 0.5 means the witness detects format, not generation.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

STAT_NAMES = ("log_pixels", "log_face", "jpeg_quant", "log_lap_var", "hf_share", "mf_share")
_SPECTRUM_SIDE = 512  # the spectral shares are read off a native-resolution centre crop of at most this side


def jpeg_quantiser(path: str | os.PathLike) -> float:
    """Mean of the file's JPEG luminance quantisation table (1 = quality 100; 0 for a file that is not a JPEG)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            tables = getattr(img, "quantization", None) or {}
            if img.format == "JPEG" and 0 in tables:
                return float(np.mean(tables[0]))
    except Exception:  # statistics of a benchmark never fail a file: an unreadable header counts as no JPEG
        pass
    return 0.0


def image_stats(image: np.ndarray, box: tuple[int, int, int, int], quantiser: float) -> np.ndarray:
    """(len(STAT_NAMES),) float64 statistics of an (H, W, 3) uint8 image, its face `box` (top, right, bottom, left)
    and its file's JPEG quantiser."""
    gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY).astype(np.float32)
    h, w = gray.shape
    top, right, bottom, left = box
    lap = float(cv2.Laplacian(gray, cv2.CV_32F).var())
    s = min(_SPECTRUM_SIDE, h, w)
    y, x = (h - s) // 2, (w - s) // 2
    crop = gray[y : y + s, x : x + s]
    power = np.abs(np.fft.fft2((crop - crop.mean()) * np.outer(np.hanning(s), np.hanning(s)))) ** 2
    f = np.fft.fftfreq(s)
    radius = np.hypot(f[:, None], f[None, :])
    total = float(power[radius > 0].sum()) + 1e-12
    return np.array([
        np.log(h * w), np.log(max(1, min(bottom - top, right - left))), quantiser, np.log1p(lap),
        float(power[radius > 0.25].sum()) / total, float(power[(radius > 0.1) & (radius <= 0.25)].sum()) / total,
    ])


def controlled_scores(real_scores: np.ndarray, real_stats: np.ndarray, other_scores: np.ndarray, other_stats: np.ndarray,
                      *, k: int = 25, folds: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Residuals of scores after a k-NN regression on nuisance statistics fitted among real images.

    Real images are predicted by the regressions of the other `folds` - 1 folds (cross-fitting, so a real
    image never predicts itself); other images by the mean of the fold regressions. Statistics are
    standardised on the real images. Returns (real residuals, other residuals).
    """
    from sklearn.neighbors import KNeighborsRegressor

    real_scores, other_scores = np.asarray(real_scores, float), np.asarray(other_scores, float)
    real_stats, other_stats = np.asarray(real_stats, float), np.asarray(other_stats, float)
    if len(real_scores) < 2 * folds:
        raise ValueError(f"nuisance control needs at least {2 * folds} real images, got {len(real_scores)}")
    mu, sd = real_stats.mean(axis=0), real_stats.std(axis=0)
    sd[sd == 0] = 1.0
    zr, zo = (real_stats - mu) / sd, (other_stats - mu) / sd
    fold = np.random.default_rng(seed).permutation(len(real_scores)) % folds
    real_pred, other_pred = np.empty(len(real_scores)), np.zeros(len(other_scores))
    for i in range(folds):
        fit = KNeighborsRegressor(n_neighbors=min(k, int((fold != i).sum()))).fit(zr[fold != i], real_scores[fold != i])
        real_pred[fold == i] = fit.predict(zr[fold == i])
        if len(other_scores):
            other_pred += fit.predict(zo) / folds
    return real_scores - real_pred, other_scores - other_pred

"""Simulated decoders: re-render a real image through up-sampling stages like a generator's.

Generators paint an image from a coarse latent with up-sampling layers (transposed convolutions,
nearest or pixel-shuffle up-sampling followed by convolutions), and their output is often rendered
larger and then downscaled. Each of those leaves periodic correlations between neighbouring pixels
that a camera does not. `rerender` keeps the content of a real image and replaces its pixel-level
traces with those of a random decoder; `matched_smooth` gives the real member of a pair the same
loss of detail through a classic resampler, so that softness alone cannot tell the two apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

UPSAMPLERS = ("nearest_conv", "transposed", "pixel_shuffle", "bilinear_conv")


@dataclass(frozen=True)
class Decoder:
    """A drawn decoder: `stages` x2 up-sampling steps of kind `upsampler`, rendered `render` times larger."""

    stages: int
    upsampler: str
    render: float
    seed: int


def random_decoder(rng: np.random.Generator) -> Decoder:
    """Draw 1-3 up-sampling stages of one kind, rendered at 1x (p 0.4), 1.5x, 2x or 4x and downscaled."""
    render = float(rng.choice([1.0, 1.0, 1.5, 2.0, 4.0]))
    return Decoder(int(rng.integers(1, 4)), UPSAMPLERS[int(rng.integers(len(UPSAMPLERS)))], render,
                   int(rng.integers(2**31)))


def latent_side(side: int, decoder: Decoder) -> int:
    """Side of the coarse image the decoder starts from, for an output of `side` pixels."""
    return max(4, round(side * decoder.render / 2**decoder.stages))


def rerender(image: np.ndarray, decoder: Decoder) -> np.ndarray:
    """Re-render an (H, W, 3) uint8 image through `decoder`; same shape, same content, a decoder's traces."""
    h, w = image.shape[:2]
    rng = np.random.default_rng(decoder.seed)
    lat_h, lat_w = latent_side(h, decoder), latent_side(w, decoder)
    x = cv2.resize(image, (lat_w, lat_h), interpolation=cv2.INTER_AREA).astype(np.float32)
    for _ in range(decoder.stages):
        x = _upsample2(x, decoder.upsampler, rng)
        x = _refine(x, rng)
    out = cv2.resize(x, (w, h), interpolation=cv2.INTER_AREA if x.shape[0] > h else cv2.INTER_LINEAR)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def matched_smooth(image: np.ndarray, decoder: Decoder, resampler: int = cv2.INTER_CUBIC) -> np.ndarray:
    """The same loss of detail as `rerender(image, decoder)`, through a classic resampler (no decoder traces)."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (latent_side(w, decoder), latent_side(h, decoder)), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=resampler)


def _phase_kernels(rng: np.random.Generator, size: int = 3, jitter: float = 0.15) -> list[np.ndarray]:
    """Four slightly different interpolation kernels, one per output phase of a x2 up-sampling."""
    out = []
    for _ in range(4):
        k = np.zeros((size, size), np.float32)
        k[size // 2, size // 2] = 1.0
        k = cv2.GaussianBlur(k, (size, size), rng.uniform(0.4, 0.9)) + rng.normal(0, jitter / size, (size, size))
        out.append((k / k.sum()).astype(np.float32))
    return out


def _upsample2(x: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """x2 up-sampling of a float (H, W, 3) image in the manner of one decoder layer."""
    h, w = x.shape[:2]
    if kind == "nearest_conv":
        return cv2.resize(x, (2 * w, 2 * h), interpolation=cv2.INTER_NEAREST)
    if kind == "bilinear_conv":
        return cv2.resize(x, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
    if kind == "transposed":
        # Zero insertion then a 4x4 kernel: the four phases see different taps (checkerboard traces).
        up = np.zeros((2 * h, 2 * w, 3), np.float32)
        up[::2, ::2] = x
        base = np.outer([1, 3, 3, 1], [1, 3, 3, 1]).astype(np.float32) / 16.0
        k = base * (1 + rng.normal(0, 0.25, (4, 4))).astype(np.float32)
        k *= 4.0 / k.sum()
        return cv2.filter2D(up, -1, k, borderType=cv2.BORDER_REFLECT)
    # pixel_shuffle: each output phase is its own convolution of the coarse image.
    up = np.empty((2 * h, 2 * w, 3), np.float32)
    for i, k in enumerate(_phase_kernels(rng)):
        up[i // 2 :: 2, i % 2 :: 2] = cv2.filter2D(x, -1, k, borderType=cv2.BORDER_REFLECT)
    return up


def _refine(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A decoder's convolution after up-sampling: a random near-identity 3x3 filter with a little sharpening."""
    k = np.zeros((3, 3), np.float32)
    k[1, 1] = 1.0
    k += rng.normal(0, 0.06, (3, 3)).astype(np.float32)
    k -= (k.sum() - 1.0) / 9.0
    return cv2.filter2D(x, -1, k, borderType=cv2.BORDER_REFLECT)

"""Simulated decoders keep an image's content and leave periodic up-sampling traces."""

from __future__ import annotations

import numpy as np
import pytest

from facecheck.train.rerender import UPSAMPLERS, Decoder, latent_side, matched_smooth, random_decoder, rerender


def _photo(size: int = 128) -> np.ndarray:
    """Smooth content plus sensor-like noise."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([120 + 80 * np.sin(6 * x + 3 * y), 110 + 60 * np.cos(5 * y), 100 + 50 * x], axis=2)
    return np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("kind", UPSAMPLERS)
def test_rerender_keeps_shape_and_content(kind):
    im = _photo()
    out = rerender(im, Decoder(2, kind, 1.0, seed=1))
    assert out.shape == im.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - im).mean() < 20  # the same picture
    assert not np.array_equal(out, im)


def test_rerender_is_deterministic_per_decoder():
    im = _photo()
    d = random_decoder(np.random.default_rng(5))
    assert np.array_equal(rerender(im, d), rerender(im, d))


def test_transposed_decoder_leaves_a_period_two_trace():
    """Zero insertion with unequal phase taps: pixels at even and odd positions differ on average."""
    im = np.full((64, 64, 3), 128, np.uint8)
    out = rerender(im, Decoder(1, "transposed", 1.0, seed=3)).astype(float)
    phases = [out[i::2, j::2].mean() for i in (0, 1) for j in (0, 1)]
    assert max(phases) - min(phases) > 1.0


def test_matched_smooth_loses_as_much_resolution_without_a_decoder():
    im = _photo()
    d = Decoder(2, "nearest_conv", 1.0, seed=0)
    assert latent_side(128, d) == 32
    smooth = matched_smooth(im, d)
    assert smooth.shape == im.shape
    # The noise is gone from both.
    assert np.std(np.diff(smooth.astype(float), axis=1)) < np.std(np.diff(im.astype(float), axis=1))

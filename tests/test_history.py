"""Random processing histories: deterministic once drawn, and they do what they say."""

from __future__ import annotations

import numpy as np

from facecheck.scan.imaging import jpeg, resize
from facecheck.train.history import History, random_history


def _image(seed: int = 0, size: int = 96) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (size, size, 3), dtype=np.uint8)


def test_identity_history_keeps_pixels():
    im = _image()
    assert np.array_equal(History().apply(im), im)


def test_history_is_deterministic_and_the_same_for_both_members():
    rng = np.random.default_rng(3)
    for _ in range(20):
        h = random_history(rng)
        a, b = _image(1), _image(1)
        assert np.array_equal(h.apply(a), h.apply(b))


def test_resize_changes_size_by_the_factor():
    im = _image(size=100)
    assert History(scale=0.5, resampler="area").apply(im).shape == (50, 50, 3)
    assert resize(im, 1.5, "lanczos").shape == (150, 150, 3)


def test_jpeg_loses_detail_and_keeps_shape():
    im = _image()
    out = jpeg(im, 50)
    assert out.shape == im.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - im).mean() > 5  # noise does not survive q50


def test_random_histories_cover_every_kind_within_bounds():
    rng = np.random.default_rng(0)
    hs = [random_history(rng, min_scale=0.5, max_scale=1.5) for _ in range(400)]
    scales = [h.scale for h in hs if h.scale != 1.0]
    assert scales and min(scales) >= 0.5 and max(scales) <= 1.5
    assert any(h.blur for h in hs) and any(h.sharpen for h in hs)
    assert any(len(h.jpeg) == 2 for h in hs) and any(not h.jpeg for h in hs)
    assert all(50 <= q <= 100 for h in hs for q in h.jpeg)
    assert len({h.resampler for h in hs}) == 5

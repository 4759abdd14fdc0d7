"""The co-occurrence witness: SPAM-style histograms of truncated residuals at native resolution, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from facecheck.errors import ConfigError, WeightsError
from facecheck.model.witnesses import load_witness
from facecheck.model.witnesses.base import PatchSpec
from facecheck.model.witnesses.cooc import BLOCKS, CoocWitness, _spam


def _noise(n: int = 4, seed: int = 0, sigma: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(128 + rng.normal(0, sigma, (n, 4, 32, 32, 3)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("blocks", [("spam",), ("spam2",), ("rgb",), BLOCKS])
def test_features_are_square_roots_of_histograms(blocks):
    w = CoocWitness(spec=PatchSpec(32, 2), blocks=blocks)
    feats = w.transform(_noise())
    assert feats.shape == (4, w.n_features) and feats.dtype == np.float32
    # Each histogram sums to one, so the squared features sum to the number of histograms.
    n_hists = {"spam": 2, "spam2": 2, "rgb": 1}
    assert np.allclose((feats.astype(np.float64) ** 2).sum(axis=1), sum(n_hists[b] for b in blocks), atol=1e-4)
    assert w.transform(_noise()[:0]).shape == (0, w.n_features)


def test_a_mirrored_or_transposed_face_has_the_same_features():
    """Opposite directions are pooled, straight directions too: the features ignore left/right and rows/columns."""
    x = np.cumsum(np.random.default_rng(1).integers(-2, 3, (3, 2, 32, 32)), axis=-1)
    for order, q, t in ((1, 1, 3), (2, 2, 2)):
        a = _spam(x, order=order, q=q, t=t)
        for y in (x[..., ::-1], np.swapaxes(x, -1, -2)):
            b = _spam(np.ascontiguousarray(y), order=order, q=q, t=t)
            assert all(np.allclose(u, v) for u, v in zip(a, b))


def test_brightness_does_not_matter_but_upsampling_does():
    w = CoocWitness(spec=PatchSpec(32, 2))
    x = _noise()
    brighter = (x.astype(int) + 40).astype(np.uint8)
    assert np.allclose(w.transform(x), w.transform(brighter))
    # x2 nearest up-sampling makes every other difference zero: far from noise of the same level.
    up = np.repeat(np.repeat(x[:, :, :16, :16], 2, axis=2), 2, axis=3)
    other = _noise(seed=1)
    assert np.abs(w.transform(x) - w.transform(up)).mean() > 5 * np.abs(w.transform(x) - w.transform(other)).mean()


def test_colour_block_sees_how_channels_are_tied():
    """Identical residuals in R, G and B (a gray face) fill other bins than independent ones."""
    w = CoocWitness(spec=PatchSpec(32, 2), blocks=("rgb",))
    x = _noise()
    gray = np.repeat(x[..., :1], 3, axis=-1)
    f_col, f_gray = w.transform(x), w.transform(gray)
    m = 5
    diagonal = [a * m * m + a * m + a for a in range(m)]  # dR = dG = dB
    assert np.allclose((f_gray[:, diagonal] ** 2).sum(axis=1), 1) and ((f_col[:, diagonal] ** 2).sum(axis=1) < 0.5).all()


def test_save_load_and_refusals(tmp_path):
    w = CoocWitness(spec=PatchSpec(32, 2), blocks=("spam", "rgb"))
    w.save(tmp_path / "c.json")
    back = load_witness(tmp_path / "c.json", w.config(), name="cooc")
    assert isinstance(back, CoocWitness) and back.config() == w.config()
    assert np.array_equal(back.transform(_noise()), w.transform(_noise()))
    with pytest.raises(WeightsError):
        CoocWitness.load(tmp_path / "c.json", {**w.config(), "blocks": ["spam"]})
    with pytest.raises(WeightsError):
        CoocWitness.load(tmp_path / "c.json", {**w.config(), "blocks": ["nonsense"]})
    with pytest.raises(WeightsError):
        CoocWitness.load(tmp_path / "c.json", {**w.config(), "spec": {"type": "crop", "size": 32, "scale": 1.3}})
    with pytest.raises(WeightsError):
        CoocWitness.load(tmp_path / "c.json", {**w.config(), "spec": {"type": "patches", "size": 32, "grid": 10_000, "scale": 1.0}})
    (tmp_path / "big.json").write_text("[" * 100_000)
    with pytest.raises(WeightsError):
        CoocWitness.load(tmp_path / "big.json", w.config())
    with pytest.raises(ConfigError):
        CoocWitness(blocks=())
    with pytest.raises(ConfigError):
        w.transform(_noise()[:, :, :16])

"""The non-linear residual witness: min/max residual co-occurrences at native resolution, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from facecheck.errors import ConfigError, WeightsError
from facecheck.model.witnesses import load_witness
from facecheck.model.witnesses.base import PatchSpec
from facecheck.model.witnesses.minmax import MinMaxWitness


def _noise(n: int = 4, seed: int = 0, sigma: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(128 + rng.normal(0, sigma, (n, 4, 32, 32, 3)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("orders", [(1,), (2,), (3,), (1, 2, 3)])
def test_shape_determinism_and_histograms(orders):
    w = MinMaxWitness(spec=PatchSpec(32, 2), orders=orders)
    x = _noise()
    feats = w.transform(x)
    assert feats.shape == (4, w.n_features) and feats.dtype == np.float32
    assert w.n_features == sum({1: 325, 2: 75, 3: 75}[o] for o in orders)
    assert np.array_equal(feats, w.transform(x.copy()))
    # One normalised histogram per order, square-rooted (a kept bin stands for its mirrored pair).
    assert np.allclose((feats.astype(np.float64) ** 2).sum(axis=1), len(orders), atol=1e-4)
    assert w.transform(x[:0]).shape == (0, w.n_features)


def test_mirror_transpose_and_brightness_do_not_matter():
    w = MinMaxWitness(spec=PatchSpec(32, 2))
    x = _noise()
    f = w.transform(x)
    for y in (x[:, :, :, ::-1], np.swapaxes(x, 2, 3), (x.astype(int) + 40).astype(np.uint8)):
        assert np.allclose(f, w.transform(np.ascontiguousarray(y)), atol=1e-6)


def test_nearest_upsampling_is_far_from_native():
    w = MinMaxWitness(spec=PatchSpec(32, 2))
    x = _noise()
    up = np.repeat(np.repeat(x[:, :, :16, :16], 2, axis=2), 2, axis=3)
    assert np.abs(w.transform(x) - w.transform(up)).mean() > 5 * np.abs(w.transform(x) - w.transform(_noise(seed=1))).mean()


def test_save_load_and_bad_configs(tmp_path):
    with pytest.raises(ConfigError):
        MinMaxWitness(orders=(4,))
    w = MinMaxWitness(spec=PatchSpec(32, 2), orders=(1, 3))
    w.save(tmp_path / "minmax.json")
    back = load_witness(tmp_path / "minmax.json", w.config(), name="minmax")
    assert isinstance(back, MinMaxWitness) and back.orders == (1, 3)
    assert np.array_equal(back.transform(_noise()), w.transform(_noise()))
    with pytest.raises(WeightsError):
        load_witness(tmp_path / "minmax.json", MinMaxWitness(spec=PatchSpec(32, 2)).config(), name="minmax")

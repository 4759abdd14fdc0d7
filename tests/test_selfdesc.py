"""The self-description witness: per-face least-squares prediction filters, save/load."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facecheck.errors import ConfigError, WeightsError
from facecheck.model.witnesses import load_witness
from facecheck.model.witnesses.base import PatchSpec
from facecheck.model.witnesses.selfdesc import SelfDescWitness, _fit


def _noise(n: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(128 + rng.normal(0, 20, (n, 2, 32, 32, 3)), 0, 255).astype(np.uint8)


def test_least_squares_recovers_a_known_filter():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, (2, 1, 40, 40)), rng.normal(0, 1, (2, 1, 40, 40))
    y = 0.7 * a - 0.2 * b + rng.normal(0, 0.01, a.shape)
    w, resid = _fit(y, [a, b], border=1)
    assert np.allclose(w, [[0.7, -0.2]] * 2, atol=0.01) and np.abs(resid).mean() < 0.02


def test_features_tell_blurred_from_white_noise():
    w = SelfDescWitness(spec=PatchSpec(32, 2))
    x = _noise()
    blurred = np.stack([np.stack([cv2.GaussianBlur(p, (0, 0), 1.0) for p in face]) for face in x])
    f, g = w.transform(x), w.transform(blurred)
    assert f.shape == (3, w.n_features) and f.dtype == np.float32 and np.isfinite(f).all()
    # White noise cannot be predicted from its neighbours; a blurred copy can.
    assert np.abs(f[:, :12]).max() < 0.1 and np.abs(g[:, :12]).max() > 0.3
    assert w.transform(x[:0]).shape == (0, w.n_features)


def test_flat_faces_are_solvable():
    w = SelfDescWitness(spec=PatchSpec(32, 2))
    assert np.isfinite(w.transform(np.full((2, 2, 32, 32, 3), 90, np.uint8))).all()


def test_save_load_and_refusals(tmp_path):
    w = SelfDescWitness(spec=PatchSpec(32, 2))
    w.save(tmp_path / "s.json")
    back = load_witness(tmp_path / "s.json", w.config(), name="selfdesc")
    assert isinstance(back, SelfDescWitness) and back.config() == w.config()
    assert np.array_equal(back.transform(_noise()), w.transform(_noise()))
    (tmp_path / "other.json").write_text('{"n_features": 3}\n')
    with pytest.raises(WeightsError):
        SelfDescWitness.load(tmp_path / "other.json", w.config())
    with pytest.raises(WeightsError):
        SelfDescWitness.load(tmp_path / "s.json", {**w.config(), "spec": {"type": "patches", "size": 8, "grid": 2, "scale": 1.0}})
    with pytest.raises(ConfigError):
        w.transform(_noise()[:, :, :16])

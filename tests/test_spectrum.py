"""The spectrum witness: residual spectra of native patches, periodic traces visible, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from facecheck.errors import ConfigError, WeightsError
from facecheck.model.witnesses import load_witness
from facecheck.model.witnesses.base import PatchSpec
from facecheck.model.witnesses.spectrum import SpectrumWitness


def _noise(n: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(128 + rng.normal(0, 12, (n, 4, 32, 32, 3)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("color", [False, True])
def test_features_have_the_documented_size(color):
    w = SpectrumWitness(spec=PatchSpec(32, 2), bins=8, color=color)
    feats = w.transform(_noise())
    assert feats.shape == (4, w.n_features) and feats.dtype == np.float32 and np.isfinite(feats).all()
    assert w.transform(_noise()[:0]).shape == (0, w.n_features)


def test_nearest_upsampling_moves_energy_away_from_the_highest_frequencies():
    """x2 nearest up-sampling repeats pixels: the residual's spectrum changes shape, whatever the level."""
    w = SpectrumWitness(spec=PatchSpec(32, 2), bins=8, color=False)
    noise = _noise()
    up = np.repeat(np.repeat(noise[:, :, :16, :16], 2, axis=2), 2, axis=3)
    a, b = w.transform(noise), w.transform(up)
    assert np.abs(a - b).mean() > 3 * np.abs(a - w.transform(_noise(seed=1))).mean()


def test_brightness_does_not_matter():
    w = SpectrumWitness(spec=PatchSpec(32, 2), bins=8)
    x = _noise()
    brighter = np.clip(x.astype(int) + 20, 0, 255).astype(np.uint8)
    assert np.allclose(w.transform(x), w.transform(brighter), atol=1e-3)


def test_save_load_and_refusals(tmp_path):
    w = SpectrumWitness(spec=PatchSpec(32, 2), bins=8, color=True)
    w.save(tmp_path / "s.json")
    back = load_witness(tmp_path / "s.json", w.config(), name="spectrum")
    assert isinstance(back, SpectrumWitness) and back.config() == w.config()
    assert np.allclose(back.transform(_noise()), w.transform(_noise()))
    with pytest.raises(WeightsError):
        SpectrumWitness.load(tmp_path / "s.json", {**w.config(), "bins": 4})
    with pytest.raises(WeightsError):
        SpectrumWitness.load(tmp_path / "s.json", {**w.config(), "spec": {"type": "crop", "size": 32, "scale": 1.3}})
    for spec in ({"type": "patches", "size": 32, "grid": 10_000, "scale": 1.0},
                 {"type": "patches", "size": 32, "grid": 0, "scale": 1.0},
                 {"type": "patches", "size": 32, "grid": 2, "scale": -1.0}):
        with pytest.raises(WeightsError):  # a forged manifest cannot make every face cost 10^8 patches
            SpectrumWitness.load(tmp_path / "s.json", {**w.config(), "spec": spec})
    (tmp_path / "big.json").write_text("[" * 100_000)
    with pytest.raises(WeightsError):
        SpectrumWitness.load(tmp_path / "big.json", w.config())
    with pytest.raises(ConfigError):
        SpectrumWitness(spec=PatchSpec(30, 2), bins=8)
    with pytest.raises(ConfigError):
        w.transform(_noise()[:, :, :16])

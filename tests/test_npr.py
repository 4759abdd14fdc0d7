"""The up-sampling-trace witness: phase-split co-occurrences of 2 x 2 and 4 x 4 blocks at native resolution, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from facecheck.errors import ConfigError, WeightsError
from facecheck.model.witnesses import load_witness
from facecheck.model.witnesses.base import PatchSpec
from facecheck.model.witnesses.npr import BLOCKS, NprWitness


def _noise(n: int = 4, seed: int = 0, sigma: float = 3.0, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(128 + rng.normal(0, sigma, (n, 4, size, size, 3)), 0, 255).astype(np.uint8)


def _upsampled(x: np.ndarray, f: int = 2) -> np.ndarray:
    """Nearest-neighbour x`f` up-sampling of the top-left 1/f of each patch, to the same patch size."""
    s = x.shape[2] // f
    return np.repeat(np.repeat(x[:, :, :s, :s], f, axis=2), f, axis=3)


@pytest.mark.parametrize("blocks", [("block2",), ("phase4",), ("energy",), BLOCKS])
def test_shape_dtype_and_determinism(blocks):
    w = NprWitness(spec=PatchSpec(32, 2), blocks=blocks)
    x = _noise()
    feats = w.transform(x)
    assert feats.shape == (4, w.n_features) and feats.dtype == np.float32 and np.isfinite(feats).all()
    assert np.array_equal(feats, w.transform(x.copy()))
    assert w.transform(x[:0]).shape == (0, w.n_features)
    if "energy" not in blocks:  # square roots of normalised histograms: 3 (block2) and 4 (phase4) of them
        n_hists = sum({"block2": 3, "phase4": 4}[b] for b in blocks)
        assert np.allclose((feats.astype(np.float64) ** 2).sum(axis=1), n_hists, atol=1e-4)


def test_nearest_upsampling_is_far_from_native_and_its_phase_does_not_matter():
    w = NprWitness(spec=PatchSpec(32, 2), blocks=BLOCKS)
    x, other = _noise(), _noise(seed=1)
    native = np.abs(w.transform(x) - w.transform(other)).mean()
    for f in (2, 4):
        up = _upsampled(_noise(seed=2, size=32), f)
        assert np.abs(w.transform(x) - w.transform(up)).mean() > 5 * native
        # The patch's offset from the image's origin is unknown: a shift by one pixel changes almost nothing.
        shifted = np.roll(up, 1, axis=3)
        assert np.abs(w.transform(up) - w.transform(shifted)).mean() < 0.2 * np.abs(w.transform(x) - w.transform(up)).mean()


def test_energy_sees_within_block_differences_vanish():
    """x2 nearest up-sampling zeroes every other first difference: the within phase's log-energy drops far below the across one."""
    w = NprWitness(spec=PatchSpec(32, 2), blocks=("energy",))
    e_native, e_up = w.transform(_noise(sigma=8)), w.transform(_upsampled(_noise(sigma=8)))
    # columns 0-1: period-2 phases of the row differences, smallest first
    assert (np.abs(e_native[:, 0]) < 0.1).all() and (e_up[:, 0] < -1.0).all()


def test_brightness_does_not_matter():
    w = NprWitness(spec=PatchSpec(32, 2), blocks=BLOCKS)
    x = _noise()
    assert np.allclose(w.transform(x), w.transform((x.astype(int) + 40).astype(np.uint8)))


def test_bad_configs_are_refused(tmp_path):
    with pytest.raises(ConfigError):
        NprWitness(blocks=("nope",))
    with pytest.raises(ConfigError):
        NprWitness(spec=PatchSpec(30, 2))
    w = NprWitness(spec=PatchSpec(32, 2), blocks=("block2", "energy"))
    w.save(tmp_path / "npr.json")
    back = load_witness(tmp_path / "npr.json", w.config(), name="npr")
    assert isinstance(back, NprWitness) and back.blocks == w.blocks and back.spec == w.spec
    x = _noise()
    assert np.array_equal(back.transform(x), w.transform(x))
    other = NprWitness(spec=PatchSpec(32, 2), blocks=BLOCKS).config()
    with pytest.raises(WeightsError):
        load_witness(tmp_path / "npr.json", other, name="npr")

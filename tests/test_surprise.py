"""The surprise witness: coding cost against a real-fitted coder's expected cost, per activity context; its coder's file."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from facecheck.errors import ConfigError, WeightsError
from facecheck.model.witnesses import load_witness
from facecheck.model.witnesses.base import PatchSpec
from facecheck.model.witnesses.surprise import EDGES, SCALES, SHAPE, SurpriseWitness, residuals

SPEC = PatchSpec(size=32, grid=2)


def _textured(n: int, seed: int, sigma: float = 4.0) -> np.ndarray:
    """Faces of smooth ramps plus Gaussian noise of `sigma`, (n, 4, 32, 32, 3) uint8."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(60, 190, 32)[None, None, :, None, None] * np.ones((n, 4, 32, 32, 3))
    return np.clip(ramp + rng.normal(0, sigma, (n, 4, 32, 32, 1)), 0, 255).astype(np.uint8)


def test_shape_dtype_determinism_and_empty_input():
    w = SurpriseWitness(spec=SPEC)
    x = _textured(3, 0)
    feats = w.transform(x)
    assert feats.shape == (3, w.n_features) == (3, len(SCALES) * (len(EDGES) + 2)) and feats.dtype == np.float32
    assert np.array_equal(feats, w.transform(x.copy())) and np.isfinite(feats).all()
    assert w.transform(x[:0]).shape == (0, w.n_features)


def test_median_edge_prediction_and_contexts():
    x = np.array([[[[10, 20, 30], [40, 50, 60]]]], np.int16)  # one 2 x 3 image: one pixel has all four neighbours
    e, ctx = residuals(x)
    # a = 40 (left), b = 20 (up), c = 10 (up-left), d = 30: c <= min(a, b), so the prediction is max(a, b) = 40.
    assert e.shape == (1, 1, 1, 1) and e[0, 0, 0, 0] - 48 == 50 - 40
    assert ctx[0, 0, 0, 0] == np.searchsorted(EDGES, 30 + 10 + 10)


def test_a_coder_of_one_process_is_not_surprised_by_it_and_is_by_another():
    """Fitted on noisy ramps, the mean gap is about 0 on new noisy ramps, and far from 0 on smoother ones."""
    w = SurpriseWitness.learn(_textured(40, 0), spec=SPEC)
    same = w.transform(_textured(10, 1))
    other = w.transform(_textured(10, 2, sigma=1.0))
    overall = [(len(EDGES) + 2) * i + len(EDGES) + 1 for i in range(len(SCALES))]  # each scale's overall gap
    assert np.all(np.abs(same[:, overall[0]]) < 0.05)
    assert np.all(np.abs(other[:, overall[0]]) > 0.2)


def test_save_load_round_trip_and_a_bad_coder_is_refused(tmp_path):
    w = SurpriseWitness.learn(_textured(8, 0), spec=SPEC)
    w.save(tmp_path / "s.npz")
    loaded = load_witness(tmp_path / "s.npz", w.config(), name="surprise")
    x = _textured(2, 3)
    assert np.array_equal(loaded.transform(x), w.transform(x)) and loaded.spec == SPEC
    np.savez(tmp_path / "wrong.npz", tables=np.zeros((2, 2)))
    with pytest.raises(WeightsError, match="cannot load the surprise witness"):
        load_witness(tmp_path / "wrong.npz", w.config(), name="surprise")
    np.savez(tmp_path / "pickle.npz", tables=np.array([{"a": 1}], dtype=object))
    with pytest.raises(WeightsError, match="cannot load the surprise witness"):
        load_witness(tmp_path / "pickle.npz", w.config(), name="surprise")
    with pytest.raises(WeightsError, match="another coder"):
        load_witness(tmp_path / "s.npz", {**w.config(), "clip": 3}, name="surprise")
    with pytest.raises(ValueError, match="log2 probabilities"):
        SurpriseWitness(np.zeros(SHAPE))
    with pytest.raises(ConfigError, match="at least 16 px"):
        SurpriseWitness(spec=PatchSpec(size=8, grid=2))


def test_the_builder_fits_the_coder_on_training_split_faces_only():
    faces = np.concatenate([_textured(6, 0), _textured(6, 1, sigma=1.0)])
    split = np.array(["train"] * 6 + ["calib"] * 6)
    run = SimpleNamespace(faces=SimpleNamespace(split=split), inputs=lambda spec: faces[:, :, : spec.size, : spec.size])
    built = SurpriseWitness.training_builder()(run)
    expected = SurpriseWitness.learn(faces[:6])
    assert np.array_equal(built.tables, expected.tables)


def test_the_least_squares_predictor_learns_a_linear_process():
    """Pixels that are exactly the mean of their left and upper neighbours: the fitted weights find it, and code
    the faces with smaller residuals than MED does."""
    rng = np.random.default_rng(0)
    x = np.zeros((6, 4, 32, 32))
    x[:, :, 0, :], x[:, :, :, 0] = rng.uniform(60, 190, (6, 4, 32)), rng.uniform(60, 190, (6, 4, 32))
    for i in range(1, 32):
        for j in range(1, 32):
            x[:, :, i, j] = (x[:, :, i, j - 1] + x[:, :, i - 1, j]) / 2 + rng.normal(0, 3.0, (6, 4))
    faces = np.repeat(np.clip(np.rint(x), 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
    ls = SurpriseWitness.learn(faces, predictor="ls", spec=SPEC)
    busy = ls.counts(faces)[0, 0].sum(axis=1) > 500  # the contexts with enough pixels
    np.testing.assert_allclose(ls.weights[0, 0, busy, :2], 0.5, atol=0.08)
    med = SurpriseWitness.learn(faces, spec=SPEC)

    def mean_abs(w):
        c = w.counts(faces)[0, 0].sum(axis=0)
        return (c * np.abs(np.arange(-48, 49))).sum() / c.sum()

    assert mean_abs(ls) < 0.8 * mean_abs(med)


def test_colour_planes_and_the_predictor_survive_save_and_load(tmp_path):
    w = SurpriseWitness.learn(_textured(6, 0), predictor="ls", colour="ycc", spec=SPEC)
    assert w.tables.shape == (3, *SHAPE) and w.n_features == 3 * len(SCALES) * (len(EDGES) + 2)
    w.save(tmp_path / "s.npz")
    loaded = load_witness(tmp_path / "s.npz", w.config(), name="surprise")
    x = _textured(2, 3)
    assert loaded.predictor == "ls" and loaded.colour == "ycc" and np.array_equal(loaded.transform(x), w.transform(x))
    with pytest.raises(WeightsError, match="cannot load the surprise witness"):  # the manifest says MED: no weights
        load_witness(tmp_path / "s.npz", {**w.config(), "predictor": "med"}, name="surprise")
    with pytest.raises(ValueError, match="finite weights"):
        SurpriseWitness(w.tables, w.weights[:, :1], predictor="ls", colour="ycc")
    with pytest.raises(ValueError, match="predictor is one of"):
        SurpriseWitness(predictor="cnn")

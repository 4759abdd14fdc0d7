"""FaceScorer: fit / score_samples / calibrate / predict, save/load without pickle, misuse errors."""

from __future__ import annotations

import numpy as np
import pytest

from facecheck.errors import NotFittedError, WeightsError
from facecheck.likelihood import FaceScorer
from facecheck.verdict import AI_GENERATED, REAL


def _real_faces(n, seed, d=6) -> np.ndarray:
    """Toy 'photographic' features: two Gaussian clusters in d dimensions."""
    rng = np.random.default_rng(seed)
    centres = np.stack([np.zeros(d), np.full(d, 4.0)])
    X = centres[rng.integers(0, 2, n)] + rng.normal(0, 1.0, (n, d)) * np.linspace(0.5, 2.0, d)
    return X.astype(np.float32)


@pytest.fixture(scope="module")
def scorer() -> FaceScorer:
    return FaceScorer(2, n_dims=4, random_state=0).fit(_real_faces(600, 0)).calibrate(_real_faces(400, 1), 0.05)


def test_init_stores_parameters_verbatim():
    s = FaceScorer(3, covariance_type="diag", n_dims=None, reg_covar=0.1, max_iter=7, random_state=5)
    assert (s.n_components, s.covariance_type, s.n_dims, s.reg_covar, s.max_iter, s.random_state) == (
        3, "diag", None, 0.1, 7, 5,
    )
    assert not hasattr(s, "gmm_")


def test_fit_returns_self_and_scores_real_faces_above_outliers():
    s = FaceScorer(2, n_dims=4)
    assert s.fit(_real_faces(300, 0)) is s
    assert s.components_.shape == (4, 6) and s.threshold_ is None
    inliers = s.score_samples(_real_faces(100, 2))
    outliers = s.score_samples(_real_faces(100, 2) + 15.0)
    assert inliers.shape == (100,) and np.all(np.isfinite(inliers))
    assert np.median(inliers) > outliers.max()


def test_score_samples_of_no_faces_is_empty(scorer):
    assert scorer.score_samples(np.zeros((0, 6))).shape == (0,)


def test_calibrated_threshold_flags_about_false_alarm_of_held_out_faces(scorer):
    assert scorer.false_alarm_ == 0.05
    calibration = scorer.score_samples(_real_faces(400, 1))
    assert np.mean(calibration < scorer.threshold_) == pytest.approx(0.05, abs=0.005)
    fresh = scorer.score_samples(_real_faces(4000, 7))  # unseen real faces, same distribution
    assert 0.03 <= np.mean(fresh < scorer.threshold_) <= 0.08


@pytest.mark.parametrize("false_alarm", [0.01, 0.2])
def test_calibrate_follows_the_requested_rate(false_alarm):
    held_out = _real_faces(1000, 1)
    s = FaceScorer(2, n_dims=4).fit(_real_faces(600, 0)).calibrate(held_out, false_alarm)
    assert np.mean(s.score_samples(held_out) < s.threshold_) == pytest.approx(false_alarm, abs=0.002)


def test_predict_agrees_with_the_threshold(scorer):
    X = np.concatenate([_real_faces(50, 3), _real_faces(50, 4) + 15.0])
    verdicts = scorer.predict(X)
    assert verdicts.shape == (100,)
    assert set(verdicts) <= {REAL, AI_GENERATED}
    expected = np.where(scorer.score_samples(X) >= scorer.threshold_, REAL, AI_GENERATED)
    assert np.array_equal(verdicts, expected)
    assert np.all(verdicts[50:] == AI_GENERATED)
    assert np.mean(verdicts[:50] == REAL) > 0.8


def test_fit_is_reproducible_with_a_seed():
    X = _real_faces(300, 0)
    a = FaceScorer(2, n_dims=4, random_state=1).fit(X).score_samples(X)
    b = FaceScorer(2, n_dims=4, random_state=1).fit(X).score_samples(X)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "tied", "spherical"])
def test_save_load_round_trip_gives_identical_scores(tmp_path, covariance_type):
    X = _real_faces(300, 0)
    s = FaceScorer(2, covariance_type=covariance_type, n_dims=None).fit(X).calibrate(_real_faces(100, 1))
    s.save(tmp_path / "scorer.npz")
    loaded = FaceScorer.load(tmp_path / "scorer.npz")
    probe = _real_faces(50, 9)
    assert np.array_equal(loaded.score_samples(probe), s.score_samples(probe))
    assert np.array_equal(loaded.predict(probe), s.predict(probe))
    assert loaded.threshold_ == s.threshold_ and loaded.false_alarm_ == s.false_alarm_
    assert (loaded.n_components, loaded.covariance_type, loaded.n_dims) == (2, covariance_type, None)


def test_saved_file_holds_no_object_arrays(tmp_path, scorer):
    scorer.save(tmp_path / "scorer.npz")
    with np.load(tmp_path / "scorer.npz", allow_pickle=False) as data:
        assert all(data[k].dtype != object for k in data.files)


def test_load_refuses_object_arrays(tmp_path, scorer):
    scorer.save(tmp_path / "good.npz")
    with np.load(tmp_path / "good.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays["means"] = np.array([{"payload": 1}], dtype=object)  # needs pickle to read back
    np.savez(tmp_path / "evil.npz", **arrays)
    with pytest.raises(WeightsError, match="evil.npz"):
        FaceScorer.load(tmp_path / "evil.npz")


@pytest.mark.parametrize(
    "damage",
    [lambda b: b[: len(b) // 2], lambda b: b"", lambda b: b"not an npz file", lambda b: b"PK\x03\x04" + b"\0" * 40],
    ids=["truncated", "empty", "text", "bad-zip"],
)
def test_load_turns_damaged_files_into_weights_error(tmp_path, scorer, damage):
    scorer.save(tmp_path / "scorer.npz")
    (tmp_path / "scorer.npz").write_bytes(damage((tmp_path / "scorer.npz").read_bytes()))
    with pytest.raises(WeightsError, match="scorer.npz"):
        FaceScorer.load(tmp_path / "scorer.npz")


def test_load_refuses_another_format(tmp_path, scorer):
    np.savez(tmp_path / "other.npz", params=np.array('{"format": "something-else/1"}'))
    with pytest.raises(WeightsError, match="format"):
        FaceScorer.load(tmp_path / "other.npz")


def test_unfitted_use_raises_not_fitted(tmp_path):
    s = FaceScorer()
    for call in (lambda: s.score_samples(np.zeros((2, 6))), lambda: s.predict(np.zeros((2, 6))),
                 lambda: s.save(tmp_path / "x.npz"), lambda: s.bic(np.zeros((2, 6)))):
        with pytest.raises(NotFittedError):
            call()
    assert not (tmp_path / "x.npz").exists()


def test_predict_before_calibrate_raises_not_fitted():
    s = FaceScorer(2, n_dims=4).fit(_real_faces(100, 0))
    with pytest.raises(NotFittedError, match="calibrate"):
        s.predict(_real_faces(3, 1))


def test_wrong_feature_count_raises_value_error(scorer):
    with pytest.raises(ValueError, match="7 features"):
        scorer.score_samples(np.zeros((3, 7)))
    with pytest.raises(ValueError, match="7 features"):
        scorer.predict(np.zeros((3, 7)))


@pytest.mark.parametrize(
    "X", [np.zeros(6), np.zeros((2, 3, 6)), np.full((2, 6), np.nan)], ids=["1d", "3d", "nan"]
)
def test_bad_feature_arrays_raise_value_error(scorer, X):
    with pytest.raises(ValueError):
        scorer.score_samples(X)


def test_fit_needs_enough_faces():
    with pytest.raises(ValueError, match="at least 8"):
        FaceScorer(8).fit(_real_faces(5, 0))


@pytest.mark.parametrize("covariance_type", ["full", "diag", "tied", "spherical"])
def test_numpy_scoring_matches_scikit_learn(covariance_type):
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(3)
    X = rng.normal(size=(500, 12)) @ rng.normal(size=(12, 12))
    s = FaceScorer(3, covariance_type=covariance_type, n_dims=8).fit(X[:400])
    gmm = GaussianMixture(3, covariance_type=covariance_type)
    gmm.weights_, gmm.means_, gmm.covariances_ = s.weights_, s.means_, s.covariances_
    gmm.precisions_cholesky_ = s.precisions_cholesky_
    np.testing.assert_allclose(s.score_samples(X[400:]), gmm.score_samples(s._project(X[400:])), rtol=1e-10, atol=1e-10)
    Z = s._project(X[400:])
    assert s.bic(X[400:]) == pytest.approx(gmm.bic(Z))


def test_loading_a_scorer_does_not_import_scikit_learn(tmp_path):
    import subprocess
    import sys

    s = FaceScorer(2, n_dims=4).fit(np.random.default_rng(0).normal(size=(100, 6))).calibrate(
        np.random.default_rng(1).normal(size=(50, 6)))
    s.save(tmp_path / "s.npz")
    code = ("import sys, numpy as np; from facecheck.likelihood import FaceScorer; "
            f"FaceScorer.load({str(tmp_path / 's.npz')!r}).score_samples(np.zeros((1, 6))); "
            "print('sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"

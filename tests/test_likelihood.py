"""FaceScorer and FusedScorer: fit / score_samples / calibrate, save/load without pickle, misuse errors."""

from __future__ import annotations

import numpy as np
import pytest

from facecheck.errors import NotFittedError, WeightsError
from facecheck.model.likelihood import FaceScorer, FusedScorer


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


def test_fit_is_reproducible_with_a_seed():
    X = _real_faces(300, 0)
    a = FaceScorer(2, n_dims=4, random_state=1).fit(X).score_samples(X)
    b = FaceScorer(2, n_dims=4, random_state=1).fit(X).score_samples(X)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "tied", "spherical"])
def test_a_faces_score_does_not_depend_on_its_batch(covariance_type):
    """Bit for bit: a face scores the same alone as among others (a scan's batches, --stability's copies)."""
    X = _real_faces(300, 0)
    s = FaceScorer(3, covariance_type=covariance_type, n_dims=8).fit(X)
    probe = _real_faces(40, 5)
    assert np.array_equal(np.concatenate([s.score_samples(probe[i : i + 1]) for i in range(40)]), s.score_samples(probe))


@pytest.mark.parametrize("covariance_type", ["full", "diag", "tied", "spherical"])
def test_save_load_round_trip_gives_identical_scores(tmp_path, covariance_type):
    X = _real_faces(300, 0)
    s = FaceScorer(2, covariance_type=covariance_type, n_dims=None).fit(X).calibrate(_real_faces(100, 1))
    s.save(tmp_path / "scorer.npz")
    loaded = FaceScorer.load(tmp_path / "scorer.npz")
    probe = _real_faces(50, 9)
    assert np.array_equal(loaded.score_samples(probe), s.score_samples(probe))
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
    for call in (lambda: s.score_samples(np.zeros((2, 6))), lambda: s.save(tmp_path / "x.npz")):
        with pytest.raises(NotFittedError):
            call()
    assert not (tmp_path / "x.npz").exists()


def test_wrong_feature_count_raises_value_error(scorer):
    with pytest.raises(ValueError, match="7 features"):
        scorer.score_samples(np.zeros((3, 7)))


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


def test_loading_a_scorer_does_not_import_scikit_learn(tmp_path):
    import subprocess
    import sys

    s = FaceScorer(2, n_dims=4).fit(np.random.default_rng(0).normal(size=(100, 6))).calibrate(
        np.random.default_rng(1).normal(size=(50, 6)))
    s.save(tmp_path / "s.npz")
    code = ("import sys, numpy as np; from facecheck.model.likelihood import FaceScorer; "
            f"FaceScorer.load({str(tmp_path / 's.npz')!r}).score_samples(np.zeros((1, 6))); "
            "print('sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# --- FusedScorer --------------------------------------------------------------------------------------


def _two_witnesses(n, seed) -> dict[str, np.ndarray]:
    """Toy features of the same n faces as two witnesses see them (6 and 4 dimensions)."""
    return {"appearance": _real_faces(n, seed), "trace": _real_faces(n, seed + 100, d=4) * 3.0}


@pytest.fixture(scope="module")
def fused() -> FusedScorer:
    train = _two_witnesses(600, 0)
    scorers = {name: FaceScorer(2, n_dims=4, random_state=0).fit(X) for name, X in train.items()}
    fused = FusedScorer(scorers)
    return fused.fit_fusion(fused.witness_scores(_two_witnesses(300, 1))).calibrate(_two_witnesses(400, 2), 0.05)


def test_fused_score_is_the_sum_of_standardised_log_likelihoods(fused):
    held_out = fused.witness_scores(_two_witnesses(300, 1))
    for name, ll in held_out.items():  # the statistics are those of the held-out real faces
        assert fused.mean_[name] == pytest.approx(ll.mean()) and fused.std_[name] == pytest.approx(ll.std())
    X = _two_witnesses(50, 3)
    logliks = fused.witness_scores(X)
    assert list(logliks) == ["appearance", "trace"] and all(ll.shape == (50,) for ll in logliks.values())
    expected = sum((logliks[w] - fused.mean_[w]) / fused.std_[w] for w in logliks)
    np.testing.assert_allclose(fused.score_samples(X), expected, rtol=1e-12)
    np.testing.assert_allclose(fused.fuse(logliks), expected, rtol=1e-12)
    # in standard deviations of real faces: held-out real faces average 0 per witness, so about 0 in sum
    assert abs(np.mean(fused.fuse(held_out))) < 1e-9
    outliers = {name: x + 15.0 for name, x in X.items()}
    assert np.median(fused.score_samples(X)) > fused.score_samples(outliers).max()


def test_with_one_witness_the_fused_score_is_affine_in_its_log_likelihood():
    scorer = FaceScorer(2, n_dims=4).fit(_real_faces(300, 0))
    fused = FusedScorer({"appearance": scorer}).fit_fusion({"appearance": scorer.score_samples(_real_faces(100, 1))})
    X = _real_faces(40, 2)
    ll = scorer.score_samples(X)
    slope, intercept = np.polyfit(ll, fused.score_samples({"appearance": X}), 1)
    np.testing.assert_allclose(fused.score_samples({"appearance": X}), slope * ll + intercept, rtol=1e-9, atol=1e-9)
    assert slope == pytest.approx(1 / fused.std_["appearance"]) and slope > 0


@pytest.mark.parametrize("false_alarm", [0.01, 0.05, 0.2])
def test_fused_calibration_flags_false_alarm_of_held_out_faces(fused, false_alarm):
    calib = _two_witnesses(400, 2)
    fused = FusedScorer(fused.scorers).fit_fusion(fused.witness_scores(_two_witnesses(300, 1)))
    fused.calibrate(calib, false_alarm)
    assert fused.false_alarm_ == false_alarm
    assert abs(np.mean(fused.score_samples(calib) < fused.threshold_) - false_alarm) <= 1 / 400


def test_fused_misuse_raises_typed_errors(tmp_path, fused):
    X = _two_witnesses(5, 1)
    with pytest.raises(NotFittedError):
        FusedScorer({}).score_samples({})
    unfused = FusedScorer(fused.scorers)
    for call in (lambda: unfused.score_samples(X), lambda: unfused.calibrate(X)):
        with pytest.raises(NotFittedError, match="fit_fusion"):
            call()
    with pytest.raises(NotFittedError):  # a witness whose mixture was never fitted
        FusedScorer({"appearance": FaceScorer()}).witness_scores({"appearance": X["appearance"]})
    with pytest.raises(ValueError, match="trace"):
        fused.score_samples({"appearance": X["appearance"]})
    with pytest.raises(ValueError, match="not all equal"):
        FusedScorer(fused.scorers).fit_fusion({"appearance": np.ones(10), "trace": np.arange(10.0)})
    assert list(tmp_path.iterdir()) == []


# --- Stouffer fusion and two-sided witnesses (0.5.0) ----------------------------------------------------


@pytest.fixture(scope="module")
def stouffer(fused) -> FusedScorer:
    s = FusedScorer(fused.scorers, rule="stouffer", tails={"trace": "both"})
    return s.fit_fusion(s.witness_scores(_two_witnesses(300, 1))).calibrate(_two_witnesses(400, 2), 0.05)


def test_stouffer_sums_normal_quantiles_of_each_witness_p_value(stouffer):
    from statistics import NormalDist

    held_out = stouffer.witness_scores(_two_witnesses(300, 1))
    X = _two_witnesses(20, 3)
    logliks = stouffer.witness_scores(X)
    centre = float(np.median(held_out["trace"]))
    assert stouffer.centre_["trace"] == pytest.approx(centre)
    oriented = {"appearance": held_out["appearance"], "trace": -np.abs(held_out["trace"] - centre)}
    expected = np.zeros(20)
    for w, ll in logliks.items():
        s = ll if w == "appearance" else -np.abs(ll - centre)
        p = np.array([(np.sum(oriented[w] <= v) + 1) / (len(oriented[w]) + 2) for v in s])
        expected += np.array([NormalDist().inv_cdf(q) for q in p])
    np.testing.assert_allclose(stouffer.fuse(logliks), expected / np.sqrt(2), rtol=1e-9)


def test_a_two_sided_witness_flags_faces_too_typical_of_real_ones(stouffer):
    """A face at the very mode of the two-sided witness is as unusual as one far in its tail."""
    held_out = stouffer.witness_scores(_two_witnesses(300, 1))
    typical = {"appearance": np.full(1, np.median(held_out["appearance"])), "trace": np.full(1, held_out["trace"].max() + 50)}
    median = {w: np.full(1, np.median(ll)) for w, ll in held_out.items()}
    assert stouffer.fuse(typical)[0] < stouffer.fuse(median)[0] - 1
    one_sided = FusedScorer(stouffer.scorers, rule="stouffer").fit_fusion(held_out)
    assert one_sided.fuse(typical)[0] > one_sided.fuse(median)[0]


def test_stouffer_fusion_round_trips_through_its_dict(stouffer):
    d = stouffer.fusion_dict()
    assert d["method"] == "stouffer" and d["stats"]["trace"]["tails"] == "both" and len(d["stats"]["trace"]["reference"]) == 300
    back = FusedScorer.from_parts(stouffer.scorers, d)
    X = _two_witnesses(30, 4)
    np.testing.assert_allclose(back.score_samples(X), stouffer.score_samples(X), rtol=1e-12)
    bad = {**d, "stats": {**d["stats"], "trace": {**d["stats"]["trace"], "reference": [3.0, 1.0, 2.0]}}}
    with pytest.raises(ValueError, match="sorted"):
        FusedScorer.from_parts(stouffer.scorers, bad)
    with pytest.raises(ValueError):
        FusedScorer(stouffer.scorers, rule="median")
    with pytest.raises(ValueError):
        FusedScorer(stouffer.scorers, tails={"trace": "high"})


def test_bundles_before_0_5_sum_one_sided(fused):
    d = fused.fusion_dict()
    old = {"stats": {w: {"mean": s["mean"], "std": s["std"]} for w, s in d["stats"].items()},
           "threshold": d["threshold"], "false_alarm": d["false_alarm"]}  # no method, no tails: 0.4.0's manifest
    back = FusedScorer.from_parts(fused.scorers, old)
    assert back.rule == "sum" and set(back.tails.values()) == {"low"}
    X = _two_witnesses(30, 5)
    np.testing.assert_allclose(back.score_samples(X), fused.score_samples(X), rtol=1e-12)

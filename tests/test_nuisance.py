"""Nuisance statistics and the nuisance-controlled AUC: a score that only measures sharpness loses its edge."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facecheck.evaluate import auc, controlled_aucs
from facecheck.scan.nuisance import STAT_NAMES, controlled_scores, image_stats, jpeg_quantiser


def test_stats_follow_size_sharpness_and_jpeg(tmp_path):
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    soft = cv2.GaussianBlur(sharp, (0, 0), 2)
    a, b = image_stats(sharp, (50, 150, 150, 50), 0.0), image_stats(soft, (50, 150, 150, 50), 0.0)
    assert a.shape == (len(STAT_NAMES),)
    named = dict(zip(STAT_NAMES, zip(a, b)))
    assert named["log_pixels"][0] == pytest.approx(np.log(300 * 400)) and named["log_face"][0] == pytest.approx(np.log(100))
    assert named["log_lap_var"][0] > named["log_lap_var"][1] + 2 and named["hf_share"][0] > 10 * named["hf_share"][1]
    cv2.imwrite(str(tmp_path / "q50.jpg"), sharp, [cv2.IMWRITE_JPEG_QUALITY, 50])
    cv2.imwrite(str(tmp_path / "q95.jpg"), sharp, [cv2.IMWRITE_JPEG_QUALITY, 95])
    cv2.imwrite(str(tmp_path / "x.png"), sharp)
    assert jpeg_quantiser(tmp_path / "q50.jpg") > 3 * jpeg_quantiser(tmp_path / "q95.jpg") > 0
    assert jpeg_quantiser(tmp_path / "x.png") == 0 and jpeg_quantiser(tmp_path / "missing.jpg") == 0


def _groups(rng, signal: float):
    """Reals and fakes whose score is sharpness (fakes softer, inside the reals' range), plus `signal` that only fakes have."""
    real_stats, fake_stats = rng.normal(0, 1, (1000, 2)), rng.normal(0, 1, (300, 2))
    fake_stats[:, 0] = rng.uniform(-1.5, 0.5, 300)
    real = real_stats[:, 0] + rng.normal(0, 0.1, 1000)
    fake = fake_stats[:, 0] + rng.normal(0, 0.1, 300) - signal
    return real, real_stats, fake, fake_stats


def test_a_score_that_only_measures_a_statistic_is_controlled_to_chance():
    real, rs, fake, fs = _groups(np.random.default_rng(1), signal=0.0)
    assert auc(real, fake) > 0.6
    rr, rf = controlled_scores(real, rs, fake, fs)
    assert abs(auc(rr, rf) - 0.5) < 0.06


def test_signal_beyond_the_statistics_survives_control():
    real, rs, fake, fs = _groups(np.random.default_rng(2), signal=0.5)
    out = controlled_aucs({"real": (real, rs), "gen": (fake, fs)})
    # The statistics were noise for this signal: removing them sharpens it.
    assert out["gen"]["auc_controlled"] > 0.9 and out["gen"]["auc_controlled"] > out["gen"]["auc"]


def test_real_faces_never_predict_themselves():
    """Cross-fitting: with one neighbour, a real face's prediction comes from another real face."""
    rng = np.random.default_rng(3)
    stats = rng.normal(0, 1, (50, 2))
    scores = rng.normal(0, 1, 50)
    rr, _ = controlled_scores(scores, stats, scores[:0], stats[:0], k=1)
    assert np.all(rr != 0)
    with pytest.raises(ValueError):
        controlled_scores(scores[:5], stats[:5], scores, stats)

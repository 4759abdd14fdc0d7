"""Verdicts from log-likelihoods and the threshold at a false-alarm rate."""

from __future__ import annotations

import numpy as np
import pytest

from facecheck.verdict import AI_GENERATED, ERROR, NO_FACE, REAL, VERDICTS, decide, decide_many, threshold_at


def test_verdict_names():
    assert VERDICTS == ("real", "ai-generated", "no_face", "error")
    assert (REAL, AI_GENERATED, NO_FACE, ERROR) == VERDICTS


@pytest.mark.parametrize("loglik, expected", [(-9.0, REAL), (-10.0, REAL), (-10.000001, AI_GENERATED), (-500.0, AI_GENERATED)])
def test_decide_is_real_at_or_above_the_threshold(loglik, expected):
    assert decide(loglik, -10.0) == expected


def test_decide_many_matches_decide():
    loglik = np.array([-12.0, -10.0, -3.0, -10.5])
    got = decide_many(loglik, -10.0)
    assert got.shape == (4,)
    assert list(got) == [decide(v, -10.0) for v in loglik] == [AI_GENERATED, REAL, REAL, AI_GENERATED]


def test_threshold_at_leaves_false_alarm_below():
    loglik = np.arange(1000, dtype=float)
    threshold = threshold_at(loglik, 0.05)
    assert np.mean(loglik < threshold) == pytest.approx(0.05, abs=0.001)
    assert np.mean(decide_many(loglik, threshold) == AI_GENERATED) == pytest.approx(0.05, abs=0.001)


@pytest.mark.parametrize(
    "loglik, false_alarm, message",
    [([], 0.05, "at least one"), ([1.0, np.nan], 0.05, "finite"), ([1.0, -np.inf], 0.05, "finite"),
     ([1.0, 2.0], 0.0, "between 0 and 1"), ([1.0, 2.0], 1.0, "between 0 and 1")],
)
def test_threshold_at_rejects_bad_input(loglik, false_alarm, message):
    with pytest.raises(ValueError, match=message):
        threshold_at(np.array(loglik), false_alarm)

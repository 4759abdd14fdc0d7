"""Verdicts, p_real and thresholds from held-out real faces' scores."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facecheck.model.verdict import (
    AI_GENERATED,
    DEFAULT_UNCERTAIN,
    ERROR,
    NO_FACE,
    REAL,
    UNCERTAIN,
    VERDICTS,
    RealScores,
    VerdictRule,
    threshold_at,
)


def test_verdict_names():
    assert VERDICTS == ("real", "uncertain", "ai-generated", "no_face", "error")
    assert (REAL, UNCERTAIN, AI_GENERATED, NO_FACE, ERROR) == VERDICTS


def test_threshold_at_leaves_exactly_the_false_alarm_share_below():
    loglik = np.random.default_rng(0).permutation(np.arange(1000, dtype=float))
    threshold = threshold_at(loglik, 0.05)
    assert threshold == 50.0  # an order statistic: the 51st lowest score, 50 scores below it
    assert np.mean(loglik < threshold) == 0.05


@pytest.mark.parametrize(
    "loglik, false_alarm, message",
    [([], 0.05, "at least one"), ([1.0, np.nan], 0.05, "finite"), ([1.0, -np.inf], 0.05, "finite"),
     ([1.0, 2.0], 0.0, "between 0 and 1"), ([1.0, 2.0], 1.0, "between 0 and 1")],
)
def test_threshold_at_rejects_bad_input(loglik, false_alarm, message):
    with pytest.raises(ValueError, match=message):
        threshold_at(np.array(loglik), false_alarm)


def test_p_real_is_the_share_of_real_scores_as_low_or_lower():
    real = RealScores(np.arange(100.0)[::-1])  # given unsorted
    assert len(real) == 100
    assert real.p_real(-1.0) == 0.0  # lower than every real face
    assert real.p_real(0.0) == 0.01  # as low as the lowest
    assert real.p_real(2.5) == 0.03
    assert real.p_real(99.0) == 1.0 and real.p_real(1e9) == 1.0
    assert list(real.p_real(np.array([5.0, 50.0]))) == [0.06, 0.51]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=10, max_size=300), st.floats(0.001, 0.999),
       st.lists(st.floats(-2e6, 2e6), min_size=1, max_size=20))
def test_under_the_threshold_exactly_when_at_most_the_false_alarm_share_is_as_low(real, false_alarm, faces):
    scores = RealScores(np.array(real))
    threshold = scores.threshold(false_alarm)
    faces = np.array(faces)
    as_low = np.searchsorted(np.sort(real), faces, side="right")  # real scores as low or lower
    assert np.array_equal(faces < threshold, as_low <= np.floor(false_alarm * len(real) + 1e-9))
    p = scores.p_real(faces)
    assert np.array_equal(p, as_low / len(real))
    order = np.argsort(faces, kind="stable")
    assert np.all(np.diff(p[order]) >= 0)  # monotone in the score


def test_real_scores_refuse_too_few_or_non_finite():
    with pytest.raises(ValueError, match="10 or more"):
        RealScores(np.arange(9.0))
    with pytest.raises(ValueError, match="finite"):
        RealScores(np.array([*range(20), np.nan], dtype=float))


def test_rule_has_three_verdicts_in_bands_of_p_real():
    real = RealScores(np.arange(1000.0))
    rule = VerdictRule.make(real, false_alarm=0.01, uncertain=0.05)
    assert rule.threshold == 10.0
    for score, p_real, verdict in ((9.0, 0.01, AI_GENERATED), (9.5, 0.01, AI_GENERATED), (10.0, 0.011, UNCERTAIN),
                                   (49.0, 0.05, UNCERTAIN), (50.0, 0.051, REAL)):
        assert rule.p_real(score) == pytest.approx(p_real)
        assert rule.decide(score) == verdict, score
    # On the real scores themselves: exactly 1% ai-generated, 4% uncertain.
    verdicts = [rule.decide(s) for s in real.scores_]
    assert (verdicts.count(AI_GENERATED), verdicts.count(UNCERTAIN)) == (10, 40)


def test_rule_defaults_and_no_band():
    real = RealScores(np.arange(100.0))
    assert VerdictRule.make(real, false_alarm=0.05).uncertain == DEFAULT_UNCERTAIN
    no_band = VerdictRule.make(real, false_alarm=0.05, uncertain=0.05)
    assert {no_band.decide(s) for s in np.arange(100.0)} == {REAL, AI_GENERATED}
    assert VerdictRule.make(real, false_alarm=0.5).uncertain == 0.5  # a default band never below the threshold
    with pytest.raises(ValueError, match="at least false_alarm"):
        VerdictRule.make(real, false_alarm=0.1, uncertain=0.05)


def test_rule_without_real_scores_is_two_way_at_the_given_threshold():
    rule = VerdictRule.make(None, false_alarm=0.05, threshold=-3.0)
    assert rule.p_real(0.0) is None
    assert [rule.decide(s) for s in (-3.1, -3.0, 5.0)] == [AI_GENERATED, REAL, REAL]
    with pytest.raises(ValueError, match="real scores or a threshold"):
        VerdictRule.make(None, false_alarm=0.05)

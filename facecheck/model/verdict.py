"""Turn a face's fused score into a rarity among real faces (`p_real`) and a verdict: real, uncertain, ai-generated."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..config import Config
from ..errors import ConfigError

REAL = "real"
UNCERTAIN = "uncertain"
AI_GENERATED = "ai-generated"
NO_FACE = "no_face"
ERROR = "error"
VERDICTS = (REAL, UNCERTAIN, AI_GENERATED, NO_FACE, ERROR)
# The default top of the uncertain band, as a p_real (chosen on dev: see BENCHMARKS.md, "Verdicts").
DEFAULT_UNCERTAIN = 0.20


def _check_rate(value: float, name: str) -> float:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name}={value}: must be between 0 and 1")
    return float(value)


def threshold_at(loglik_real: np.ndarray, false_alarm: float) -> float:
    """The score under which a share `false_alarm` of held-out real faces falls (at most that share).

    An order statistic, not an interpolation: with n scores, the (floor(false_alarm * n) + 1)-th lowest,
    so that a score is under the threshold exactly when its `p_real` (RealScores) is at most `false_alarm`.
    """
    loglik_real = np.asarray(loglik_real, dtype=np.float64)
    if loglik_real.size == 0 or not np.all(np.isfinite(loglik_real)):
        raise ValueError("threshold_at needs finite log-likelihoods of at least one real face")
    _check_rate(false_alarm, "false_alarm")
    ordered = np.sort(loglik_real.ravel())
    # A tolerance: 0.07 * 100 is 7.000000000000001 in floating point, but 0.29 * 100 is 28.999999999999996.
    return float(ordered[min(math.floor(false_alarm * ordered.size + 1e-9), ordered.size - 1)])


class RealScores:
    """The fused scores of held-out real faces (the calibration split), sorted: what `p_real` is measured on.

    Parameters
    ----------
    scores : (n,) finite fused scores of real faces never used to fit the mixtures.
    """

    def __init__(self, scores: np.ndarray):
        scores = np.asarray(scores, dtype=np.float64).ravel()
        if scores.size < 10 or not np.all(np.isfinite(scores)):
            raise ValueError(f"RealScores needs 10 or more finite scores, got {scores.size}")
        self.scores_ = np.sort(scores)

    def __len__(self) -> int:
        return int(self.scores_.size)

    def p_real(self, score: np.ndarray | float) -> np.ndarray:
        """Share of held-out real faces scoring as low as `score` or lower (0 to 1; monotone in `score`)."""
        return np.searchsorted(self.scores_, np.asarray(score, dtype=np.float64), side="right") / self.scores_.size

    def threshold(self, false_alarm: float) -> float:
        """The score under which a share `false_alarm` of these real faces falls (see `threshold_at`)."""
        return threshold_at(self.scores_, false_alarm)

    def histogram(self, bins: int = 40) -> tuple[np.ndarray, np.ndarray]:
        """Counts (bins,) and edges (bins + 1,) of the scores, for plots of where a face falls among them."""
        return np.histogram(self.scores_, bins=bins)


class Calibrated(Protocol):
    """What a verdict rule reads of a loaded bundle (a `Model`)."""

    path: object
    threshold: float
    false_alarm: float | None
    real_scores: RealScores | None


@dataclass(frozen=True)
class VerdictRule:
    """How a score becomes a verdict: `ai-generated` under the threshold at `false_alarm` (p_real at most
    `false_alarm`), `uncertain` from there up to a p_real of `uncertain` (included), `real` above.

    Without `real_scores` (a bundle that stores none) there is no p_real and no band: `real` at or
    above `threshold`, else `ai-generated`.
    """

    false_alarm: float
    uncertain: float
    threshold: float
    real_scores: RealScores | None = None
    uncertain_threshold: float | None = None

    @classmethod
    def make(cls, real_scores: RealScores | None, *, false_alarm: float, uncertain: float | None = None,
             threshold: float | None = None) -> "VerdictRule":
        """A rule at `false_alarm` (band up to `uncertain`, at least `false_alarm`), its threshold from the
        real scores, or `threshold` when there are none."""
        _check_rate(false_alarm, "false_alarm")
        if uncertain is None:
            uncertain = max(DEFAULT_UNCERTAIN, false_alarm)
        _check_rate(uncertain, "uncertain")
        if uncertain < false_alarm:
            raise ValueError(f"uncertain={uncertain}: must be at least false_alarm={false_alarm}")
        top = None
        if real_scores is not None:
            threshold, top = real_scores.threshold(false_alarm), real_scores.threshold(uncertain)
        elif threshold is None:
            raise ValueError("a VerdictRule needs real scores or a threshold")
        return cls(false_alarm=false_alarm, uncertain=uncertain, threshold=float(threshold), real_scores=real_scores,
                   uncertain_threshold=top)

    @classmethod
    def for_model(cls, model: Calibrated, config: Config = Config()) -> "VerdictRule":
        """How `scan` turns the bundle's scores into verdicts: its real scores at `config.false_alarm` (default
        the bundle's rate) with the uncertain band up to `config.uncertain`; ConfigError when the bundle cannot."""
        real, false_alarm, uncertain = model.real_scores, config.false_alarm, config.uncertain
        if real is None:
            if false_alarm is not None and false_alarm != model.false_alarm:
                raise ConfigError(f"{model.path}: this bundle stores no held-out real scores, so its false-alarm rate "
                                  f"is fixed at {model.false_alarm}; refit it with `facecheck train --gmm-only` to "
                                  "choose another")
            if uncertain is not None:
                raise ConfigError(f"{model.path}: this bundle stores no held-out real scores, so it has no uncertain "
                                  "band; refit it with `facecheck train --gmm-only` to get one")
            # Two verdicts at the bundle's own threshold (its rate may even be unrecorded).
            rate = model.false_alarm if model.false_alarm is not None else 0.0
            return cls(false_alarm=rate, uncertain=rate, threshold=model.threshold)
        try:
            return cls.make(real, false_alarm=model.false_alarm if false_alarm is None else false_alarm,
                            uncertain=uncertain, threshold=model.threshold)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    def p_real(self, score: np.ndarray | float) -> np.ndarray | None:
        """`RealScores.p_real` of the scores, or None without real scores."""
        return None if self.real_scores is None else self.real_scores.p_real(score)

    def decide(self, score: float) -> str:
        """The verdict of one fused score."""
        if score < self.threshold:
            return AI_GENERATED
        if self.uncertain_threshold is not None and score < self.uncertain_threshold:
            return UNCERTAIN
        return REAL


def is_grayscale(inputs: np.ndarray) -> np.ndarray:
    """(N,) bool: which faces' inputs (N, ..., 3) uint8 have no colour (R = G = B, up to JPEG's rounding)."""
    x = np.asarray(inputs, np.int16)
    if len(x) == 0:
        return np.zeros(0, bool)
    axes = tuple(range(1, x.ndim - 1))
    return (np.abs(x[..., 0] - x[..., 1]).mean(axis=axes) < 1.0) & (np.abs(x[..., 2] - x[..., 1]).mean(axis=axes) < 1.0)

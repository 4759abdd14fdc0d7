"""Turn a face's log-likelihood into a verdict against the calibrated threshold."""

from __future__ import annotations

import numpy as np

REAL = "real"
AI_GENERATED = "ai-generated"
NO_FACE = "no_face"
ERROR = "error"
VERDICTS = (REAL, AI_GENERATED, NO_FACE, ERROR)


def decide(loglik: float, threshold: float) -> str:
    """Return `real` when `loglik` is at or above `threshold`, else `ai-generated`."""
    return REAL if loglik >= threshold else AI_GENERATED


def decide_many(loglik: np.ndarray, threshold: float) -> np.ndarray:
    """Vectorised `decide`: (n,) log-likelihoods to (n,) verdict strings."""
    return np.where(np.asarray(loglik) >= threshold, REAL, AI_GENERATED)


def threshold_at(loglik_real: np.ndarray, false_alarm: float) -> float:
    """Threshold under which a fraction `false_alarm` of held-out real faces' log-likelihoods fall."""
    loglik_real = np.asarray(loglik_real, dtype=np.float64)
    if loglik_real.size == 0 or not np.all(np.isfinite(loglik_real)):
        raise ValueError("threshold_at needs finite log-likelihoods of at least one real face")
    if not 0.0 < false_alarm < 1.0:
        raise ValueError(f"false_alarm={false_alarm}: must be between 0 and 1")
    return float(np.quantile(loglik_real, false_alarm))

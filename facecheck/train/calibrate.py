"""Choose and fit the Gaussian mixture on real faces' features, then set the threshold on held-out faces."""

from __future__ import annotations

import numpy as np

from ..errors import TrainingDataError
from ..likelihood import FaceScorer

COMPONENTS = (1, 2, 4, 8, 12, 16)
COVARIANCES = ("full", "diag")
MIN_FACES = 30


def fit_scorer(
    features: np.ndarray,
    split: np.ndarray,
    *,
    false_alarm: float = 0.05,
    n_dims: int = 64,
    components: tuple[int, ...] = COMPONENTS,
    covariances: tuple[str, ...] = COVARIANCES,
    seed: int = 0,
) -> tuple[FaceScorer, dict]:
    """Fit mixtures on the "train" faces, keep the one with the best mean log-likelihood on "select",
    refit nothing, and calibrate its threshold on the "calib" faces.

    Parameters
    ----------
    features : (n_faces, n_features) float32, features of photographic faces only.
    split : (n_faces,) "train" / "select" / "calib" labels (see data.split_of).

    Returns the calibrated scorer and a report of every candidate's held-out log-likelihood.
    """
    split = np.asarray(split)
    train, select, calib = (features[split == s] for s in ("train", "select", "calib"))
    if len(train) < MIN_FACES or len(select) < 5 or len(calib) < 10:
        raise TrainingDataError(
            f"the GMM needs at least {MIN_FACES} training faces, 5 for model selection and 10 for calibration; "
            f"found {len(train)}, {len(select)} and {len(calib)} (add photos with faces, e.g. --faces DIR)"
        )
    candidates = []
    best, best_ll = None, -np.inf
    for cov in covariances:
        for k in components:
            if k * 5 > len(train):
                continue
            scorer = FaceScorer(k, covariance_type=cov, n_dims=n_dims, random_state=seed).fit(train)
            ll = float(np.mean(scorer.score_samples(select)))
            candidates.append({"n_components": k, "covariance_type": cov, "select_mean_loglik": ll})
            if ll > best_ll:
                best, best_ll = scorer, ll
    best.calibrate(calib, false_alarm)
    report = {
        "chosen": {"n_components": best.n_components, "covariance_type": best.covariance_type, "n_dims": best.n_dims},
        "candidates": candidates,
        "faces": {"train": int(len(train)), "select": int(len(select)), "calib": int(len(calib))},
        "threshold": best.threshold_,
        "false_alarm": false_alarm,
    }
    return best, report

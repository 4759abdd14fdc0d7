"""Choose and fit the Gaussian mixtures on real faces' features, fuse them, and set the threshold on held-out faces."""

from __future__ import annotations

import numpy as np

from ..errors import TrainingDataError
from ..model.likelihood import FaceScorer, FusedScorer

COMPONENTS = (1, 2, 4, 8, 12, 16)
COVARIANCES = ("full", "diag")
MIN_FACES = 30


def _splits(features: np.ndarray, split: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The "train", "select" and "calib" rows; TrainingDataError when a split is too small."""
    split = np.asarray(split)
    if len(split) != len(features):
        raise ValueError(f"{len(features)} feature rows but {len(split)} split labels")
    train, select, calib = (features[split == s] for s in ("train", "select", "calib"))
    if len(train) < MIN_FACES or len(select) < 5 or len(calib) < 10:
        raise TrainingDataError(
            f"the GMM needs at least {MIN_FACES} training faces, 5 for model selection and 10 for calibration; "
            f"found {len(train)}, {len(select)} and {len(calib)} (add photos with faces, e.g. --faces DIR)"
        )
    return train, select, calib


def _choose_mixture(train: np.ndarray, select: np.ndarray, *, n_dims: int, components: tuple[int, ...],
                    covariances: tuple[str, ...], seed: int) -> tuple[FaceScorer, list[dict]]:
    """Fit mixtures on `train`; keep the one with the best mean log-likelihood on `select` (nothing is refitted)."""
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
    return best, candidates


def _chosen(scorer: FaceScorer) -> dict:
    return {"n_components": scorer.n_components, "covariance_type": scorer.covariance_type, "n_dims": scorer.n_dims}


def _counts(*parts: np.ndarray) -> dict:
    return dict(zip(("train", "select", "calib"), (int(len(p)) for p in parts)))


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
    """One witness's mixture without fusion: fitted on "train", chosen on "select", its own log-likelihood
    threshold set on "calib" (for probes of a single witness; bundles use `fit_fused`).

    Parameters
    ----------
    features : (n_faces, n_features) float32, features of photographic faces only.
    split : (n_faces,) "train" / "select" / "calib" labels (see data.split_of).

    Returns the calibrated scorer and a report of every candidate's held-out log-likelihood.
    """
    train, select, calib = _splits(features, split)
    best, candidates = _choose_mixture(train, select, n_dims=n_dims, components=components, covariances=covariances,
                                       seed=seed)
    best.calibrate(calib, false_alarm)
    report = {"chosen": _chosen(best), "candidates": candidates,
              "faces": _counts(train, select, calib),
              "threshold": best.threshold_, "false_alarm": false_alarm}
    return best, report


def fit_fused(
    features_by_witness: dict[str, np.ndarray],
    split: np.ndarray,
    *,
    false_alarm: float = 0.05,
    seed: int = 0,
    n_dims: int = 64,
    components: tuple[int, ...] = COMPONENTS,
    covariances: tuple[str, ...] = COVARIANCES,
    rule: str = "sum",
    tails: dict[str, str] | None = None,
) -> tuple[FusedScorer, dict]:
    """Fit each witness's mixture on "train" (chosen on "select"), the fusion statistics on "select",
    and the threshold of the fused score on "calib" (`rule` and `tails`: see FusedScorer).

    Parameters
    ----------
    features_by_witness : {witness name: (n_faces, n_features) float32}, the same photographic faces
        in the same order for every witness (the witnesses' order is the bundle's).
    split : (n_faces,) "train" / "select" / "calib" labels (see data.split_of).

    Returns the calibrated FusedScorer and a report: per witness the chosen mixture and every candidate,
    the fusion statistics, face counts, threshold and false-alarm rate.
    """
    if not features_by_witness:
        raise ValueError("fit_fused needs the features of at least one witness")
    scorers, witnesses, splits = {}, {}, {}
    for name, features in features_by_witness.items():
        splits[name] = _splits(np.asarray(features), split)
        train, select, _ = splits[name]
        scorers[name], candidates = _choose_mixture(train, select, n_dims=n_dims, components=components,
                                                    covariances=covariances, seed=seed)
        witnesses[name] = {"chosen": _chosen(scorers[name]), "candidates": candidates}
    fused = FusedScorer(scorers, rule=rule, tails=tails)
    fused.fit_fusion(fused.witness_scores({name: s[1] for name, s in splits.items()}))
    fused.calibrate({name: s[2] for name, s in splits.items()}, false_alarm)
    report = {
        "witnesses": witnesses,
        "fusion": {w: {k: v for k, v in st.items() if k != "reference"} for w, st in fused.fusion_dict()["stats"].items()},
        "fusion_rule": rule,
        "faces": _counts(*next(iter(splits.values()))),
        "threshold": fused.threshold_,
        "false_alarm": false_alarm,
        "calibration": calibration_record(fused.score_samples({n: s[2] for n, s in splits.items()}),
                                          fused.threshold_, false_alarm),
    }
    return fused, report


def calibration_record(held_out: np.ndarray, threshold: float, false_alarm: float) -> dict:
    """How well `held_out` (fused scores of real faces) resolves the threshold set at `false_alarm` on them:
    their number, the share under the threshold, and how many faces put ten under it."""
    return {"held_out_faces": int(len(held_out)), "false_alarm_measured": float(np.mean(np.asarray(held_out) < threshold)),
            "held_out_needed": int(np.ceil(10 / false_alarm))}

"""Model photographic faces' features with Gaussian mixtures (one per witness); fuse and score log-likelihoods."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from statistics import NormalDist

import numpy as np

from ..errors import NotFittedError, WeightsError
from .verdict import RealScores, threshold_at

_FORMAT = "facecheck-face-scorer/1"
REAL_SCORES_FILE = "real_scores.npy"  # the held-out real faces' fused scores, sorted (p_real)
FUSION_RULES = {
    "sum": "sum over witnesses of (loglik - mean) / std, both measured on held-out real faces",
    "stouffer": "Stouffer: sum over witnesses of the normal quantile of the witness's p-value among held-out real "
                "faces, divided by the square root of the number of witnesses",
}
TAILS = ("low", "both")  # a witness's unusual side: low log-likelihood only, or also one too typical of real faces


class FaceScorer:
    """Standardise, project (PCA, whitened) and fit a GaussianMixture to real faces' features.

    Parameters
    ----------
    n_components : mixture components.
    covariance_type : "full", "diag", "tied" or "spherical" (scikit-learn's names).
    n_dims : PCA dimensions kept before the mixture (None keeps all).
    reg_covar : added to covariance diagonals, in whitened units.
    random_state : seed of the mixture's initialisation.
    """

    def __init__(
        self,
        n_components: int = 8,
        *,
        covariance_type: str = "full",
        n_dims: int | None = 64,
        reg_covar: float = 1e-3,
        max_iter: int = 200,
        random_state: int = 0,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.n_dims = n_dims
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X: np.ndarray) -> "FaceScorer":
        """Fit on features X (n_faces, n_features) of photographic faces; returns self."""
        X = self._check_X(X, fitted=False)
        self.mean_ = X.mean(axis=0)
        self.scale_ = X.std(axis=0) + 1e-6
        Z = (X - self.mean_) / self.scale_
        n_dims = min(self.n_dims or X.shape[1], X.shape[1], X.shape[0] - 1)
        # scikit-learn fits; scoring is numpy on the fitted arrays, so loading a bundle (every scan)
        # never imports scikit-learn and SciPy: about 1 s of start-up.
        from sklearn.decomposition import PCA
        from sklearn.mixture import GaussianMixture

        pca = PCA(n_components=n_dims, whiten=True, random_state=self.random_state).fit(Z)
        self.components_ = (pca.components_ / np.sqrt(pca.explained_variance_)[:, None]).astype(np.float64)
        gmm = GaussianMixture(
            n_components=self.n_components,
            covariance_type=self.covariance_type,
            reg_covar=self.reg_covar,
            max_iter=self.max_iter,
            n_init=1,
            random_state=self.random_state,
        ).fit(self._project(X))
        self.weights_, self.means_ = gmm.weights_, gmm.means_
        self.covariances_, self.precisions_cholesky_ = gmm.covariances_, gmm.precisions_cholesky_
        self.threshold_ = None
        self.false_alarm_ = None
        return self

    def _check_X(self, X: np.ndarray, *, fitted: bool) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"X has shape {X.shape}; expected (n_faces, n_features)")
        if fitted and X.shape[1] != self.mean_.shape[0]:
            raise ValueError(f"X has {X.shape[1]} features; the scorer was fitted on {self.mean_.shape[0]}")
        if not fitted and X.shape[0] < max(2, self.n_components):
            raise ValueError(f"fit needs at least {max(2, self.n_components)} faces, got {X.shape[0]}")
        if not np.all(np.isfinite(X)):
            raise ValueError("X holds NaN or infinite values")
        return X

    def _project(self, X: np.ndarray) -> np.ndarray:
        # einsum, not BLAS: a face's score is the same to the last bit alone or in any batch.
        return np.einsum("nf,df->nd", (X - self.mean_) / self.scale_, self.components_)

    def _require_fit(self) -> None:
        if not hasattr(self, "means_"):
            raise NotFittedError("this FaceScorer is not fitted; call fit() or FaceScorer.load()")

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """Return log-likelihoods (n_faces,) of features X under the mixture (higher = more photographic)."""
        self._require_fit()
        X = self._check_X(X, fitted=True)
        if X.shape[0] == 0:
            return np.zeros(0)
        return _mixture_loglik(self._project(X), self.weights_, self.means_, self.precisions_cholesky_,
                               self.covariance_type)

    def calibrate(self, X_heldout: np.ndarray, false_alarm: float = 0.05) -> "FaceScorer":
        """Set `threshold_` so that a fraction `false_alarm` of held-out real faces X falls below it."""
        self.threshold_ = threshold_at(self.score_samples(X_heldout), false_alarm)
        self.false_alarm_ = float(false_alarm)
        return self

    def save(self, path: str | Path) -> None:
        """Write parameters and arrays to one .npz file (no pickle)."""
        self._require_fit()
        params = {
            "format": _FORMAT,
            "n_components": self.n_components,
            "covariance_type": self.covariance_type,
            "n_dims": self.n_dims,
            "reg_covar": self.reg_covar,
            "max_iter": self.max_iter,
            "random_state": self.random_state,
            "threshold": self.threshold_,
            "false_alarm": self.false_alarm_,
        }
        buf = io.BytesIO()
        np.savez(
            buf,
            params=np.array(json.dumps(params)),
            mean=self.mean_,
            scale=self.scale_,
            components=self.components_,
            weights=self.weights_,
            means=self.means_,
            covariances=self.covariances_,
            precisions_cholesky=self.precisions_cholesky_,
        )
        Path(path).write_bytes(buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> "FaceScorer":
        """Read a scorer written by `save` (arrays only: `allow_pickle=False`)."""
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            params = json.loads(str(arrays.pop("params")))
            if params.get("format") != _FORMAT:
                raise ValueError(f"unknown format {params.get('format')!r}")
            scorer = cls(
                params["n_components"],
                covariance_type=params["covariance_type"],
                n_dims=params["n_dims"],
                reg_covar=params["reg_covar"],
                max_iter=params["max_iter"],
                random_state=params["random_state"],
            )
            scorer.mean_, scorer.scale_ = arrays["mean"], arrays["scale"]
            scorer.components_ = arrays["components"]
            scorer.weights_, scorer.means_ = arrays["weights"], arrays["means"]
            scorer.covariances_ = arrays["covariances"]
            scorer.precisions_cholesky_ = arrays["precisions_cholesky"]
            _check_shapes(scorer)
            # Numbers or None, whatever the file says (a string here once failed only at scan time).
            scorer.threshold_ = None if params["threshold"] is None else float(params["threshold"])
            scorer.false_alarm_ = None if params["false_alarm"] is None else float(params["false_alarm"])
        # MemoryError: an array header can claim any shape; RecursionError: deeply nested params JSON.
        except (OSError, KeyError, ValueError, TypeError, AttributeError, EOFError, zipfile.BadZipFile,
                MemoryError, RecursionError) as exc:
            raise WeightsError(f"{path}: not a valid face-scorer file ({str(exc) or type(exc).__name__})") from None
        return scorer


class FusedScorer:
    """One fitted FaceScorer per witness, fused into one score (higher = more photographic).

    Each witness's log-likelihood is first oriented: with tails "low" it is used as it is; with tails
    "both" it becomes minus its distance to the median of held-out real faces, so a face too typical of
    real faces is as unusual as one too rare (a generator's mode-seeking samples can be more likely
    under a model of real faces than real faces are). Then, with `rule`:
    - "sum": sum over witnesses w of (s_w - mean_w) / std_w, the statistics of held-out real faces;
    - "stouffer": sum over witnesses of the normal quantile of s_w's empirical p-value among the held-out
      real faces' oriented scores, divided by sqrt(number of witnesses): a witness that is unusual for
      a face counts as much as its rarity, whatever the shape of its distribution.
    With one witness and the sum rule the fused score is an affine function of its log-likelihood.

    Parameters
    ----------
    scorers : witness name -> fitted FaceScorer, in the witnesses' order.
    rule : "sum" (facecheck 0.4.0's) or "stouffer".
    tails : witness name -> "low" or "both" (default "low").
    """

    def __init__(self, scorers: dict[str, FaceScorer], *, rule: str = "sum", tails: dict[str, str] | None = None):
        if rule not in FUSION_RULES:
            raise ValueError(f"fusion rule {rule!r}: use one of {', '.join(FUSION_RULES)}")
        tails = dict(tails or {})
        if set(tails) - set(scorers) or set(tails.values()) - set(TAILS):
            raise ValueError(f"tails {tails}: give 'low' or 'both' for witnesses among {list(scorers)}")
        self.scorers = dict(scorers)
        self.rule = rule
        self.tails = {name: tails.get(name, "low") for name in self.scorers}

    @property
    def names(self) -> list[str]:
        return list(self.scorers)

    def _check_keys(self, by_witness: dict, what: str) -> None:
        if not self.scorers:
            raise NotFittedError("this FusedScorer has no witness scorers")
        if not isinstance(by_witness, dict) or list(by_witness) != self.names:
            got = list(by_witness) if isinstance(by_witness, dict) else type(by_witness).__name__
            raise ValueError(f"{what} are given for {got}; expected one array per witness: {self.names}")

    def witness_scores(self, features_by_witness: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each witness's log-likelihoods {name: (n_faces,)} of its features {name: (n_faces, n_features)}."""
        self._check_keys(features_by_witness, "features")
        return {name: self.scorers[name].score_samples(features_by_witness[name]) for name in self.names}

    def _oriented(self, name: str, ll: np.ndarray) -> np.ndarray:
        ll = np.asarray(ll, np.float64)
        return ll if self.tails[name] == "low" else -np.abs(ll - self.centre_[name])

    def fit_fusion(self, logliks_by_witness: dict[str, np.ndarray]) -> "FusedScorer":
        """Learn each witness's statistics on held-out real faces' log-likelihoods (median for two-sided
        witnesses, mean and std, and for the Stouffer rule the sorted oriented scores); returns self."""
        self._check_keys(logliks_by_witness, "log-likelihoods")
        self.mean_, self.std_, self.centre_, self.reference_ = {}, {}, {}, {}
        for name, ll in logliks_by_witness.items():
            ll = np.asarray(ll, dtype=np.float64)
            if ll.ndim != 1 or len(ll) < 2 or not np.all(np.isfinite(ll)) or not np.std(ll) > 0:
                raise ValueError(f"witness {name!r}: fusion needs 2 or more finite, not all equal log-likelihoods")
            if self.tails[name] == "both":
                self.centre_[name] = float(np.median(ll))
            s = self._oriented(name, ll)
            self.mean_[name], self.std_[name] = float(np.mean(s)), float(np.std(s))
            if not self.std_[name] > 0:
                raise ValueError(f"witness {name!r}: its oriented scores on real faces are all equal")
            if self.rule == "stouffer":
                self.reference_[name] = np.sort(s)
        self.threshold_ = None
        self.false_alarm_ = None
        self.real_scores_ = None
        return self

    def fuse(self, logliks_by_witness: dict[str, np.ndarray]) -> np.ndarray:
        """Fused scores (n_faces,) of each witness's log-likelihoods {name: (n_faces,)}."""
        if not hasattr(self, "mean_"):
            raise NotFittedError("this FusedScorer has no fusion statistics; call fit_fusion() or load one")
        self._check_keys(logliks_by_witness, "log-likelihoods")
        oriented = {w: self._oriented(w, ll) for w, ll in logliks_by_witness.items()}
        if self.rule == "sum":
            return sum((s - self.mean_[w]) / self.std_[w] for w, s in oriented.items())
        return sum(_normal_quantile(_p_values(self.reference_[w], s)) for w, s in oriented.items()) / np.sqrt(len(oriented))

    def score_samples(self, features_by_witness: dict[str, np.ndarray]) -> np.ndarray:
        """Fused scores (n_faces,) of features {name: (n_faces, n_features)} (higher = more photographic)."""
        return self.fuse(self.witness_scores(features_by_witness))

    def calibrate(self, features_calib: dict[str, np.ndarray], false_alarm: float = 0.05) -> "FusedScorer":
        """Keep the held-out real faces' fused scores (`real_scores_`, for p_real) and set `threshold_` so
        that a fraction `false_alarm` of them falls below it."""
        scores = self.score_samples(features_calib)
        self.threshold_ = threshold_at(scores, false_alarm)
        self.false_alarm_ = float(false_alarm)
        self.real_scores_ = RealScores(scores) if len(scores) >= 10 else None
        return self

    def fusion_dict(self) -> dict:
        """The fusion rule and statistics, threshold and false-alarm rate as plain JSON values."""
        if not hasattr(self, "mean_"):
            raise NotFittedError("this FusedScorer has no fusion statistics; call fit_fusion() first")
        stats = {}
        for w in self.names:
            stats[w] = {"mean": self.mean_[w], "std": self.std_[w]}
            if self.tails[w] == "both":
                stats[w].update(tails="both", centre=self.centre_[w])
            if self.rule == "stouffer":
                stats[w]["reference"] = self.reference_[w].tolist()
        return {"rule": FUSION_RULES[self.rule], "method": self.rule, "stats": stats,
                "threshold": self.threshold_, "false_alarm": self.false_alarm_}

    @classmethod
    def from_parts(cls, scorers: dict[str, FaceScorer], fusion: dict) -> "FusedScorer":
        """Rebuild from fitted scorers and a `fusion_dict`; ValueError when they do not fit together."""
        stats = fusion["stats"]
        if not isinstance(stats, dict) or list(stats) != list(scorers):
            raise ValueError(f"fusion statistics are for {list(stats)}, the scorers for {list(scorers)}")
        method = fusion.get("method", "sum")  # bundles before 0.5.0 summed standardised log-likelihoods
        fused = cls(scorers, rule=method, tails={w: stats[w].get("tails", "low") for w in stats})
        fused.mean_ = {w: float(stats[w]["mean"]) for w in fused.names}
        fused.std_ = {w: float(stats[w]["std"]) for w in fused.names}
        fused.centre_ = {w: float(stats[w]["centre"]) for w in fused.names if fused.tails[w] == "both"}
        fused.reference_ = {}
        if method == "stouffer":
            for w in fused.names:
                ref = np.asarray(stats[w]["reference"], np.float64)
                if ref.ndim != 1 or len(ref) < 2 or not np.all(np.isfinite(ref)) or np.any(np.diff(ref) < 0):
                    raise ValueError(f"witness {w!r}: the reference scores must be 2 or more finite numbers, sorted")
                fused.reference_[w] = ref
        if not all(np.isfinite(fused.mean_[w]) and 0 < fused.std_[w] < np.inf for w in fused.names):
            raise ValueError("fusion statistics must be finite, with positive standard deviations")
        if not all(np.isfinite(c) for c in fused.centre_.values()):
            raise ValueError("fusion centres must be finite")
        fused.threshold_ = None if fusion["threshold"] is None else float(fusion["threshold"])
        fused.false_alarm_ = None if fusion["false_alarm"] is None else float(fusion["false_alarm"])
        real = fusion.get("real_scores")
        fused.real_scores_ = None if real is None else RealScores(real)
        return fused


def _p_values(reference: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """(rank + 1) / (n + 2) of each score among n sorted reference scores: a p-value never 0 or 1."""
    return (np.searchsorted(reference, scores, side="right") + 1.0) / (len(reference) + 2.0)


_INV_CDF = np.frompyfunc(NormalDist().inv_cdf, 1, 1)


def _normal_quantile(p: np.ndarray) -> np.ndarray:
    """The standard normal quantile of each p in (0, 1) (the standard library's; SciPy stays out of a scan)."""
    return np.asarray(_INV_CDF(np.asarray(p, np.float64)), np.float64).reshape(np.shape(p))


def load_real_scores(path: str | Path) -> np.ndarray:
    """Read a REAL_SCORES_FILE: a 1-D float64 .npy array (never a pickle); ValueError when it is not one."""
    with open(path, "rb") as f:
        array = np.load(f, allow_pickle=False)
    if not isinstance(array, np.ndarray) or array.ndim != 1 or array.dtype != np.float64:
        raise ValueError(f"{Path(path).name} is not a 1-D float64 array")
    return array


_PRECISION_NDIM = {"full": 3, "tied": 2, "diag": 2, "spherical": 1}


def _check_shapes(scorer: FaceScorer) -> None:
    """Refuse arrays that do not form a mixture over the projected features."""
    k, d = scorer.means_.shape
    prec = scorer.precisions_cholesky_
    if (scorer.covariance_type not in _PRECISION_NDIM or prec.ndim != _PRECISION_NDIM[scorer.covariance_type]
            or scorer.weights_.shape != (k,) or scorer.components_.shape[0] != d
            or (prec.ndim > 1 and prec.shape[-1] != d)):
        raise ValueError("mixture arrays have inconsistent shapes")


def _mixture_loglik(Z: np.ndarray, weights: np.ndarray, means: np.ndarray, prec_chol: np.ndarray, kind: str) -> np.ndarray:
    """log sum_k w_k N(z; mu_k, Sigma_k) per row, from Cholesky factors of the precisions (scikit-learn's layout);
    each row's value does not depend on the others (einsum, not BLAS).

    Z : (n, d); means : (k, d); prec_chol : (k, d, d) full, (d, d) tied, (k, d) diag, (k,) spherical.
    """
    n, d = Z.shape
    if kind == "full":
        log_det = np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
        y = np.einsum("nd,kde->nke", Z, prec_chol) - np.einsum("kd,kde->ke", means, prec_chol)[None]
        maha = (y**2).sum(axis=2)
    elif kind == "tied":
        log_det = np.log(np.diag(prec_chol)).sum()
        maha = ((np.einsum("nd,de->ne", Z, prec_chol)[:, None, :] - (means @ prec_chol)[None]) ** 2).sum(axis=2)
    elif kind == "diag":
        log_det = np.log(prec_chol).sum(axis=1)
        prec = prec_chol**2
        maha = (means**2 * prec).sum(axis=1) - 2 * np.einsum("nd,kd->nk", Z, means * prec) + np.einsum("nd,kd->nk", Z**2, prec)
    else:  # spherical
        log_det = d * np.log(prec_chol)
        prec = prec_chol**2
        maha = (means**2).sum(axis=1) * prec - 2 * np.einsum("nd,kd->nk", Z, means) * prec + np.outer((Z**2).sum(axis=1), prec)
    joint = -0.5 * (d * np.log(2 * np.pi) + maha) + log_det + np.log(weights)
    top = joint.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(joint - top).sum(axis=1, keepdims=True)))[:, 0]

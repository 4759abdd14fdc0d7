"""Model photographic faces' features with a Gaussian mixture; score faces by log-likelihood."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from .errors import NotFittedError, WeightsError
from .verdict import decide_many, threshold_at

_FORMAT = "facecheck-face-scorer/1"


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
        return ((X - self.mean_) / self.scale_) @ self.components_.T

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

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Return verdicts (n_faces,): "real" at or above the threshold, else "ai-generated"."""
        self._require_fit()
        if self.threshold_ is None:
            raise NotFittedError("this FaceScorer has no threshold; call calibrate() first")
        return decide_many(self.score_samples(X), self.threshold_)

    def bic(self, X: np.ndarray) -> float:
        """Bayesian information criterion of the fitted mixture on X (lower is better)."""
        loglik = self.score_samples(X)
        k, d = self.means_.shape
        cov = {"full": k * d * (d + 1) / 2, "diag": k * d, "tied": d * (d + 1) / 2, "spherical": k}[self.covariance_type]
        n_params = cov + k * d + k - 1
        return float(-2 * loglik.sum() + n_params * np.log(len(loglik)))

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
    """log sum_k w_k N(z; mu_k, Sigma_k) per row, from Cholesky factors of the precisions (scikit-learn's layout).

    Z : (n, d); means : (k, d); prec_chol : (k, d, d) full, (d, d) tied, (k, d) diag, (k,) spherical.
    """
    n, d = Z.shape
    if kind == "full":
        log_det = np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
        y = np.einsum("nd,kde->nke", Z, prec_chol) - np.einsum("kd,kde->ke", means, prec_chol)[None]
        maha = (y**2).sum(axis=2)
    elif kind == "tied":
        log_det = np.log(np.diag(prec_chol)).sum()
        maha = (((Z @ prec_chol)[:, None, :] - (means @ prec_chol)[None]) ** 2).sum(axis=2)
    elif kind == "diag":
        log_det = np.log(prec_chol).sum(axis=1)
        prec = prec_chol**2
        maha = (means**2 * prec).sum(axis=1) - 2 * Z @ (means * prec).T + (Z**2) @ prec.T
    else:  # spherical
        log_det = d * np.log(prec_chol)
        prec = prec_chol**2
        maha = (means**2).sum(axis=1) * prec - 2 * (Z @ means.T) * prec + np.outer((Z**2).sum(axis=1), prec)
    joint = -0.5 * (d * np.log(2 * np.pi) + maha) + log_det + np.log(weights)
    top = joint.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(joint - top).sum(axis=1, keepdims=True)))[:, 0]

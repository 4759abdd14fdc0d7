"""Pretext losses: pairwise EXIF ranking with the fidelity loss, and original-vs-manipulated."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

# Log-values closer than this are treated as equal: such pairs carry no ordering signal.
TIE_EPS = 1e-6

# Below this a square root's argument counts as zero; bounds d sqrt(x)/dx by 1 / (2 sqrt(eps)).
_SQRT_EPS = 1e-12


def fidelity_loss(p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Elementwise fidelity loss ``1 - sqrt(p g) - sqrt((1-p)(1-g))``, in [0, 1].

    Parameters
    ----------
    p : tensor of predicted probabilities in [0, 1]
    g : tensor of target probabilities (usually 0 or 1), broadcastable to `p`

    Finite value and gradient everywhere, including p in {0, 1}.
    """
    p = p.clamp(0.0, 1.0)
    g = g.to(p.dtype)
    return 1.0 - _safe_sqrt(p * g) - _safe_sqrt((1.0 - p) * (1.0 - g))


def pairwise_ranking_loss(scores: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean fidelity loss over all valid ordered pairs of the batch, pooled across tags.

    Parameters
    ----------
    scores : (B, K) float, one score per tag (K = 4: ISO, F-number, exposure, focal length)
    targets : (B, K) float, log EXIF values, NaN where missing

    Returns
    -------
    loss : () tensor; ``scores.sum() * 0`` (zero, still in the graph) when no pair is valid
    pair_counts : (K,) int64, valid ordered pairs (i, j), i != j, per tag; twice the unordered count
    """
    losses, valid = _pair_losses(scores, targets)
    counts = valid.sum(dim=(0, 1))
    total = torch.where(valid, losses, torch.zeros_like(losses)).sum()
    return total / counts.sum().clamp_min(1), counts


def ranking_loss_per_tag(scores: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean fidelity loss per tag, for logging or per-tag weighting.

    Returns
    -------
    per_tag_loss : (K,) tensor, 0 (still in the graph) for tags without valid pairs
    pair_counts : (K,) int64, valid ordered pairs per tag
    """
    losses, valid = _pair_losses(scores, targets)
    counts = valid.sum(dim=(0, 1))
    totals = torch.where(valid, losses, torch.zeros_like(losses)).sum(dim=(0, 1))
    return totals / counts.clamp_min(1), counts


def pairwise_accuracy(
    scores: torch.Tensor | np.ndarray, targets: torch.Tensor | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per tag, the fraction of valid unordered pairs whose scores are ordered like the targets.

    A tie in scores counts as half right, so constant scores give 0.5.

    Returns
    -------
    accuracy : (K,) float64, NaN for tags without valid pairs
    pair_counts : (K,) int64, valid unordered pairs (i < j) per tag
    """
    s = _as_numpy(scores)
    t = _as_numpy(targets)
    _check_shapes(s.shape, t.shape)
    upper = np.triu(np.ones((len(s), len(s)), dtype=bool), k=1)[:, :, None]
    ds = s[:, None, :] - s[None, :, :]
    with np.errstate(invalid="ignore"):
        dt = t[:, None, :] - t[None, :, :]
        valid = upper & (np.abs(dt) > TIE_EPS)  # NaN compares False: missing values drop out
    agreement = np.where(ds == 0, 0.5, (np.sign(ds) == np.sign(np.nan_to_num(dt))).astype(np.float64))
    counts = valid.sum(axis=(0, 1))
    right = np.where(valid, agreement, 0.0).sum(axis=(0, 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(counts > 0, right / np.maximum(counts, 1), np.nan)
    return accuracy, counts.astype(np.int64)


def manipulation_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean binary loss of the manipulated (1) vs original (0) head.

    Parameters
    ----------
    logits : (B,) or (B, 1) float, raw head outputs
    labels : (B,) int or float in {0, 1}
    """
    # BCE-with-logits rather than fidelity: it is stable via log-sum-exp and, unlike the bounded
    # fidelity loss, keeps pushing on confidently wrong examples instead of saturating.
    return F.binary_cross_entropy_with_logits(logits.reshape(-1), labels.reshape(-1).to(logits.dtype))


def _pair_losses(scores: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Fidelity losses (B, B, K) of every ordered pair and the mask of valid ones."""
    _check_shapes(tuple(scores.shape), tuple(targets.shape))
    targets = targets.to(device=scores.device, dtype=scores.dtype)
    diff_s = scores[:, None, :] - scores[None, :, :]
    diff_t = targets[:, None, :] - targets[None, :, :]
    # NaN compares False, so pairs with a missing value drop out; the diagonal is a zero-difference tie.
    valid = diff_t.abs() > TIE_EPS
    # Thurstone model: scores are means of unit-variance Gaussians, so their difference has std sqrt(2).
    p = torch.special.ndtr(diff_s / math.sqrt(2.0))
    g = (diff_t > 0).to(scores.dtype)
    return fidelity_loss(p, g), valid


def _safe_sqrt(x: torch.Tensor) -> torch.Tensor:
    """sqrt that returns 0 with a zero (not infinite) gradient for x below `_SQRT_EPS`."""
    positive = x > _SQRT_EPS
    # The inner where keeps sqrt's backward away from 0, where it would give inf * 0 = NaN.
    return torch.where(positive, torch.sqrt(torch.where(positive, x, torch.ones_like(x))), torch.zeros_like(x))


def _as_numpy(values: torch.Tensor | np.ndarray) -> np.ndarray:
    """A float64 numpy copy of a tensor or array."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.float64)


def _check_shapes(scores_shape: tuple[int, ...], targets_shape: tuple[int, ...]) -> None:
    """Raise ValueError unless scores and targets are matching (B, K) arrays."""
    if len(scores_shape) != 2 or tuple(scores_shape) != tuple(targets_shape):
        raise ValueError(
            f"scores and targets must both be (batch, n_tags); got {tuple(scores_shape)} and {tuple(targets_shape)}"
        )

"""Tests for facecheck.train.exif_ranking: fidelity ranking loss, accuracy and the manipulation loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from facecheck.train.exif_ranking import (
    fidelity_loss,
    manipulation_loss,
    pairwise_accuracy,
    pairwise_ranking_loss,
    ranking_loss_per_tag,
)

NAN = float("nan")


def _phi(x: float) -> float:
    """Standard normal CDF."""
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def test_fidelity_loss_hand_values() -> None:
    p = torch.tensor([0.5, 0.5, 1.0, 0.0, 1.0, 0.0, 0.8])
    g = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0])
    expected = [1 - math.sqrt(0.5), 1 - math.sqrt(0.5), 0.0, 0.0, 1.0, 1.0, 1 - math.sqrt(0.8)]
    assert fidelity_loss(p, g).tolist() == pytest.approx(expected, abs=1e-6)


def test_fidelity_loss_soft_target() -> None:
    loss = fidelity_loss(torch.tensor([0.3]), torch.tensor([0.3]))
    assert loss.item() == pytest.approx(0.0, abs=1e-6)  # p == g is the minimum


def test_equal_scores_give_one_minus_sqrt_half() -> None:
    scores = torch.zeros(2, 4)
    targets = torch.tensor([[1.0, 2.0, 3.0, 4.0], [2.0, 1.0, 3.5, 3.0]])
    loss, counts = pairwise_ranking_loss(scores, targets)
    assert loss.item() == pytest.approx(1 - math.sqrt(0.5), abs=1e-6)
    assert counts.tolist() == [2, 2, 2, 2]


def test_hand_computed_pair() -> None:
    # One tag, s = (1, 0): p(0 above 1) = Phi(1 / sqrt 2); target says 0 is above 1.
    scores = torch.tensor([[1.0], [0.0]])
    targets = torch.tensor([[5.0], [2.0]])
    loss, counts = pairwise_ranking_loss(scores, targets)
    p = _phi(1.0 / math.sqrt(2.0))
    assert loss.item() == pytest.approx(1 - math.sqrt(p), abs=1e-6)  # both orders give the same loss
    assert counts.tolist() == [2]
    wrong, _ = pairwise_ranking_loss(scores, -targets)
    assert wrong.item() == pytest.approx(1 - math.sqrt(1 - p), abs=1e-6)


def test_large_margins() -> None:
    targets = torch.tensor([[3.0], [1.0]])
    right, _ = pairwise_ranking_loss(torch.tensor([[20.0], [-20.0]]), targets)
    wrong, _ = pairwise_ranking_loss(torch.tensor([[-20.0], [20.0]]), targets)
    assert right.item() == pytest.approx(0.0, abs=1e-5)
    assert wrong.item() == pytest.approx(1.0, abs=1e-5)


def test_equal_and_missing_values_are_ignored() -> None:
    targets = torch.tensor(
        [
            [1.0, NAN, 2.0, 0.0],
            [1.0, 1.0, NAN, 1.0],
            [2.0, 2.0, NAN, 2.0],
        ]
    )
    scores = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    _, counts = pairwise_ranking_loss(scores, targets)
    # tag 0: rows 0,1 tie -> pairs (0,2), (1,2); tag 1: (1,2); tag 2: none; tag 3: all three pairs.
    assert counts.tolist() == [4, 2, 0, 6]
    _, acc_counts = pairwise_accuracy(scores, targets)
    assert acc_counts.tolist() == [2, 1, 0, 3]


def test_ignored_pairs_do_not_change_loss() -> None:
    scores = torch.tensor([[0.3], [-1.0], [2.0]])
    base, _ = pairwise_ranking_loss(scores[:2], torch.tensor([[1.0], [0.0]]))
    with_missing, counts = pairwise_ranking_loss(scores, torch.tensor([[1.0], [0.0], [NAN]]))
    assert counts.tolist() == [2]
    assert with_missing.item() == pytest.approx(base.item(), abs=1e-7)


def test_no_valid_pairs_gives_grad_safe_zero() -> None:
    scores = torch.randn(4, 4, requires_grad=True)
    targets = torch.full((4, 4), NAN)
    targets[:, 0] = 1.0  # all equal: ties only
    loss, counts = pairwise_ranking_loss(scores, targets)
    assert loss.item() == 0.0 and counts.sum().item() == 0
    loss.backward()
    assert scores.grad is not None and torch.all(scores.grad == 0)
    per_tag, _ = ranking_loss_per_tag(scores, targets)
    assert per_tag.tolist() == [0.0, 0.0, 0.0, 0.0]


def test_symmetric_under_batch_permutation_and_joint_negation() -> None:
    gen = torch.Generator().manual_seed(1)
    scores = torch.randn(8, 4, generator=gen)
    targets = torch.randn(8, 4, generator=gen)
    targets[2, 1] = NAN
    loss, counts = pairwise_ranking_loss(scores, targets)
    perm = torch.randperm(8, generator=gen)
    loss_perm, counts_perm = pairwise_ranking_loss(scores[perm], targets[perm])
    loss_neg, _ = pairwise_ranking_loss(-scores, -targets)
    assert loss_perm.item() == pytest.approx(loss.item(), abs=1e-6)
    assert loss_neg.item() == pytest.approx(loss.item(), abs=1e-6)
    assert counts_perm.tolist() == counts.tolist()


def test_per_tag_loss_is_consistent_with_pooled_loss() -> None:
    gen = torch.Generator().manual_seed(2)
    scores = torch.randn(6, 4, generator=gen)
    targets = torch.randn(6, 4, generator=gen)
    targets[:3, 3] = NAN
    loss, counts = pairwise_ranking_loss(scores, targets)
    per_tag, counts2 = ranking_loss_per_tag(scores, targets)
    assert counts.tolist() == counts2.tolist() == [30, 30, 30, 6]
    pooled = (per_tag * counts).sum() / counts.sum()
    assert loss.item() == pytest.approx(pooled.item(), abs=1e-6)


def test_matches_explicit_loop() -> None:
    gen = torch.Generator().manual_seed(3)
    scores = torch.randn(5, 2, generator=gen, dtype=torch.float64)
    targets = torch.randint(0, 3, (5, 2), generator=gen).to(torch.float64)
    total, n = 0.0, 0
    for k in range(2):
        for i in range(5):
            for j in range(5):
                if i != j and targets[i, k] != targets[j, k]:
                    p = _phi((scores[i, k] - scores[j, k]).item() / math.sqrt(2))
                    g = 1.0 if targets[i, k] > targets[j, k] else 0.0
                    total += 1 - math.sqrt(p * g) - math.sqrt((1 - p) * (1 - g))
                    n += 1
    loss, counts = pairwise_ranking_loss(scores, targets)
    assert counts.sum().item() == n
    assert loss.item() == pytest.approx(total / n, abs=1e-9)


@pytest.mark.parametrize("magnitude", [0.0, 5.0, 40.0, 1e4])
def test_gradient_finite_at_extreme_scores(magnitude: float) -> None:
    scores = torch.tensor([[magnitude, -magnitude], [-magnitude, magnitude], [0.0, 0.0]], requires_grad=True)
    targets = torch.tensor([[1.0, 1.0], [0.0, 0.0], [0.5, 0.5]])
    loss, _ = pairwise_ranking_loss(scores, targets)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(scores.grad).all()


def test_gradient_finite_for_fidelity_at_bounds() -> None:
    p = torch.tensor([0.0, 1.0, 0.0, 1.0, 1e-30], requires_grad=True)
    g = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0])
    fidelity_loss(p, g).sum().backward()
    assert torch.isfinite(p.grad).all()


def test_gradient_moves_scores_towards_correct_order() -> None:
    scores = torch.zeros(2, 1, requires_grad=True)
    loss, _ = pairwise_ranking_loss(scores, torch.tensor([[2.0], [1.0]]))
    loss.backward()
    assert scores.grad[0, 0] < 0 < scores.grad[1, 0]  # descent raises row 0, lowers row 1


def test_accuracy_perfect_reversed_and_constant() -> None:
    targets = np.log(np.array([[100, 1.8, 0.01, 4], [200, 2.8, 0.02, 35], [400, 4.0, 0.04, 50], [800, 8.0, 0.5, 200]]))
    perfect, counts = pairwise_accuracy(targets * 3 + 1, targets)
    reversed_, _ = pairwise_accuracy(-targets, targets)
    constant, _ = pairwise_accuracy(np.zeros_like(targets), targets)
    assert perfect.tolist() == [1.0] * 4 and counts.tolist() == [6] * 4
    assert reversed_.tolist() == [0.0] * 4
    assert constant.tolist() == [0.5] * 4


def test_accuracy_accepts_torch_and_gives_nan_without_pairs() -> None:
    scores = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 5.0]], requires_grad=True)
    targets = torch.tensor([[1.0, NAN], [0.0, NAN], [3.0, 7.0]])
    accuracy, counts = pairwise_accuracy(scores, targets)
    assert accuracy[0] == 1.0 and np.isnan(accuracy[1])
    assert counts.tolist() == [3, 0]


def test_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="batch, n_tags"):
        pairwise_ranking_loss(torch.zeros(3, 4), torch.zeros(3, 3))
    with pytest.raises(ValueError):
        pairwise_accuracy(np.zeros(4), np.zeros(4))


def test_manipulation_loss() -> None:
    logits = torch.tensor([[0.0], [0.0]])
    labels = torch.tensor([1, 0])
    assert manipulation_loss(logits, labels).item() == pytest.approx(math.log(2.0), abs=1e-6)
    confident = manipulation_loss(torch.tensor([30.0, -30.0]), torch.tensor([1.0, 0.0]))
    wrong = manipulation_loss(torch.tensor([-30.0, 30.0]), torch.tensor([1.0, 0.0]))
    assert confident.item() < 1e-6 and wrong.item() == pytest.approx(30.0, rel=1e-4)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(-50, 50), st.one_of(st.just(NAN), st.floats(-5, 5))),
        min_size=2,
        max_size=12,
    )
)
def test_loss_bounded_and_counts_symmetric(rows: list[tuple[float, float]]) -> None:
    scores = torch.tensor([[s] for s, _ in rows], dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([[t] for _, t in rows], dtype=torch.float64)
    loss, counts = pairwise_ranking_loss(scores, targets)
    _, unordered = pairwise_accuracy(scores, targets)
    assert 0.0 <= loss.item() <= 1.0
    assert counts.item() == 2 * unordered[0]
    loss.backward()
    assert torch.isfinite(scores.grad).all()

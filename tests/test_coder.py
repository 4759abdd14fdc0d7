"""The coder witness: a causal CNN coder of real faces' pixels, its expected cost, training, features and file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_surprise import SPEC, _textured  # ramps plus noise, 2 x 2 patches of 32 px

from facecheck.errors import ConfigError, WeightsError
from facecheck.model.witnesses import load_witness
from facecheck.model.witnesses.coder import (
    SCALES,
    CausalCoder,
    CoderWitness,
    T,
    _entropy_table,
    _expected,
    _log_probs,
    _planes,
)


def test_the_coder_only_sees_pixels_before_each_pixel():
    torch.manual_seed(0)
    net = CausalCoder()
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.3)
    x = torch.randint(0, 256, (1, 1, 16, 16)).float()
    changed = x.clone()
    changed[0, 0, 8, 8] += 40
    with torch.no_grad():
        moved = (net(x, 0) - net(changed, 0)).abs().sum(dim=1)[0] > 1e-6
    rows, cols = np.nonzero(moved.numpy())
    assert len(rows) and min(r * 16 + c for r, c in zip(rows, cols)) > 8 * 16 + 8  # only pixels after it in raster order


def test_laws_sum_to_one_and_the_entropy_table_matches_the_sum():
    centre, log_scale = torch.tensor([0.0, 0.3, -7.5, 40.0]), torch.tensor([-2.5, 0.0, 2.0, 4.5])
    lp = _log_probs(torch.arange(-T, T + 1).float().view(1, -1), centre.view(-1, 1), log_scale.view(-1, 1))
    assert torch.allclose(lp.exp().sum(dim=1), torch.ones(4), atol=1e-5)
    exact = -(lp.exp() * lp).sum(dim=1)
    assert torch.allclose(_expected(_entropy_table(), centre, log_scale), exact, atol=0.03)


def test_training_lowers_the_cost_and_features_are_deterministic():
    x = _textured(16, 0)
    untrained = CoderWitness(spec=SPEC)

    def cost(w: CoderWitness) -> float:
        return float(sum(w.loss(plane, j) for j, plane in _planes(x)))
    with torch.no_grad():
        before = cost(untrained)
    w = CoderWitness.learn(x, np.arange(16), steps=60, batch=8, lr=1e-2, seed=0, spec=SPEC)
    with torch.no_grad():
        after = cost(w)
    assert after < 0.8 * before
    feats = w.transform(x[:3])
    assert feats.shape == (3, w.n_features) == (3, 25 * len(SCALES)) and feats.dtype == np.float32 and np.isfinite(feats).all()
    assert np.array_equal(feats, w.transform(x[:3].copy()))
    assert w.transform(x[:0]).shape == (0, w.n_features)
    with pytest.raises(ConfigError):
        w.transform(x[:, :, :16])


def test_a_face_unlike_the_training_faces_is_surprising():
    """Trained on ramps with little noise, the coder expects about what faces like them cost (gap near 0) and is
    surprised by much noisier ones (their cost exceeds what it expects)."""
    w = CoderWitness.learn(_textured(32, 1), np.arange(32), steps=150, batch=8, lr=1e-2, seed=0, spec=SPEC)
    overall = [25 * j + 24 for j in range(len(SCALES))]  # each scale's mean gap
    same, other = w.transform(_textured(8, 2))[:, overall[0]], w.transform(_textured(8, 3, sigma=20.0))[:, overall[0]]
    assert np.abs(same).mean() < 0.3 and other.min() > same.max() + 0.5


def test_save_load_round_trip_and_refusals(tmp_path):
    w = CoderWitness(spec=SPEC, name="coder")
    torch.manual_seed(1)
    for p in w.network.parameters():
        torch.nn.init.normal_(p, std=0.05)
    path = tmp_path / "coder.pt"
    w.save(path)
    config = json.loads(json.dumps(w.config()))
    back = load_witness(path, config, name="coder")
    x = _textured(2, 4)
    assert isinstance(back, CoderWitness) and np.array_equal(back.transform(x), w.transform(x))
    with pytest.raises(WeightsError, match="another coder"):
        load_witness(path, {**config, "channels": 8}, name="coder")
    torch.save({"first.weight": torch.zeros(3)}, tmp_path / "bad.pt")
    with pytest.raises(WeightsError, match="bad.pt"):
        load_witness(tmp_path / "bad.pt", config, name="coder")

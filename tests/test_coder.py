"""The coder witness: a causal CNN coder of real faces' pixels (trained in torch, scanned in numpy), its expected
cost, training, features and file."""

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
    TABLE,
    CoderWitness,
    T,
    _table,
    entropy_table,
    expected_cost,
    log_probs,
)
from facecheck.model.witnesses.coder_net import CausalCoder, cost
from facecheck.model.witnesses.surprise import _planes


def _random_network(seed: int, std: float = 0.3) -> CausalCoder:
    torch.manual_seed(seed)
    net = CausalCoder()
    for p in net.parameters():
        torch.nn.init.normal_(p, std=std)
    return net.eval()


def test_the_coder_only_sees_pixels_before_each_pixel_and_numpy_runs_the_torch_network():
    net = _random_network(0)
    witness = CoderWitness(net.arrays(), spec=SPEC)
    x = np.random.default_rng(0).integers(0, 256, (2, 16, 16)).astype(np.int16)
    changed = x.copy()
    changed[0, 8, 8] += 40
    centre, log_scale = witness.predict(x, 1)
    for predicted in (lambda p: np.stack(witness.predict(p, 1), axis=1),
                      lambda p: net(torch.from_numpy(p[:, None]).float(), 1).detach().numpy()):
        moved = np.abs(predicted(x) - predicted(changed)).sum(axis=1)[0] > 1e-6
        rows, cols = np.nonzero(moved)
        assert len(rows) and min(r * 16 + c for r, c in zip(rows, cols)) > 8 * 16 + 8  # only pixels after it in raster order
    with torch.no_grad():
        out = net(torch.from_numpy(x[:, None]).float(), 1).numpy()
    assert np.allclose(centre, np.clip(out[:, 0], -T, T), atol=1e-4) and np.allclose(log_scale, np.clip(out[:, 1], -3, 5), atol=1e-4)


def test_laws_sum_to_one_and_the_packaged_entropy_table_is_the_computed_one():
    centre, log_scale = np.array([0.0, 0.3, -7.5, 40.0]), np.array([-2.5, 0.0, 2.0, 4.5])
    lp = log_probs(np.arange(-T, T + 1.0)[None], centre[:, None], log_scale[:, None])
    assert np.allclose(np.exp(lp).sum(axis=1), 1, atol=1e-6)
    exact = -(np.exp(lp) * lp).sum(axis=1)
    assert TABLE.exists() and np.array_equal(_table(), entropy_table())
    assert np.allclose(expected_cost(_table(), centre, log_scale), exact, atol=0.03)


def test_training_lowers_the_cost_and_features_are_deterministic():
    x = _textured(16, 0)

    def mean_cost(net: CausalCoder) -> float:
        with torch.no_grad():
            return float(sum(cost(net, plane.reshape(-1, *plane.shape[2:]), j) for _, j, plane in _planes(x, "luma")))
    w = CoderWitness.learn(x, np.arange(16), steps=60, batch=8, lr=1e-2, seed=0, spec=SPEC)
    trained = CausalCoder()
    trained.load_state_dict({k: torch.from_numpy(v) for k, v in w.state.items()})
    assert mean_cost(trained) < 0.8 * mean_cost(_random_network(0, std=0.05))
    feats = w.transform(x[:3])
    assert feats.shape == (3, w.n_features) == (3, 25 * len(SCALES)) and feats.dtype == np.float32 and np.isfinite(feats).all()
    assert np.array_equal(feats, w.transform(x[:3].copy())) and np.array_equal(feats[1:2], w.transform(x[1:2]))
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


def test_save_load_round_trip_the_old_torch_file_and_refusals(tmp_path):
    net = _random_network(1, std=0.05)
    w = CoderWitness(net.arrays(), spec=SPEC, name="coder")
    path = tmp_path / f"coder{w.file_suffix}"
    w.save(path)
    config = json.loads(json.dumps(w.config()))
    x = _textured(2, 4)
    back = load_witness(path, config, name="coder")
    assert isinstance(back, CoderWitness) and np.array_equal(back.transform(x), w.transform(x))
    torch.save(net.state_dict(), tmp_path / "coder.pt")  # how facecheck 0.8.2 saved it
    assert np.array_equal(load_witness(tmp_path / "coder.pt", config, name="coder").transform(x), w.transform(x))
    with pytest.raises(WeightsError, match="another coder"):
        load_witness(path, {**config, "channels": 8}, name="coder")
    with pytest.raises(WeightsError, match="patch spec"):
        load_witness(path, {**config, "spec": {"type": "patches", "size": 4096, "grid": 3, "scale": 1.0}}, name="coder")
    np.savez(tmp_path / "bad.npz", **{**w.state, "first.weight": np.zeros(3, np.float32)})
    with pytest.raises(WeightsError, match="bad.npz"):
        load_witness(tmp_path / "bad.npz", config, name="coder")
    np.savez(tmp_path / "nan.npz", **{**w.state, "head.bias": np.full(2, np.nan, np.float32)})
    with pytest.raises(WeightsError, match="not finite"):
        load_witness(tmp_path / "nan.npz", config, name="coder")
    torch.save({"first.weight": torch.zeros(3)}, tmp_path / "bad.pt")
    with pytest.raises(WeightsError, match="bad.pt"):
        load_witness(tmp_path / "bad.pt", config, name="coder")

"""The trace witness: native patches, SRM front end, save/load, and the pair training that feeds it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facecheck.errors import ConfigError, WeightsError
from facecheck.model.witnesses.base import PatchSpec
from facecheck.model.witnesses.trace import SRMFilter, TraceNet, TraceWitness
from facecheck.train.trace_loop import TraceSettings, TraceTrainer, make_batch, make_pair


def _image(h: int = 160, w: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_patch_spec_cuts_native_pixels():
    im = _image()
    patches = PatchSpec(size=32, grid=2).cut(im, (40, 140, 120, 60))
    assert patches.shape == (4, 32, 32, 3)
    # Every patch is a verbatim block of the image (no resampling).
    for p in patches:
        hits = [(y, x) for y in range(im.shape[0] - 31) for x in range(im.shape[1] - 31)
                if np.array_equal(im[y : y + 32, x : x + 32], p)]
        assert hits


def test_patch_spec_handles_tiny_boxes_and_images():
    assert PatchSpec(size=64, grid=2).cut(_image(), (0, 10, 10, 0)).shape == (4, 64, 64, 3)
    assert PatchSpec(size=64, grid=2).cut(_image(40, 30), (5, 25, 35, 5)).shape == (4, 64, 64, 3)


def test_srm_ignores_flat_and_linear_images():
    x = torch.full((1, 3, 32, 32), 100.0)
    ramp = torch.arange(32.0).view(1, 1, 1, 32).expand(1, 3, 32, 32) * 2
    srm = SRMFilter()
    assert srm(x)[:, :, 3:-3, 3:-3].abs().max() < 1e-5
    assert srm(ramp)[:, :, 3:-3, 3:-3].abs().max() < 1e-4


def test_witness_features_are_the_mean_of_patch_embeddings(tmp_path):
    torch.manual_seed(0)
    w = TraceWitness(TraceNet((8, 16), 16), spec=PatchSpec(32, 2))
    inputs = np.stack([PatchSpec(32, 2).cut(_image(seed=s), (20, 150, 140, 40)) for s in range(3)])
    feats = w.transform(inputs)
    assert feats.shape == (3, 16) and feats.dtype == np.float32
    assert np.allclose(feats[1], w.embed_patches(inputs[1]).mean(axis=0), atol=1e-5)
    w.save(tmp_path / "t.pt")
    back = TraceWitness.load(tmp_path / "t.pt", w.config())
    assert np.allclose(back.transform(inputs), feats, atol=1e-5)
    with pytest.raises(ConfigError):
        w.transform(inputs[:, :, :16])


def test_load_refuses_mismatched_or_pickled_weights(tmp_path):
    w = TraceWitness(TraceNet((8, 16), 16), spec=PatchSpec(32, 2))
    w.save(tmp_path / "t.pt")
    cfg = w.config()
    with pytest.raises(WeightsError):
        TraceWitness.load(tmp_path / "t.pt", {**cfg, "network": {"widths": [8, 32], "embed_dim": 16}})
    torch.save({"x": object()}, tmp_path / "evil.pt", _use_new_zipfile_serialization=True)
    with pytest.raises(WeightsError):
        TraceWitness.load(tmp_path / "evil.pt", cfg)


def test_pairs_share_position_and_history():
    im = _image(300, 300)
    real, fake = make_pair(im, np.random.default_rng(0), 64)
    assert real.shape == fake.shape == (64, 64, 3)
    # Same content: the re-rendered patch is close to the real one, not a different place.
    assert np.abs(real.astype(int) - fake).mean() < np.abs(real.astype(int) - _image(64, 64, 9)).mean()
    patches, labels = make_batch([im], 4, (0, 1), 64, 0.5)
    assert patches.shape == (8, 64, 64, 3) and labels.tolist() == [0, 1] * 4
    assert np.array_equal(make_batch([im], 4, (0, 1), 64, 0.5)[0], patches)


def test_trainer_resumes_exactly_after_an_interruption(tmp_path):
    images = [_image(128, 128, s) for s in range(12)]
    s = TraceSettings(steps=4, pairs_per_batch=4, widths=(8, 16), embed_dim=16, warmup_steps=1, patch=32)
    full = TraceTrainer(s, tmp_path / "a")
    history = full.fit(images, images)
    assert history[-1]["step"] == 4 and 0.0 <= history[-1]["val_acc"] <= 1.0

    def stop_at_two(step, total):
        if step == 2:
            raise KeyboardInterrupt

    first = TraceTrainer(s, tmp_path / "b")
    with pytest.raises(KeyboardInterrupt):
        first.fit(images, images, progress=stop_at_two)
    resumed = TraceTrainer(s, tmp_path / "b")
    assert resumed.resume() and resumed.step == 2
    resumed.fit(images, images)
    for k, v in full.network.state_dict().items():
        assert torch.allclose(v.float(), resumed.network.state_dict()[k].float(), atol=1e-5), k
    other = TraceTrainer(TraceSettings(**{**s.__dict__, "seed": 1}), tmp_path / "b")
    with pytest.raises(Exception, match="other trace settings"):
        other.resume()

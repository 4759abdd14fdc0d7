"""The appearance witness in numpy: the same embedding as FaceNet in torch, safe .npz weights, and scans without torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from test_train_pipeline import photo_folder  # noqa: F401 (a fixture: 70 camera-like photos)

from facecheck.errors import ConfigError, WeightsError
from facecheck.model.witnesses.appearance import AppearanceWitness, FaceNetArrays
from facecheck.model.witnesses.facenet import FaceNet, FeatureExtractor
from facecheck.model.witnesses.layout import state_shapes

# The CLI in a process where importing torch fails as it does where torch is not installed.
NO_TORCH = """
import sys

class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}")

sys.meta_path.insert(0, NoTorch())
from facecheck.cli import run
sys.argv = ["facecheck", *sys.argv[1:]]
run()
"""

CONFIGS = [((8, 16, 16, 32), (1, 1, 1, 1), 16), ((8, 8, 16, 16), (2, 1, 2, 1), 8), ((32, 64, 128, 256), (1, 2, 2, 2), 256)]


def _trained_like(widths, blocks, embed_dim, seed=0) -> FeatureExtractor:
    """A FaceNet whose batch norms carry non-trivial statistics, as after training (eval mode)."""
    torch.manual_seed(seed)
    net = FaceNet(widths, blocks, embed_dim)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5), m.bias.uniform_(-0.2, 0.2)
    return FeatureExtractor(net.eval(), input_size=40, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))


@pytest.mark.parametrize("widths,blocks,embed_dim", CONFIGS)
def test_state_shapes_are_facenets(widths, blocks, embed_dim):
    with torch.device("meta"):
        torch_shapes = {k: tuple(v.shape) for k, v in FaceNet(widths, blocks, embed_dim).state_dict().items()}
    assert state_shapes(widths, blocks, embed_dim) == torch_shapes


@pytest.mark.parametrize("widths,blocks,embed_dim", CONFIGS[:2])
def test_numpy_embedding_is_torchs(widths, blocks, embed_dim):
    ex = _trained_like(widths, blocks, embed_dim)
    witness = AppearanceWitness(ex)  # converted to numpy
    crops = np.random.default_rng(0).integers(0, 256, (37, 40, 40, 3), dtype=np.uint8)  # more than one batch
    got, want = witness.transform(crops), ex.transform(crops)
    assert got.dtype == np.float32 and got.shape == want.shape == (37, embed_dim)
    assert np.allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    # One face alone gives what it gives in a batch.
    assert np.allclose(witness.transform(crops[5:6]), got[5:6], rtol=1e-5, atol=1e-6)
    assert witness.transform(np.zeros((0, 40, 40, 3), np.uint8)).shape == (0, embed_dim)
    with pytest.raises(ConfigError, match="expected"):
        witness.transform(crops[:, :32, :32])


def test_a_faces_features_do_not_depend_on_its_batch_or_the_thread_count():
    """Bit for bit: the same face alone, in a batch of others, on one or two BLAS threads (rows are reproducible)."""
    from threadpoolctl import threadpool_limits

    witness = AppearanceWitness(_trained_like(*CONFIGS[0]))
    crops = np.random.default_rng(2).integers(0, 256, (9, 40, 40, 3), dtype=np.uint8)
    with threadpool_limits(2):
        batch = witness.transform(crops)
    with threadpool_limits(1):
        alone = np.concatenate([witness.transform(crops[i : i + 1]) for i in (4, 0, 8)])
    assert np.array_equal(alone, batch[[4, 0, 8]])


def test_save_load_round_trip_and_torch_view(tmp_path):
    ex = _trained_like(*CONFIGS[0])
    witness = AppearanceWitness(ex, scale=1.2)
    witness.save(tmp_path / "a.weights.npz")
    back = AppearanceWitness.load(tmp_path / "a.weights.npz", witness.config())
    crops = np.random.default_rng(1).integers(0, 256, (4, 40, 40, 3), dtype=np.uint8)
    assert np.array_equal(back.transform(crops), witness.transform(crops)) and back.spec == witness.spec
    # The torch view of the same weights (fine-tuning, GPUs) embeds as the numpy network does.
    assert np.allclose(back.extractor().transform(crops), ex.transform(crops), atol=1e-6)
    # An older bundle's torch state_dict loads into the numpy network.
    ex.save(tmp_path / "a.pt")
    old = AppearanceWitness.load(tmp_path / "a.pt", witness.config())
    assert isinstance(old.network, FaceNetArrays) and np.array_equal(old.transform(crops), witness.transform(crops))


@pytest.mark.parametrize("tamper", ["extra key", "missing key", "wrong shape", "object array", "not finite", "truncated",
                                    "huge network"])
def test_bad_weights_are_refused(tmp_path, tamper):
    witness = AppearanceWitness(_trained_like(*CONFIGS[0]))
    path, config = tmp_path / "a.weights.npz", witness.config()
    state = dict(witness.network.state)
    if tamper == "extra key":
        state["payload"] = np.zeros(3)
    elif tamper == "missing key":
        state.pop("stem.0.weight")
    elif tamper == "wrong shape":
        state["stem.0.weight"] = np.zeros((4, 3, 3, 3), np.float32)
    elif tamper == "object array":
        state["stem.0.weight"] = np.array([None] * 3, dtype=object)
    elif tamper == "not finite":
        state["stem.0.weight"] = np.full_like(state["stem.0.weight"], np.inf)
    elif tamper == "huge network":
        config = json.loads(json.dumps(config))
        config["extractor"]["network"]["widths"] = [10**6] * 4
    np.savez(path, **state)
    if tamper == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(WeightsError, match="a.weights.npz"):
        AppearanceWitness.load(path, config)


def test_a_scan_never_imports_torch(tiny_model_dir, astronaut_path, tmp_path):
    """With torch unimportable, scan and info still work; train says what to install."""
    script = NO_TORCH
    scan = subprocess.run([sys.executable, "-c", script, "scan", str(astronaut_path), "--model", str(tiny_model_dir),
                           "--json", "--stability"], capture_output=True, text=True, timeout=300)
    assert scan.returncode == 0, scan.stderr
    rows = json.loads(scan.stdout)
    assert rows and all(np.isfinite(r["loglik"]) for r in rows if r["face_index"] is not None)
    train = subprocess.run([sys.executable, "-c", script, "train", str(tmp_path), "--out", str(tmp_path / "b")],
                           capture_output=True, text=True, timeout=300)
    assert train.returncode == 2 and "training needs torch" in train.stderr and len(train.stderr.splitlines()) == 1


def test_refitting_the_mixtures_needs_no_torch(photo_folder, tiny_model_dir, tmp_path):
    """`train --gmm-only` keeps the witnesses (the appearance CNN in numpy): it runs with torch unimportable."""
    script = NO_TORCH
    out = tmp_path / "refit"
    done = subprocess.run([sys.executable, "-c", script, "train", str(photo_folder), "--out", str(out), "--gmm-only",
                           "--init", str(tiny_model_dir), "--false-alarm", "0.1", "-j", "1", "-q"],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "c")})
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "manifest.json").read_text())["false_alarm"] == 0.1

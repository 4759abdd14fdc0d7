"""FaceNet (bare torch module) and FeatureExtractor (normalisation, batching, save/load, device)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facecheck.errors import ConfigError, NotFittedError, WeightsError
from facecheck.model.witnesses.facenet import N_EXIF_TAGS, FaceNet, FeatureExtractor
from facecheck.model.witnesses.networks import resolve_device

SMALL = {"widths": (8, 16, 16, 32), "blocks": (1, 1, 1, 1), "embed_dim": 16}
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")


def _extractor(seed=0, **kwargs) -> FeatureExtractor:
    torch.manual_seed(seed)
    return FeatureExtractor(FaceNet(**SMALL), input_size=32, **kwargs)


def _crops(n, size=32, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("size", [32, 64])
def test_facenet_output_shapes(size):
    torch.manual_seed(0)
    net = FaceNet(**SMALL).eval()
    with torch.no_grad():
        z, exif, manip = net(torch.randn(3, 3, size, size))
        assert z.shape == (3, 16) and exif.shape == (3, N_EXIF_TAGS) and manip.shape == (3,)
        assert torch.equal(net.embed(torch.zeros(2, 3, size, size)), net(torch.zeros(2, 3, size, size))[0])


def test_facenet_config_rebuilds_the_same_architecture():
    net = FaceNet(**SMALL)
    clone = FaceNet(**net.config())
    assert net.config() == {"widths": [8, 16, 16, 32], "blocks": [1, 1, 1, 1], "embed_dim": 16}
    shapes = {k: v.shape for k, v in net.state_dict().items()}
    assert shapes == {k: v.shape for k, v in clone.state_dict().items()}
    clone.load_state_dict(net.state_dict())  # strict: same keys and shapes


def test_transform_shape_dtype_and_empty_batch():
    ex = _extractor()
    feats = ex.transform(_crops(5))
    assert feats.shape == (5, 16) and feats.dtype == np.float32 and np.all(np.isfinite(feats))
    empty = ex.transform(np.zeros((0, 32, 32, 3), np.uint8))
    assert empty.shape == (0, 16) and empty.dtype == np.float32


def test_features_do_not_depend_on_the_batch():
    crops = _crops(7)
    whole = _extractor(batch_size=64).transform(crops)
    np.testing.assert_allclose(_extractor(batch_size=2).transform(crops), whole, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_extractor().transform(crops[3:4]), whole[3:4], rtol=1e-5, atol=1e-5)
    assert not np.allclose(whole[0], whole[1])  # different crops, different features


def test_to_tensor_normalises_pixels():
    ex = _extractor()
    crops = np.zeros((2, 32, 32, 3), np.uint8)
    crops[1] = 255
    x = ex.to_tensor(crops)
    assert x.shape == (2, 3, 32, 32) and x.dtype == torch.float32
    assert torch.all(x[0] == -1.0) and torch.all(x[1] == 1.0)  # mean 0.5, std 0.5


@pytest.mark.parametrize(
    "shape",
    [(2, 64, 64, 3), (2, 32, 32), (2, 3, 32, 32), (32, 32, 3), (2, 32, 32, 4)],
    ids=["wrong-size", "grey", "channels-first", "no-batch", "rgba"],
)
def test_wrong_crop_shape_raises_config_error(shape):
    with pytest.raises(ConfigError, match=r"expected \(N, 32, 32, 3\)"):
        _extractor().transform(np.zeros(shape, np.uint8))


def test_save_load_round_trip_gives_identical_features(tmp_path):
    ex = _extractor(seed=3)
    crops = _crops(6, seed=1)
    before = ex.transform(crops)
    ex.save(tmp_path / "extractor.pt")
    loaded = FeatureExtractor.load(tmp_path / "extractor.pt", ex.config())
    assert loaded.input_size == 32 and loaded.config() == ex.config()
    assert np.array_equal(loaded.transform(crops), before)
    other = _extractor(seed=4).transform(crops)
    assert not np.allclose(other, before)  # the weights, not the architecture, made them equal


def test_saved_file_is_a_plain_state_dict(tmp_path):
    ex = _extractor()
    ex.save(tmp_path / "extractor.pt")
    state = torch.load(tmp_path / "extractor.pt", weights_only=True)
    assert set(state) == set(ex.network.state_dict())
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_load_refuses_an_unknown_architecture(tmp_path):
    ex = _extractor()
    ex.save(tmp_path / "extractor.pt")
    with pytest.raises(WeightsError, match="architecture"):
        FeatureExtractor.load(tmp_path / "extractor.pt", {**ex.config(), "architecture": "ResNet50"})
    with pytest.raises(WeightsError, match="extractor.pt"):  # weights for another shape
        FeatureExtractor.load(tmp_path / "extractor.pt", {**ex.config(), "network": {**SMALL, "embed_dim": 8}})


def test_transform_without_network_raises_not_fitted():
    with pytest.raises(NotFittedError):
        FeatureExtractor(None, input_size=32).transform(_crops(1))


@no_cuda
def test_cuda_without_gpu_is_an_error_not_a_fallback(tmp_path):
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        _extractor(device="cuda").transform(_crops(1))
    ex = _extractor()
    ex.save(tmp_path / "extractor.pt")
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        FeatureExtractor.load(tmp_path / "extractor.pt", ex.config(), device="cuda:0")


def test_unknown_device_is_an_error():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match="'tpu'"):
        resolve_device("tpu")

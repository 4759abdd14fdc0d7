"""Shared fixtures: tiny synthetic images, a broken-file zoo, and a tiny bundle built by the real code path."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
ASTRONAUT = REPO / "examples" / "astronaut.jpg"
SHARED = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _temporary_cache(tmp_path_factory):
    """Every test, and every process it starts, caches under a temporary folder, never in the user's ~/.cache."""
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg_cache"))
    yield
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old



@pytest.fixture(scope="session")
def astronaut_path() -> Path:
    """A public-domain portrait (NASA, via scikit-image) with one detectable face."""
    return ASTRONAUT


@pytest.fixture(scope="session")
def two_faces_path(tmp_path_factory) -> Path:
    """A photo with two real faces (the astronaut beside her mirror image), both found and verified."""
    from PIL import Image

    image = np.asarray(Image.open(ASTRONAUT).convert("RGB"))
    path = tmp_path_factory.mktemp("two_faces") / "two_faces.jpg"
    Image.fromarray(np.hstack([image, image[:, ::-1]])).save(path, quality=95)
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not available")
    return SHARED


def _variants(crop: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Photometric variants of one crop (brightness, contrast, noise, flips)."""
    out = []
    for _ in range(n):
        x = crop.astype(np.float32) * rng.uniform(0.7, 1.3) + rng.uniform(-25, 25)
        x = (x - x.mean()) * rng.uniform(0.8, 1.2) + x.mean() + rng.normal(0, rng.uniform(1, 6), x.shape)
        if rng.random() < 0.5:
            x = x[:, ::-1]
        out.append(np.clip(x, 0, 255).astype(np.uint8))
    return np.stack(out)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny bundle: one appearance witness (small FaceNet), mixture and fusion fitted on astronaut variants."""
    return build_tiny_bundle(tmp_path_factory.mktemp("bundle") / "tiny")


def _tiny_appearance(seed: int = 0):
    """(witness, features of 120 variants of the astronaut's face) for a small FaceNet seeded by `seed`."""
    from facecheck.model.witnesses.appearance import AppearanceWitness
    from facecheck.model.witnesses.facenet import FaceNet, FeatureExtractor
    from facecheck.scan.detect import detect_faces
    from facecheck.scan.io import load_image

    torch.manual_seed(seed)
    witness = AppearanceWitness(FeatureExtractor(FaceNet(widths=(8, 16, 16, 32), blocks=(1, 1, 1, 1), embed_dim=16),
                                                 input_size=64), name="appearance" if seed == 0 else f"appearance_{seed}")
    image = load_image(ASTRONAUT)
    crops = _variants(witness.spec.cut(image, detect_faces(image)[0].box), 120, np.random.default_rng(0))
    return witness, witness.transform(crops)


def build_tiny_bundle(out: Path, seeds: tuple[int, ...] = (0,)) -> Path:
    """Write the tiny test bundle to `out` through the real save path (also used by scripts/fuzz_nightly.py).

    One appearance witness per seed (named "appearance", then "appearance_<seed>"): mixtures fitted on
    80 variants of the astronaut's face, fusion statistics and threshold on the other 40.
    """
    from facecheck.model.bundle import save_bundle
    from facecheck.model.likelihood import FaceScorer, FusedScorer

    witnesses, fit, held_out = [], {}, {}
    for seed in seeds:
        witness, features = _tiny_appearance(seed)
        witnesses.append(witness)
        fit[witness.name] = FaceScorer(2, n_dims=8, random_state=0).fit(features[:80])
        held_out[witness.name] = features[80:]
    scorer = FusedScorer(fit)
    scorer.fit_fusion(scorer.witness_scores(held_out)).calibrate(held_out, 0.05)
    return save_bundle(out, witnesses, scorer, training={"note": "test bundle: astronaut variants"})


def build_legacy_bundle(out: Path) -> Path:
    """The tiny bundle as facecheck 0.2.0 wrote it ("facecheck-bundle/1": extractor.pt, scorer.npz)."""
    import json

    from facecheck.model.bundle import sha256_file
    from facecheck.model.likelihood import FaceScorer

    witness, features = _tiny_appearance(0)
    scorer = FaceScorer(2, n_dims=8, random_state=0).fit(features[:80]).calibrate(features[80:], 0.05)
    out.mkdir(parents=True)
    witness.extractor().save(out / "extractor.pt")
    scorer.save(out / "scorer.npz")
    manifest = {
        "format": "facecheck-bundle/1", "facecheck_version": "0.2.0", "created": "2026-11-22T04:55:55+00:00",
        "extractor": witness.network.extractor_config, "crop_scale": 1.3, "threshold": scorer.threshold_,
        "false_alarm": scorer.false_alarm_, "gmm": {"n_components": 2, "covariance_type": "full", "n_dims": 8},
        "training": {"note": "written the 0.2.0 way"},
        "files": {name: sha256_file(out / name) for name in ("extractor.pt", "scorer.npz")},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out


@pytest.fixture(scope="session")
def fused_model_dir(tmp_path_factory) -> Path:
    """A tiny bundle of two appearance witnesses of different seeds ("appearance", "appearance_1"), fused."""
    return build_tiny_bundle(tmp_path_factory.mktemp("fused") / "fused", seeds=(0, 1))


@pytest.fixture(scope="session")
def legacy_model_dir(tmp_path_factory) -> Path:
    """A "facecheck-bundle/1" bundle (facecheck 0.2.0's format)."""
    return build_legacy_bundle(tmp_path_factory.mktemp("legacy") / "legacy")


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    """The tiny bundle, loaded."""
    from facecheck.model.bundle import load_model

    return load_model(tiny_model_dir)


def write_image(path: Path, size=(48, 32), mode="RGB", fmt=None, **save_kwargs) -> Path:
    """Write a small random image in `mode` and return its path."""
    # Seeded by the file name (crc32: hash() changes between runs, tmp_path too).
    rng = np.random.default_rng(zlib.crc32(os.fsencode(Path(path).name)))
    w, h = size
    if mode in ("I;16",):
        img = Image.fromarray(rng.integers(0, 65535, (h, w), dtype=np.uint16))
    else:
        img = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).convert(mode)
    img.save(path, format=fmt, **save_kwargs)
    return path


def make_broken_files(folder: Path) -> list[Path]:
    """Files facecheck must report as errors: zero-byte, text, truncated, bomb header, folder-like."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    zero = folder / "zero.jpg"
    zero.write_bytes(b"")
    files.append(zero)
    text = folder / "notes.png"
    text.write_text("this is not an image\n")
    files.append(text)
    good = write_image(folder / "_tmp_full.jpg", size=(64, 64), fmt="JPEG")
    data = good.read_bytes()
    good.unlink()
    trunc = folder / "truncated.jpg"
    trunc.write_bytes(data[: len(data) // 2])
    files.append(trunc)
    bomb = folder / "bomb.png"
    bomb.write_bytes(_png_header(50_000, 50_000))
    files.append(bomb)
    return files


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels but carries almost no data."""
    import struct

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")

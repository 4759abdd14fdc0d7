"""Locate, verify, load and write model bundles (extractor state_dict + GMM arrays + JSON manifest)."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import __version__
from .errors import WeightsError
from .features import FeatureExtractor
from .likelihood import FaceScorer

BUNDLE_FORMAT = "facecheck-bundle/1"
MANIFEST = "manifest.json"
EXTRACTOR_FILE = "extractor.pt"
SCORER_FILE = "scorer.npz"
ENV_VAR = "FACECHECK_MODEL"
MANIFEST_MAX_BYTES = 8 * 1024 * 1024


class NoShippedModelError(WeightsError):
    """The installed package carries no trained bundle yet."""


def shipped_dir() -> Path:
    """Folder of the bundle installed with the package (the repo's top-level weights/).

    A wheel installs that folder as facecheck/shipped_model/ (see pyproject.toml); a checkout or an
    editable install keeps it at the top of the repository.
    """
    here = Path(__file__).resolve().parent
    installed = here / "shipped_model"
    return installed if installed.is_dir() else here.parent / "weights"


def locate(model: str | os.PathLike | None = None) -> Path:
    """Return the bundle folder: `model`, else $FACECHECK_MODEL, else the shipped one."""
    if model is None and os.environ.get(ENV_VAR):
        model = os.environ[ENV_VAR]
    if model is not None:
        path = Path(model)
        if not (path / MANIFEST).is_file():
            raise WeightsError(f"{path}: not a facecheck model bundle (no {MANIFEST})")
        return path
    path = shipped_dir()
    if not (path / MANIFEST).is_file():
        raise NoShippedModelError(
            "no trained model ships with this version yet; train one with "
            "`facecheck train PHOTOS --out DIR` and pass `--model DIR`"
        )
    return path


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(path: str | os.PathLike) -> dict:
    """Read and check a bundle's manifest.json, then every listed file's sha256."""
    path = Path(path)
    try:
        # Capped: a manifest is a few kB, and one of gigabytes would be read whole into memory.
        if (path / MANIFEST).stat().st_size > MANIFEST_MAX_BYTES:
            raise ValueError(f"over {MANIFEST_MAX_BYTES:,} bytes")
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: "[[[[..." nested past the limit
        raise WeightsError(f"{path / MANIFEST}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise WeightsError(f"{path}: not a {BUNDLE_FORMAT} bundle")
    files = manifest.get("files")
    if not isinstance(files, dict) or not {EXTRACTOR_FILE, SCORER_FILE} <= files.keys():
        raise WeightsError(f"{path / MANIFEST}: manifest lists no extractor or scorer file")
    for name, expected in files.items():
        file = path / name
        if Path(name).name != name or not file.is_file():
            raise WeightsError(f"{path}: bundle file {name!r} is missing")
        if sha256_file(file) != expected:
            raise WeightsError(f"{file}: sha256 does not match the manifest; the bundle is damaged or tampered with")
    return manifest


@dataclass(frozen=True)
class Model:
    """A loaded bundle: the feature extractor, the fitted scorer and the manifest."""

    extractor: FeatureExtractor
    scorer: FaceScorer
    manifest: dict
    path: Path

    @property
    def crop_scale(self) -> float:
        """How much the detector's box is enlarged before cropping."""
        return float(self.manifest["crop_scale"])

    @property
    def threshold(self) -> float:
        """Log-likelihood below which a face is called AI-generated."""
        return float(self.scorer.threshold_)


def load_model(model: str | os.PathLike | None = None, *, device: str = "cpu") -> Model:
    """Locate, verify (sha256) and load a bundle; raises WeightsError with the reason."""
    path = locate(model)
    manifest = read_manifest(path)
    extractor = FeatureExtractor.load(path / EXTRACTOR_FILE, manifest.get("extractor", {}), device=device)
    scorer = FaceScorer.load(path / SCORER_FILE)
    if scorer.threshold_ is None or not np.isfinite(scorer.threshold_):
        raise WeightsError(f"{path}: the scorer has no calibrated threshold")
    # A bundle whose parts do not fit (edited, or forged together with its sha256 list) is refused
    # here, rather than failing as an internal error at the first face of a scan.
    try:
        crop_scale = float(manifest["crop_scale"])
        size = extractor.input_size
        probe = scorer.score_samples(extractor.transform(np.zeros((1, size, size, 3), np.uint8)))
        problem = None if 0 < crop_scale < 100 and np.shape(probe) == (1,) else f"crop_scale {crop_scale!r}"
    except Exception as exc:  # any failure here means the same: not a usable bundle
        problem = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    if problem:
        raise WeightsError(f"{path}: the extractor, scorer and manifest do not fit together ({problem})")
    return Model(extractor=extractor, scorer=scorer, manifest=manifest, path=path)


def save_bundle(
    out: str | os.PathLike,
    extractor: FeatureExtractor,
    scorer: FaceScorer,
    *,
    crop_scale: float = 1.3,
    training: dict | None = None,
    extra_files: dict[str, str | os.PathLike] | None = None,
    force: bool = False,
) -> Path:
    """Write a bundle atomically (temporary folder, then rename); refuse to replace one unless `force`."""
    out = Path(out)
    if out.exists() and not force:
        raise WeightsError(f"{out}: already exists; pass --force to replace it")
    if scorer.threshold_ is None:
        raise WeightsError("the scorer must be calibrated (threshold set) before it is saved")
    out.parent.mkdir(parents=True, exist_ok=True)
    # Not mkdtemp: its 0700 mode would become the bundle's, unreadable to other users.
    tmp = out.parent / f".{out.name}.{secrets.token_hex(6)}.tmp"
    tmp.mkdir()
    try:
        extractor.save(tmp / EXTRACTOR_FILE)
        scorer.save(tmp / SCORER_FILE)
        for name, src in (extra_files or {}).items():
            shutil.copyfile(src, tmp / name)
        manifest = {
            "format": BUNDLE_FORMAT,
            "facecheck_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "extractor": extractor.config(),
            "crop_scale": crop_scale,
            "threshold": scorer.threshold_,
            "false_alarm": scorer.false_alarm_,
            "gmm": {"n_components": scorer.n_components, "covariance_type": scorer.covariance_type, "n_dims": scorer.n_dims},
            "training": training or {},
            "files": {p.name: sha256_file(p) for p in sorted(tmp.iterdir())},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out

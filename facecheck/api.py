"""Compose the stages: image -> faces -> crops -> features -> log-likelihoods -> verdicts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
from joblib import Parallel, delayed

from .config import Config
from .crop import crop_face
from .detect import Face, detect_faces
from .errors import FacecheckError
from .features import extract_features
from .io import find_images, load_image
from .metadata import Metadata, read_metadata
from .verdict import ERROR, NO_FACE, decide
from .weights import Model, load_model


@dataclass(frozen=True)
class FaceScore:
    """One face's result: where it is, its log-likelihood and the verdict."""

    face_index: int
    box: tuple[int, int, int, int]
    detector_confidence: float
    loglik: float
    threshold: float
    margin: float
    verdict: str


@dataclass(frozen=True)
class ScanResult:
    """One input's result: its faces, or a `no_face` / `error` status, and what its metadata says.

    `metadata` is a separate witness (None for arrays): it never changes a loglik or a verdict.
    """

    source_file: str
    faces: tuple[FaceScore, ...] = ()
    error: str | None = None
    threshold: float | None = None
    metadata: Metadata | None = None

    @property
    def status(self) -> str:
        """"error", "no_face", or "faces" when at least one face was scored."""
        return ERROR if self.error else (NO_FACE if not self.faces else "faces")


@dataclass(frozen=True)
class _Prepared:
    faces: tuple[Face, ...] = ()
    crops: np.ndarray | None = None
    error: str | None = None
    metadata: Metadata | None = None


def _prepare(source: str | os.PathLike | np.ndarray, size: int, scale: float, config: Config) -> _Prepared:
    """Read metadata and decode (if a path), detect and crop; an unreadable file becomes an error record."""
    metadata = None if isinstance(source, np.ndarray) else _metadata(source)
    try:
        image = source if isinstance(source, np.ndarray) else load_image(source, max_pixels=config.max_pixels)
        faces = detect_faces(
            image, max_side=config.detect_max_side, upsample=config.upsample, min_face=config.min_face
        )
        crops = np.stack([crop_face(image, f.box, size=size, scale=scale) for f in faces]) if faces else None
        return _Prepared(tuple(faces), crops, metadata=metadata)
    except FacecheckError as exc:
        return _Prepared(error=str(exc), metadata=metadata)
    except Exception as exc:  # a batch tool reports any per-file failure and goes on
        return _Prepared(error=f"{_name(source)}: unexpected failure ({type(exc).__name__}: {exc})", metadata=metadata)


def _metadata(path: str | os.PathLike) -> Metadata | None:
    """The file's metadata; None rather than an error row should the reader itself fail."""
    try:
        return read_metadata(path)
    except Exception:  # read_metadata does not raise; metadata must never cost a readable image its result
        return None


def _name(source: str | os.PathLike | np.ndarray) -> str:
    return "<array>" if isinstance(source, np.ndarray) else str(source)


def _score_batch(sources: list, prepared: list[_Prepared], model: Model) -> list[ScanResult]:
    """Run every crop of a batch of files through the CNN together, then score and decide."""
    crops = [p.crops for p in prepared if p.crops is not None]
    loglik = iter(())
    if crops:
        loglik = iter(model.scorer.score_samples(extract_features(np.concatenate(crops), model.extractor)))
    threshold = model.threshold
    results = []
    for source, prep in zip(sources, prepared):
        if prep.error:
            results.append(ScanResult(_name(source), error=prep.error, threshold=threshold, metadata=prep.metadata))
            continue
        faces = []
        for i, face in enumerate(prep.faces):
            ll = float(next(loglik))
            faces.append(
                FaceScore(i, face.box, face.confidence, ll, threshold, ll - threshold, decide(ll, threshold))
            )
        results.append(ScanResult(_name(source), tuple(faces), threshold=threshold, metadata=prep.metadata))
    return results


def scan_image(
    image: str | os.PathLike | np.ndarray, model: Model | None = None, *, config: Config = Config()
) -> ScanResult:
    """Scan one image (a path or an (H, W, 3) uint8 RGB array) and return its faces' verdicts."""
    model = model or load_model(device=config.device)
    size = model.extractor.input_size
    return _score_batch([image], [_prepare(image, size, model.crop_scale, config)], model)[0]


def scan_paths(
    paths: Iterable[str | os.PathLike],
    model: Model | None = None,
    *,
    config: Config = Config(),
    recursive: bool = False,
    extensions: Iterable[str] | None = None,
) -> Iterator[ScanResult]:
    """Scan files, folders and globs in sorted order, yielding one ScanResult per file.

    Files are decoded and searched for faces in parallel (`config.n_jobs` threads), and the
    faces of `config.batch_files` files go through the CNN as one batch.
    """
    files = find_images(paths, recursive=recursive, extensions=extensions)
    yield from scan_files(files, model, config=config)


def scan_files(
    files: Iterable[str | os.PathLike], model: Model | None = None, *, config: Config = Config()
) -> Iterator[ScanResult]:
    """Scan these files exactly as listed (no folder or glob expansion), one ScanResult each, in order.

    For lists made by find_images: expanding them again would walk a listed symlink to a folder
    instead of reporting it, and drop or add rows.
    """
    files = list(files)
    model = model or load_model(device=config.device)
    size, scale = model.extractor.input_size, model.crop_scale
    with Parallel(n_jobs=config.n_jobs, prefer="threads") as parallel:
        for start in range(0, len(files), config.batch_files):
            chunk = files[start : start + config.batch_files]
            if config.n_jobs == 1 or len(chunk) == 1:
                prepared = [_prepare(f, size, scale, config) for f in chunk]
            else:
                prepared = parallel(delayed(_prepare)(f, size, scale, config) for f in chunk)
            yield from _score_batch(chunk, prepared, model)



"""Decode, detect and crop one input: the half of a scan that needs no torch, run in worker processes."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .config import Config
from .crop import crop_face
from .detect import Face, detect_faces
from .errors import FacecheckError
from .io import load_image
from .metadata import Metadata, read_metadata


@dataclass(frozen=True)
class Prepared:
    """One input ready for the CNN: its faces and their crops, or why it could not be read."""

    faces: tuple[Face, ...] = ()
    crops: np.ndarray | None = None
    error: str | None = None
    metadata: Metadata | None = None


def name_of(source: str | os.PathLike | np.ndarray) -> str:
    """How an input is named in results: its path, or "<array>"."""
    return "<array>" if isinstance(source, np.ndarray) else str(source)


def prepare(source: str | os.PathLike | np.ndarray, size: int, scale: float, config: Config) -> Prepared:
    """Read metadata and decode (if a path), detect and crop; an unreadable file becomes an error record."""
    metadata = None if isinstance(source, np.ndarray) else _metadata(source)
    try:
        image = source if isinstance(source, np.ndarray) else load_image(source, max_pixels=config.max_pixels)
        faces = detect_faces(
            image, max_side=config.detect_max_side, upsample=config.upsample, min_face=config.min_face
        )
        crops = np.stack([crop_face(image, f.box, size=size, scale=scale) for f in faces]) if faces else None
        return Prepared(tuple(faces), crops, metadata=metadata)
    except FacecheckError as exc:
        return Prepared(error=str(exc), metadata=metadata)
    except Exception as exc:  # a batch tool reports any per-file failure and goes on
        return Prepared(error=f"{name_of(source)}: unexpected failure ({type(exc).__name__}: {exc})", metadata=metadata)


def _metadata(path: str | os.PathLike) -> Metadata | None:
    """The file's metadata; None rather than an error row should the reader itself fail."""
    try:
        return read_metadata(path)
    except Exception:  # read_metadata does not raise; metadata must never cost a readable image its result
        return None

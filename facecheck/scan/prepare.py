"""Decode, detect and cut each witness's input: the half of a scan that needs no torch, run in worker processes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

import numpy as np

from ..config import Config
from ..errors import FacecheckError
from .detect import Face, detect_faces
from .inputs import InputSpec
from .io import load_image
from .metadata import STRIPPED, Metadata, read_metadata
from .stability import perturbed_inputs


@dataclass(frozen=True)
class Prepared:
    """One input ready for the witnesses: its faces and each witness's inputs, or why it could not be read.

    `inputs` maps a witness name to its inputs stacked over the faces, (n_faces, *spec.shape) uint8;
    empty when there is no face. `perturbed` holds the same for each stability perturbation (only
    with `Config.stability`).
    """

    faces: tuple[Face, ...] = ()
    inputs: dict[str, np.ndarray] = field(default_factory=dict)
    perturbed: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    error: str | None = None
    metadata: Metadata | None = None


def name_of(source: str | os.PathLike | np.ndarray) -> str:
    """How an input is named in results: its path, or "<array>"."""
    return "<array>" if isinstance(source, np.ndarray) else str(source)


def prepare(
    source: str | os.PathLike | np.ndarray, witnesses_specs: dict[str, InputSpec], config: Config
) -> Prepared:
    """Read metadata and decode (if a path), detect, and cut every face for each witness's spec.

    An unreadable file becomes an error record. Numpy only: the specs and the result pickle cheaply.
    """
    metadata = None if isinstance(source, np.ndarray) else _metadata(source, config.c2pa_trust)
    try:
        image = source if isinstance(source, np.ndarray) else load_image(source, max_pixels=config.max_pixels)
        faces = tuple(detect_faces(
            image, max_side=config.detect_max_side, upsample=config.upsample, min_face=config.min_face,
            pad=config.pad, verify_below=config.verify_below if config.verify else None,
        ))
        if not faces:
            return Prepared(metadata=metadata)
        inputs = {name: np.stack([spec.cut(image, f.box) for f in faces]) for name, spec in witnesses_specs.items()}
        perturbed = perturbed_inputs(image, faces, witnesses_specs) if config.stability else {}
        return Prepared(faces, inputs, perturbed, metadata=metadata)
    except FacecheckError as exc:
        return Prepared(error=str(exc), metadata=_undecoded(metadata))
    except Exception as exc:  # a batch tool reports any per-file failure and goes on
        return Prepared(error=f"{name_of(source)}: unexpected failure ({type(exc).__name__}: {exc})",
                        metadata=_undecoded(metadata))


def _undecoded(metadata: Metadata | None) -> Metadata | None:
    """The metadata of a file whose pixels could not be read: what its tags declare is kept, but "stripped"
    (nothing found) becomes "": a file that is not a readable image says nothing by lacking tags."""
    if metadata is None or metadata.summary != STRIPPED:
        return metadata
    return replace(metadata, summary="")


def _metadata(path: str | os.PathLike, trust: str | None = None) -> Metadata | None:
    """The file's metadata; None rather than an error row should the reader itself fail."""
    try:
        return read_metadata(path, trust=trust)
    except Exception:  # read_metadata does not raise; metadata must never cost a readable image its result
        return None

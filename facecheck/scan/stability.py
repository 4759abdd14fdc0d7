"""Re-cut each face after benign processing (JPEG q75, a 0.5x resize) to see whether its verdict holds."""

from __future__ import annotations

from typing import Callable

import numpy as np

from .detect import Face
from .imaging import follow_box, jpeg, resize
from .inputs import InputSpec

# What an image commonly goes through on its way to a fact-checker: recompression and downscaling.
PERTURBATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "jpeg75": lambda image: jpeg(image, 75),
    "resize0.5": lambda image: resize(image, 0.5),
}


def perturbed_inputs(
    image: np.ndarray, faces: tuple[Face, ...], specs: dict[str, InputSpec]
) -> dict[str, dict[str, np.ndarray]]:
    """Each perturbation's witness inputs {perturbation: {witness: (n_faces, *spec.shape) uint8}} for the
    same faces, their boxes moved with the image (not detected again)."""
    out = {}
    for name, perturb in PERTURBATIONS.items():
        changed = perturb(image)
        boxes = [follow_box(f.box, image.shape, changed.shape) for f in faces]
        out[name] = {w: np.stack([spec.cut(changed, box) for box in boxes]) for w, spec in specs.items()}
    return out


def spread(p_real: list[float]) -> float:
    """How far a face's p_real moves across the original and its perturbed copies (max - min)."""
    return float(max(p_real) - min(p_real))

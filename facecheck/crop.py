"""Cut the face crop the extractor sees: the detector's box enlarged around its centre."""

from __future__ import annotations

import cv2
import numpy as np


def crop_box(
    box: tuple[int, int, int, int], image_shape: tuple[int, ...], scale: float = 1.3
) -> tuple[int, int, int, int]:
    """Enlarge a (top, right, bottom, left) box `scale` times around its centre, clamped to the image."""
    top, right, bottom, left = box
    height, width = image_shape[:2]
    cy, cx = (top + bottom) / 2, (left + right) / 2
    half_h, half_w = (bottom - top) * scale / 2, (right - left) * scale / 2
    # Clamped so that at least one pixel remains even for a box at (or beyond) the image's edge.
    new_top = int(min(max(0, round(cy - half_h)), height - 1))
    new_left = int(min(max(0, round(cx - half_w)), width - 1))
    new_bottom = int(max(min(height, round(cy + half_h)), new_top + 1))
    new_right = int(max(min(width, round(cx + half_w)), new_left + 1))
    return new_top, new_right, new_bottom, new_left


def crop_face(
    image: np.ndarray, box: tuple[int, int, int, int], *, size: int, scale: float = 1.3
) -> np.ndarray:
    """Return the enlarged box of `image` resized to (size, size, 3) uint8."""
    top, right, bottom, left = crop_box(box, image.shape, scale)
    patch = image[top:bottom, left:right]
    shrinking = patch.shape[0] > size or patch.shape[1] > size
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(patch), (size, size), interpolation=interp)

"""Image processing that scanning, evaluation and training share: resize, JPEG, blur, and boxes that follow a resize.

One implementation each (OpenCV), so that "jpeg75" means the same file bytes in `scan --stability`,
`evaluate --perturb`, the format-matched evaluation and the training histories.
"""

from __future__ import annotations

import cv2
import numpy as np

RESAMPLERS = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}


def resize(image: np.ndarray, scale: float, resampler: str = "area") -> np.ndarray:
    """Resize by `scale` (at least 1 px a side) with a named resampler."""
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=RESAMPLERS[resampler])


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Compress and decode an RGB image as JPEG at `quality` (4:2:0, like most encoders)."""
    ok, buf = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise ValueError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].copy()


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of standard deviation `sigma` pixels."""
    return cv2.GaussianBlur(image, (0, 0), sigma)


def follow_box(box: tuple[int, int, int, int], before: tuple[int, ...], after: tuple[int, ...]) -> tuple[int, int, int, int]:
    """A (top, right, bottom, left) box of an image of shape `before`, moved to the same place after a resize to `after`."""
    fy, fx = after[0] / before[0], after[1] / before[1]
    top, right, bottom, left = box
    return round(top * fy), round(right * fx), round(bottom * fy), round(left * fx)

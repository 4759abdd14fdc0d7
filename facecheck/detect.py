"""Find faces with dlib's HOG detector (on a downscaled copy) and, for training, 68 landmarks."""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from .errors import WeightsError

# Below this longest side the detector gets one upsampling pass, so faces of ~40 px are found.
_SMALL_IMAGE_SIDE = 800
_local = threading.local()


@dataclass(frozen=True)
class Face:
    """A detected face: `box` is (top, right, bottom, left) in original pixels."""

    box: tuple[int, int, int, int]
    confidence: float

    @property
    def size(self) -> int:
        """Side of the box's bounding square, in pixels."""
        top, right, bottom, left = self.box
        return max(bottom - top, right - left)


def _detector():
    # dlib detectors are not documented as thread-safe: one per thread, created on first use.
    import dlib

    det = getattr(_local, "detector", None)
    if det is None:
        det = _local.detector = dlib.get_frontal_face_detector()
    return det


def dlib_model_path(name: str) -> Path:
    """Path of a model file shipped by the `face-recognition-models` package (never downloaded)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError("the package face-recognition-models is not installed (pip install face-recognition-models)")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / name
    if not path.is_file():
        raise WeightsError(f"{path}: dlib model file missing; reinstall face-recognition-models")
    return path


@lru_cache(maxsize=1)
def _shape_predictor():
    import dlib

    return dlib.shape_predictor(str(dlib_model_path("shape_predictor_68_face_landmarks.dat")))


def detect_faces(
    image: np.ndarray,
    *,
    max_side: int = 1024,
    upsample: int | None = None,
    min_face: int = 40,
) -> list[Face]:
    """Detect faces in an (H, W, 3) uint8 RGB image, largest first.

    The detector runs on a copy whose longest side is at most `max_side`; boxes are mapped
    back to original pixels and clamped to the image. `upsample=None` upsamples once when
    the copy is small. Faces smaller than `min_face` original pixels are dropped.
    """
    height, width = image.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    small = image
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    if upsample is None:
        upsample = 1 if max(small.shape[:2]) < _SMALL_IMAGE_SIDE else 0
    rects, scores, _ = _detector().run(np.ascontiguousarray(small), upsample, 0.0)
    faces = []
    for rect, score in zip(rects, scores):
        top = int(np.clip(round(rect.top() / scale), 0, height))
        bottom = int(np.clip(round((rect.bottom() + 1) / scale), 0, height))
        left = int(np.clip(round(rect.left() / scale), 0, width))
        right = int(np.clip(round((rect.right() + 1) / scale), 0, width))
        face = Face(box=(top, right, bottom, left), confidence=float(score))
        if bottom > top and right > left and face.size >= min_face:
            faces.append(face)
    faces.sort(key=lambda f: (-(f.box[2] - f.box[0]) * (f.box[1] - f.box[3]), f.box))
    return faces


def predict_landmarks(image: np.ndarray, face: Face) -> np.ndarray:
    """Return dlib's 68 landmarks of `face` as a (68, 2) float32 array of (x, y) pixels."""
    import dlib

    top, right, bottom, left = face.box
    shape = _shape_predictor()(np.ascontiguousarray(image), dlib.rectangle(left, top, right - 1, bottom - 1))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

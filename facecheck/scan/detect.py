"""Find faces with dlib's HOG detector (on a downscaled copy), check each with dlib's CNN detector, and,
for training, 68 landmarks."""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from ..errors import WeightsError

# Below this longest side the detector gets one upsampling pass, so faces of ~40 px are found.
_SMALL_IMAGE_SIDE = 800
# Verification: the CNN sees a square of VERIFY_CONTEXT x the box's side, resized to VERIFY_SIDE pixels
# (the face then spans ~100 px, above the MMOD detector's ~80 px window), and must find a face
# overlapping the box by VERIFY_IOU.
VERIFY_SIDE, VERIFY_CONTEXT, VERIFY_IOU = 160, 1.6, 0.3
# Retry of an image where HOG found nothing: a border of PAD_FRACTION x each side (faces cropped
# tightly at the frame's edge lack the context HOG's window needs).
PAD_FRACTION = 0.25
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


def _cnn_detector():
    import dlib

    det = getattr(_local, "cnn", None)
    if det is None:
        det = _local.cnn = dlib.cnn_face_detection_model_v1(str(dlib_model_path("mmod_human_face_detector.dat")))
    return det


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
    pad: bool = True,
    verify_below: float | None = 0.5,
) -> list[Face]:
    """Detect faces in an (H, W, 3) uint8 RGB image, largest first.

    The HOG detector runs on a copy whose longest side is at most `max_side`; boxes are mapped back to
    original pixels and clamped to the image. `upsample=None` upsamples once when the copy is small.
    Faces smaller than `min_face` original pixels are dropped. With `pad`, an image where nothing is
    found is searched again inside a border (tight face crops). A detection whose HOG confidence is
    below `verify_below` is kept only if dlib's CNN detector, run on a small crop around it, confirms
    it (`verify_face`); None keeps every detection.
    """
    faces = _hog(image, max_side=max_side, upsample=upsample, min_face=min_face)
    if not faces and pad:
        faces = _hog(image, max_side=max_side, upsample=upsample, min_face=min_face, pad=True)
    if verify_below is not None:
        faces = [f for f in faces if f.confidence >= verify_below or verify_face(image, f) is not None]
    faces.sort(key=lambda f: (-(f.box[2] - f.box[0]) * (f.box[1] - f.box[3]), f.box))
    return faces


def _hog(image: np.ndarray, *, max_side: int, upsample: int | None, min_face: int, pad: bool = False) -> list[Face]:
    """HOG detections in `image` (boxes in its pixels, clamped to it); with `pad`, in the downscaled copy
    framed by a border of its edge pixels, PAD_FRACTION of its longer side (never a full-size padded copy:
    a long thin image would grow many-fold)."""
    height, width = image.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    small = image
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    p = max(1, round(PAD_FRACTION * max(small.shape[:2]))) if pad else 0
    if p:
        small = cv2.copyMakeBorder(small, p, p, p, p, cv2.BORDER_REPLICATE)
    if upsample is None:
        upsample = 1 if max(small.shape[:2]) < _SMALL_IMAGE_SIDE else 0
    rects, scores, _ = _detector().run(np.ascontiguousarray(small), upsample, 0.0)
    faces = []
    for rect, score in zip(rects, scores):
        raw = ((rect.top() - p) / scale, (rect.right() + 1 - p) / scale, (rect.bottom() + 1 - p) / scale,
               (rect.left() - p) / scale)
        top, bottom = (int(np.clip(round(v), 0, height)) for v in (raw[0], raw[2]))
        left, right = (int(np.clip(round(v), 0, width)) for v in (raw[3], raw[1]))
        face = Face(box=(top, right, bottom, left), confidence=float(score))
        # A padded detection mostly in the border is not a face of the image.
        inside = (bottom - top) * (right - left) / max((raw[2] - raw[0]) * (raw[1] - raw[3]), 1e-9)
        if bottom > top and right > left and face.size >= min_face and inside >= 0.5:
            faces.append(face)
    return faces


def verify_face(image: np.ndarray, face: Face) -> float | None:
    """Confidence of dlib's CNN (MMOD) face detector for a face at `face.box`, or None if it sees none there.

    The CNN runs on a VERIFY_SIDE px copy of a square of VERIFY_CONTEXT x the box around it (about
    0.1 s on one core), never on the whole image (seconds per megapixel).
    """
    top, right, bottom, left = face.box
    side = max(1, round(face.size * VERIFY_CONTEXT))
    y0, x0 = round((top + bottom - side) / 2), round((left + right - side) / 2)
    ys, xs, ye, xe = max(y0, 0), max(x0, 0), min(y0 + side, image.shape[0]), min(x0 + side, image.shape[1])
    # Beyond the frame, the edge pixels repeated (as in the padded retry): a black frame would cut the face.
    crop = cv2.copyMakeBorder(image[ys:ye, xs:xe], ys - y0, y0 + side - ye, xs - x0, x0 + side - xe, cv2.BORDER_REPLICATE)
    k = VERIFY_SIDE / side
    small = cv2.resize(crop, (VERIFY_SIDE, VERIFY_SIDE), interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
    box = ((top - y0) * k, (right - x0) * k, (bottom - y0) * k, (left - x0) * k)
    best = None
    for det in _cnn_detector()(small, 0):
        r = det.rect
        if _iou(box, (r.top(), r.right() + 1, r.bottom() + 1, r.left())) >= VERIFY_IOU:
            best = max(best if best is not None else -np.inf, float(det.confidence))
    return best


def _iou(a: tuple, b: tuple) -> float:
    """Intersection over union of two (top, right, bottom, left) boxes."""
    h = min(a[2], b[2]) - max(a[0], b[0])
    w = min(a[1], b[1]) - max(a[3], b[3])
    inter = max(h, 0) * max(w, 0)
    union = (a[2] - a[0]) * (a[1] - a[3]) + (b[2] - b[0]) * (b[1] - b[3]) - inter
    return inter / union if union > 0 else 0.0


def predict_landmarks(image: np.ndarray, face: Face) -> np.ndarray:
    """Return dlib's 68 landmarks of `face` as a (68, 2) float32 array of (x, y) pixels."""
    import dlib

    top, right, bottom, left = face.box
    shape = _shape_predictor()(np.ascontiguousarray(image), dlib.rectangle(left, top, right - 1, bottom - 1))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

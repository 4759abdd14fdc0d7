"""Tests for facecheck.train.manipulate: regions touched, blending, sampling and the landmark-free warp."""

from __future__ import annotations

import importlib.util
import math
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from facecheck.train.manipulate import (
    MANIPULATIONS,
    ORIGINAL,
    WARP_NO_LANDMARKS,
    flip_eyes_horizontal,
    flip_mouth_horizontal,
    flip_mouth_vertical,
    manipulate,
    random_sample,
    warp_face,
    warp_without_landmarks,
)

SIZE = 128
MOUTH = slice(48, 68)
EYES = slice(36, 48)
# Upper bounds of the implementation's padding (fraction of the region's larger side) and warp feather.
MAX_PAD = 0.25
WARP_MARGIN = 0.15


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int, start: float = 0.0, stop: float = 2 * math.pi) -> list:
    """`n` points on an ellipse arc, image y pointing down."""
    angles = np.linspace(start, stop, n, endpoint=stop - start < 2 * math.pi - 1e-9)
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]


def _synthetic_landmarks(size: int = SIZE) -> np.ndarray:
    """A plausible frontal 68-point iBUG layout with integer coordinates, scaled into a size x size crop."""
    s = size / 128.0
    jaw = _ellipse(64, 60, 40, 50, 17, math.pi, 0.0)  # image-left ear, down to the chin, up to image-right
    brows = [(30 + 7 * i, 40 - 3 * math.sin(math.pi * i / 4)) for i in range(5)]
    brows += [(70 + 7 * i, 40 - 3 * math.sin(math.pi * i / 4)) for i in range(5)]
    nose = [(64, 45 + 6 * i) for i in range(4)] + [(56 + 4 * i, 70) for i in range(5)]
    right_eye = _ellipse(46, 50, 8, 3, 6, math.pi, 3 * math.pi)
    left_eye = _ellipse(82, 50, 8, 3, 6, math.pi, 3 * math.pi)
    outer_mouth = _ellipse(64, 88, 16, 7, 12, math.pi, 3 * math.pi)
    inner_mouth = _ellipse(64, 88, 10, 3, 8, math.pi, 3 * math.pi)
    points = np.array(jaw + brows + nose + right_eye + left_eye + outer_mouth + inner_mouth, dtype=np.float64)
    assert points.shape == (68, 2)
    return np.round(points * s)


@pytest.fixture
def noise() -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)


@pytest.fixture
def landmarks() -> np.ndarray:
    return _synthetic_landmarks()


def _outside_box_mask(points: np.ndarray, shape: tuple[int, ...], margin: float) -> np.ndarray:
    """True for pixels farther than `margin` from the bounding box of `points`."""
    ys, xs = np.mgrid[: shape[0], : shape[1]]
    (x0, y0), (x1, y1) = points.min(axis=0) - margin, points.max(axis=0) + margin
    return (xs < x0) | (xs > x1) | (ys < y0) | (ys > y1)


def _region_margin(points: np.ndarray) -> float:
    """Padding plus a pixel of rounding: beyond this a flip may not change anything."""
    return MAX_PAD * float(np.ptp(points, axis=0).max()) + 2.0


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a != b).any(axis=-1)


@pytest.mark.parametrize("kind", MANIPULATIONS)
def test_shape_dtype_copy_and_input_untouched(noise: np.ndarray, landmarks: np.ndarray, kind: str) -> None:
    before = noise.copy()
    out = manipulate(noise, landmarks, kind, np.random.default_rng(0))
    assert out.shape == noise.shape and out.dtype == np.uint8
    assert not np.shares_memory(out, noise)
    np.testing.assert_array_equal(noise, before)
    assert _changed(out, noise).sum() > 50


@pytest.mark.parametrize(
    ("function", "region"),
    [(flip_mouth_vertical, MOUTH), (flip_mouth_horizontal, MOUTH), (flip_eyes_horizontal, EYES)],
)
def test_flip_changes_only_its_region(noise: np.ndarray, landmarks: np.ndarray, function, region: slice) -> None:
    points = landmarks[region]
    for seed in range(5):
        out = function(noise, landmarks, np.random.default_rng(seed))
        outside = _outside_box_mask(points, noise.shape, _region_margin(points))
        assert not _changed(out, noise)[outside].any()
        inside = ~_outside_box_mask(points, noise.shape, 0.0)
        assert _changed(out, noise)[inside].mean() > 0.9


def test_mouth_vflip_is_a_mirror_inside_the_mouth(noise: np.ndarray, landmarks: np.ndarray) -> None:
    out = flip_mouth_vertical(noise, landmarks, np.random.default_rng(1))
    (x0, y0), (x1, y1) = landmarks[MOUTH].min(axis=0).astype(int), landmarks[MOUTH].max(axis=0).astype(int)
    # Integer landmarks and symmetric padding put the mirror axis at (y0 + y1) / 2.
    expected = noise[y0 : y1 + 1, x0 : x1 + 1][::-1]
    got = out[y0 : y1 + 1, x0 : x1 + 1]
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


def test_mouth_hflip_is_a_mirror_inside_the_mouth(noise: np.ndarray, landmarks: np.ndarray) -> None:
    out = flip_mouth_horizontal(noise, landmarks, np.random.default_rng(2))
    (x0, y0), (x1, y1) = landmarks[MOUTH].min(axis=0).astype(int), landmarks[MOUTH].max(axis=0).astype(int)
    expected = noise[y0 : y1 + 1, x0 : x1 + 1][:, ::-1]
    assert np.abs(out[y0 : y1 + 1, x0 : x1 + 1].astype(int) - expected.astype(int)).max() <= 1


def test_eyes_hflip_swaps_eyes_and_spares_the_mouth(noise: np.ndarray, landmarks: np.ndarray) -> None:
    out = flip_eyes_horizontal(noise, landmarks, np.random.default_rng(3))
    (x0, y0), (x1, y1) = landmarks[EYES].min(axis=0).astype(int), landmarks[EYES].max(axis=0).astype(int)
    expected = noise[y0 : y1 + 1, x0 : x1 + 1][:, ::-1]
    assert np.abs(out[y0 : y1 + 1, x0 : x1 + 1].astype(int) - expected.astype(int)).max() <= 1
    mouth = ~_outside_box_mask(landmarks[MOUTH], noise.shape, 0.0)
    assert not _changed(out, noise)[mouth].any()


def test_seams_are_soft(landmarks: np.ndarray) -> None:
    # A flat image with a bright square under the mouth: blended values between the two levels
    # appear only if the mask is feathered rather than a hard box.
    image = np.full((SIZE, SIZE, 3), 100, np.uint8)
    image[88:110, 48:80] = 200
    out = flip_mouth_vertical(image, landmarks, np.random.default_rng(0))
    values = np.unique(out[..., 0])
    assert ((values > 100) & (values < 200)).any()


def _hull_mask(points: np.ndarray, shape: tuple[int, ...], margin: float) -> np.ndarray:
    """The convex hull of `points`, filled and dilated by `margin` pixels."""
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(points.astype(np.int32)), 1)
    radius = math.ceil(margin)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask, kernel).astype(bool)


def test_warp_changes_only_the_face(noise: np.ndarray, landmarks: np.ndarray) -> None:
    face_size = float(np.ptp(landmarks, axis=0).max())
    allowed = _hull_mask(landmarks, noise.shape, WARP_MARGIN * face_size + 2)
    core = _hull_mask(landmarks, noise.shape, 0)
    for seed in range(5):
        out = warp_face(noise, landmarks, np.random.default_rng(seed))
        changed = _changed(out, noise)
        assert not changed[~allowed].any()
        assert changed[core].mean() > 0.5


def test_warp_moves_content_by_a_few_percent(landmarks: np.ndarray) -> None:
    # Smooth gradients so that a displacement shows as a bounded change, not noise.
    ys, xs = np.mgrid[:SIZE, :SIZE].astype(np.float64)
    image = np.stack([xs * 2, ys * 2, (xs + ys)], axis=-1).clip(0, 255).astype(np.uint8)
    out = warp_face(image, landmarks, np.random.default_rng(4))
    shift = np.abs(out[..., 0].astype(int) - image[..., 0].astype(int)) / 2.0  # x moved, in pixels
    assert 0.3 < shift.max() < 0.15 * float(np.ptp(landmarks, axis=0).max())


def test_manipulations_are_reproducible(noise: np.ndarray, landmarks: np.ndarray) -> None:
    for kind in MANIPULATIONS:
        first = manipulate(noise, landmarks, kind, np.random.default_rng(11))
        second = manipulate(noise, landmarks, kind, np.random.default_rng(11))
        np.testing.assert_array_equal(first, second)


def test_random_sample_balance_and_kinds(noise: np.ndarray, landmarks: np.ndarray) -> None:
    small = noise[:SIZE, :SIZE]
    rng = np.random.default_rng(1234)
    kinds: Counter[str] = Counter()
    for _ in range(400):
        out, label, kind = random_sample(small, landmarks, rng)
        assert label == (0 if kind == ORIGINAL else 1)
        assert out.shape == small.shape and out.dtype == np.uint8
        if label == 0:
            np.testing.assert_array_equal(out, small)
            assert not np.shares_memory(out, small)
        kinds[kind] += 1
    assert 0.42 < kinds[ORIGINAL] / 400 < 0.58
    assert set(kinds) == {ORIGINAL, *MANIPULATIONS}
    assert min(kinds[k] for k in MANIPULATIONS) > 25


def test_landmark_free_fallback(noise: np.ndarray) -> None:
    rng = np.random.default_rng(5)
    labels = Counter()
    for _ in range(20):
        out, label, kind = random_sample(noise, None, rng)
        labels[kind] += 1
        if label:
            assert kind == WARP_NO_LANDMARKS
            changed = _changed(out, noise)
            ys, xs = np.mgrid[:SIZE, :SIZE]
            far = ((xs - SIZE / 2) / (0.47 * SIZE)) ** 2 + ((ys - SIZE / 2) / (0.55 * SIZE)) ** 2 > 1
            assert not changed[far].any()
            assert changed[SIZE // 2 - 10 : SIZE // 2 + 10, SIZE // 2 - 10 : SIZE // 2 + 10].mean() > 0.5
    assert labels[WARP_NO_LANDMARKS] > 0 and labels[ORIGINAL] > 0
    direct = manipulate(noise, None, "warp", np.random.default_rng(0))
    np.testing.assert_array_equal(direct, warp_without_landmarks(noise, np.random.default_rng(0)))


@pytest.mark.parametrize("size", [(64, 48), (200, 256)])
def test_other_sizes_and_landmarks_near_the_border(size: tuple[int, int]) -> None:
    height, width = size
    image = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    points = _synthetic_landmarks(128) * (width / 128.0, height / 128.0)
    shifted = points + (width * 0.3, height * 0.2)  # part of the face outside the crop
    for lm in (points, shifted):
        for kind in MANIPULATIONS:
            out = manipulate(image, lm, kind, np.random.default_rng(0))
            assert out.shape == image.shape and out.dtype == np.uint8


def test_bad_inputs_raise(noise: np.ndarray, landmarks: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown manipulation"):
        manipulate(noise, landmarks, "blur", rng)
    with pytest.raises(ValueError, match="needs landmarks"):
        manipulate(noise, None, "mouth_vflip", rng)
    with pytest.raises(ValueError, match="68, 2"):
        manipulate(noise, landmarks[:5], "warp", rng)
    with pytest.raises(ValueError, match="uint8"):
        manipulate(noise.astype(np.float32), landmarks, "warp", rng)
    bad = landmarks.copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError):
        flip_eyes_horizontal(noise, bad, rng)


def _predictor_path() -> Path | None:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "shape_predictor_68_face_landmarks.dat"
    return path if path.is_file() else None


@pytest.mark.skipif(_predictor_path() is None, reason="dlib 68-point predictor not installed")
def test_real_face_with_dlib_landmarks() -> None:
    dlib = pytest.importorskip("dlib")
    from facecheck.scan.io import load_image

    image = load_image(Path(__file__).resolve().parents[1] / "examples" / "astronaut.jpg")
    box = dlib.get_frontal_face_detector()(image, 1)[0]
    shape = dlib.shape_predictor(str(_predictor_path()))(image, box)
    points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
    side = int(1.8 * box.width())
    x0 = max(int(box.center().x - side / 2), 0)
    y0 = max(int(box.center().y - side / 2), 0)
    crop = np.ascontiguousarray(image[y0 : y0 + side, x0 : x0 + side])
    points -= (x0, y0)

    mouth_only = flip_mouth_vertical(crop, points, np.random.default_rng(0))
    eyes_only = flip_eyes_horizontal(crop, points, np.random.default_rng(0))
    mouth_box = ~_outside_box_mask(points[MOUTH], crop.shape, 0.0)
    eyes_box = ~_outside_box_mask(points[EYES], crop.shape, 0.0)
    diff_mouth = np.abs(mouth_only.astype(int) - crop.astype(int)).mean(axis=-1)
    diff_eyes = np.abs(eyes_only.astype(int) - crop.astype(int)).mean(axis=-1)
    assert diff_mouth[mouth_box].mean() > 10 and not diff_mouth[eyes_box].any()
    assert diff_eyes[eyes_box].mean() > 3 and not diff_eyes[mouth_box].any()
    warped = warp_face(crop, points, np.random.default_rng(0))
    face_size = float(np.ptp(points, axis=0).max())
    assert not _changed(warped, crop)[~_hull_mask(points, crop.shape, WARP_MARGIN * face_size + 2)].any()
    assert _changed(warped, crop).sum() > 100

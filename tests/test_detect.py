"""detect_faces with the real dlib HOG detector: found faces, empty images, scaling, EXIF orientation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from facecheck.scan.detect import Face, _hog, detect_faces, predict_landmarks, verify_face
from facecheck.scan.io import load_image

# Centre of the astronaut's face in examples/astronaut.jpg (512 x 512); the mission patch is lower.
FACE_CENTRE = (121, 220)  # (y, x)


@pytest.fixture(scope="module")
def astronaut(astronaut_path) -> np.ndarray:
    return load_image(astronaut_path)


def _contains(box, point) -> bool:
    top, right, bottom, left = box
    y, x = point
    return top <= y < bottom and left <= x < right


def test_astronaut_face_is_found_first(astronaut):
    faces = detect_faces(astronaut)
    assert faces, "dlib found no face on the astronaut"
    face = faces[0]
    assert _contains(face.box, FACE_CENTRE)
    top, right, bottom, left = face.box
    assert all(isinstance(v, int) for v in face.box)
    assert 0 <= top < bottom <= 512 and 0 <= left < right <= 512
    assert 70 <= face.size <= 130
    assert face.confidence > 0.5
    # Every other detection (the mission patch) is elsewhere, and all are at least min_face.
    assert not any(_contains(f.box, FACE_CENTRE) for f in faces[1:])
    assert all(f.size >= 40 for f in faces)


def test_the_mission_patch_is_not_a_face(astronaut):
    unverified = detect_faces(astronaut, verify_below=None)
    assert len(unverified) == 2  # HOG takes the printed patch on the suit for a face (confidence 0.16)
    face, patch = unverified
    assert verify_face(astronaut, face) > 0.5
    assert verify_face(astronaut, patch) is None
    assert detect_faces(astronaut) == [face]
    # Confident HOG detections are not checked at all; with the gate at infinity every one is.
    assert detect_faces(astronaut, verify_below=float("inf")) == [face]


def test_a_face_cropped_tightly_is_found_by_the_padded_retry(astronaut):
    top, right, bottom, left = detect_faces(astronaut)[0].box
    tight = np.ascontiguousarray(astronaut[top + 8:bottom - 8, left + 8:right - 8])  # forehead and chin cut off
    assert _hog(tight, max_side=1024, upsample=None, min_face=40) == []  # HOG alone misses it
    assert detect_faces(tight, pad=False) == []
    faces = detect_faces(tight)
    assert len(faces) == 1
    t, r, b, l = faces[0].box
    assert 0 <= t < b <= tight.shape[0] and 0 <= l < r <= tight.shape[1]  # back in the crop's own pixels
    assert (b - t) * (r - l) > 0.6 * tight.shape[0] * tight.shape[1]


def test_faces_come_largest_first(astronaut):
    faces = detect_faces(astronaut, verify_below=None)
    areas = [(f.box[2] - f.box[0]) * (f.box[1] - f.box[3]) for f in faces]
    assert areas == sorted(areas, reverse=True)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((64, 64, 3), np.uint8),
        np.full((300, 400, 3), 255, np.uint8),
        np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8),
    ],
    ids=["black", "white", "noise"],
)
def test_no_face_in_blank_or_noise(image):
    assert detect_faces(image) == []


def test_min_face_drops_small_faces(astronaut):
    sizes = [f.size for f in detect_faces(astronaut)]
    assert detect_faces(astronaut, min_face=max(sizes) + 1) == []
    assert len(detect_faces(astronaut, min_face=1)) >= len(sizes)


def _assert_scaled(box, reference, factor, tolerance):
    for got, ref in zip(box, reference):
        assert abs(got - ref * factor) <= tolerance, (box, reference)


@pytest.mark.parametrize("max_side", [512, 1024])
def test_boxes_are_mapped_back_from_the_downscaled_copy(astronaut, max_side):
    reference = detect_faces(astronaut)[0].box
    big = cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    faces = detect_faces(big, max_side=max_side)  # the detector runs at 1/4 or 1/2 scale
    assert faces and _contains(faces[0].box, (FACE_CENTRE[0] * 4, FACE_CENTRE[1] * 4))
    side = reference[2] - reference[0]
    _assert_scaled(faces[0].box, reference, 4, tolerance=0.1 * side * 4)
    assert all(0 <= v <= 2048 for v in faces[0].box)


def test_downscaling_to_the_original_size_gives_exactly_four_times_the_box(astronaut):
    big = cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    # At max_side=512 the detector sees (almost) the original pixels, with the same upsampling.
    reference = detect_faces(astronaut, upsample=1)[0].box
    _assert_scaled(detect_faces(big, max_side=512, upsample=1)[0].box, reference, 4, tolerance=8)


@pytest.mark.parametrize("orientation, stored_as", [(6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270)])
def test_exif_orientation_is_applied_before_detection(astronaut_path, tmp_path, orientation, stored_as):
    upright = Image.open(astronaut_path).convert("RGB").crop((0, 0, 512, 400))  # not square
    path = tmp_path / f"sideways{orientation}.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    upright.transpose(stored_as).save(path, exif=exif, quality=95)
    raw = np.asarray(Image.open(path).convert("RGB"))
    assert raw.shape == (512, 400, 3)
    assert detect_faces(raw) == []  # the frontal detector does not see a sideways face

    image = load_image(path)
    assert image.shape == (400, 512, 3)
    faces = detect_faces(image)
    assert faces and _contains(faces[0].box, FACE_CENTRE)
    _assert_scaled(faces[0].box, detect_faces(np.asarray(upright))[0].box, 1, tolerance=6)


def test_face_size_is_the_longer_side():
    assert Face(box=(10, 70, 50, 20), confidence=1.0).size == 50


def test_landmarks_fall_on_the_face(astronaut):
    face = detect_faces(astronaut)[0]
    points = predict_landmarks(astronaut, face)
    assert points.shape == (68, 2) and points.dtype == np.float32
    top, right, bottom, left = face.box
    margin = 0.25 * face.size
    assert np.all(points[:, 0] >= left - margin) and np.all(points[:, 0] <= right + margin)
    assert np.all(points[:, 1] >= top - margin) and np.all(points[:, 1] <= bottom + margin)

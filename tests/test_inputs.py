"""crop_box / crop_face: the detector's box enlarged around its centre, clamped, resized."""

from __future__ import annotations

import numpy as np
import pytest

from facecheck.scan.inputs import crop_box, crop_face


def test_crop_box_enlarges_around_the_centre():
    assert crop_box((100, 200, 200, 100), (1000, 1000, 3)) == (85, 215, 215, 85)
    assert crop_box((100, 200, 200, 100), (1000, 1000, 3), scale=2.0) == (50, 250, 250, 50)
    assert crop_box((100, 200, 200, 100), (1000, 1000, 3), scale=1.0) == (100, 200, 200, 100)


def test_crop_box_is_clamped_to_the_image():
    top, right, bottom, left = crop_box((0, 60, 40, 10), (50, 64), scale=1.3)
    assert (top, right, bottom, left) == (0, 64, 46, 2)
    top, right, bottom, left = crop_box((-5, 80, 90, -20), (60, 70), scale=1.3)
    assert top == 0 and left == 0 and bottom == 60 and right == 70


@pytest.mark.parametrize("box", [(10, 10, 10, 10), (0, 50, 50, 0), (60, 90, 80, 70), (-30, -5, -10, -25)],
                         ids=["empty", "whole", "beyond-bottom-right", "beyond-top-left"])
def test_crop_box_keeps_at_least_one_pixel_inside_the_image(box):
    top, right, bottom, left = crop_box(box, (50, 50))
    assert 0 <= top < bottom <= 50 and 0 <= left < right <= 50
    image = np.zeros((50, 50, 3), np.uint8)
    assert crop_face(image, box, size=8).shape == (8, 8, 3)


def test_crop_face_returns_a_square_uint8_crop():
    image = np.random.default_rng(0).integers(0, 256, (120, 90, 3), dtype=np.uint8)
    for size in (16, 64, 200):  # shrinking and enlarging
        crop = crop_face(image, (30, 70, 90, 20), size=size)
        assert crop.shape == (size, size, 3) and crop.dtype == np.uint8


def test_crop_face_at_scale_one_and_native_size_is_the_box_itself():
    image = np.random.default_rng(1).integers(0, 256, (100, 100, 3), dtype=np.uint8)
    crop = crop_face(image, (20, 60, 60, 20), size=40, scale=1.0)
    assert np.array_equal(crop, image[20:60, 20:60])


@pytest.mark.parametrize("scale, expect_border", [(1.0, False), (1.6, True)])
def test_crop_face_includes_the_enlarged_margin(scale, expect_border):
    image = np.zeros((100, 100, 3), np.uint8)
    image[30:70, 30:70] = 255  # a white "face" exactly filling the box
    crop = crop_face(image, (30, 70, 70, 30), size=32, scale=scale)
    corner = crop[:3, :3]
    assert (corner.max() == 0) == expect_border  # black surround only when enlarged
    assert crop[16, 16].min() == 255

"""Tests for facecheck.scan.exif: reading and sanitising the four exposure tags."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from types import SimpleNamespace

import exifread
import numpy as np
import pytest
from exifread.utils import Ratio
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from facecheck.errors import ImageReadError
from facecheck.scan.exif import (
    PLAUSIBLE_RANGES,
    TAG_NAMES,
    ExposureTags,
    exposure_from_tags,
    parse_ratio,
    read_exposure_tags,
)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MANIFEST = SHARED_DATA / "exif_photos_manifest.csv"

ISO, FNUMBER, EXPOSURE, FOCAL, APERTURE_VALUE, SHUTTER_VALUE = (
    0x8827,
    0x829D,
    0x829A,
    0x920A,
    0x9202,
    0x9201,
)


def _write_jpeg(path: Path, exif_tags: dict[int, object] | None) -> Path:
    """A 32x32 JPEG whose Exif IFD holds `exif_tags` (no EXIF segment at all when None)."""
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8))
    if exif_tags is None:
        img.save(path, format="JPEG")
        return path
    exif = Image.Exif()
    ifd = exif.get_ifd(0x8769)
    ifd.update(exif_tags)
    img.save(path, format="JPEG", exif=exif)
    return path


def test_written_exif_round_trips_through_exifread(tmp_path: Path) -> None:
    path = _write_jpeg(tmp_path / "a.jpg", {ISO: 200, FNUMBER: IFDRational(28, 10), EXPOSURE: IFDRational(1, 250)})
    with open(path, "rb") as handle:
        tags = exifread.process_file(handle, details=False)
    assert tags["EXIF ISOSpeedRatings"].values == [200]
    assert float(tags["EXIF FNumber"].values[0]) == pytest.approx(2.8)
    assert str(tags["EXIF ExposureTime"].values[0]) == "1/250"


def test_reads_all_four_tags(tmp_path: Path) -> None:
    path = _write_jpeg(
        tmp_path / "a.jpg",
        {ISO: 400, FNUMBER: IFDRational(28, 10), EXPOSURE: IFDRational(1, 250), FOCAL: IFDRational(399, 100)},
    )
    tags = read_exposure_tags(path)
    assert tags == ExposureTags(iso=400.0, fnumber=pytest.approx(2.8), exposure_s=pytest.approx(0.004), focal_mm=pytest.approx(3.99))
    assert isinstance(tags.iso, float)


def test_apex_fallbacks_when_direct_tags_missing(tmp_path: Path) -> None:
    path = _write_jpeg(tmp_path / "a.jpg", {APERTURE_VALUE: IFDRational(3, 1), SHUTTER_VALUE: IFDRational(7, 1)})
    tags = read_exposure_tags(path)
    assert tags.fnumber == pytest.approx(math.sqrt(2) ** 3)  # about 2.83
    assert tags.fnumber == pytest.approx(2.828, abs=1e-3)
    assert tags.exposure_s == pytest.approx(1 / 128)
    assert tags.iso is None and tags.focal_mm is None


def test_negative_shutter_apex_gives_long_exposure(tmp_path: Path) -> None:
    path = _write_jpeg(tmp_path / "a.jpg", {SHUTTER_VALUE: IFDRational(-3, 1)})
    assert read_exposure_tags(path).exposure_s == pytest.approx(8.0)


def test_direct_tag_wins_over_apex(tmp_path: Path) -> None:
    path = _write_jpeg(tmp_path / "a.jpg", {FNUMBER: IFDRational(4, 1), APERTURE_VALUE: IFDRational(3, 1)})
    assert read_exposure_tags(path).fnumber == pytest.approx(4.0)


def test_implausible_direct_tag_falls_back_to_apex(tmp_path: Path) -> None:
    path = _write_jpeg(tmp_path / "a.jpg", {FNUMBER: IFDRational(0, 1), APERTURE_VALUE: IFDRational(2, 1)})
    assert read_exposure_tags(path).fnumber == pytest.approx(2.0)


def test_missing_tags_are_none(tmp_path: Path) -> None:
    path = _write_jpeg(tmp_path / "a.jpg", {ISO: 100})
    tags = read_exposure_tags(path)
    assert tags == ExposureTags(iso=100.0)


@pytest.mark.parametrize(
    ("tag", "value", "field"),
    [
        (ISO, 0, "iso"),
        (ISO, 3, "iso"),
        (FNUMBER, IFDRational(0, 1), "fnumber"),
        (FNUMBER, IFDRational(200, 1), "fnumber"),
        (EXPOSURE, IFDRational(0, 1), "exposure_s"),
        (EXPOSURE, IFDRational(5000, 1), "exposure_s"),
        (FOCAL, IFDRational(0, 0), "focal_mm"),
        (FOCAL, IFDRational(99999, 1), "focal_mm"),
        (SHUTTER_VALUE, IFDRational(-20, 1), "exposure_s"),
        (APERTURE_VALUE, IFDRational(40, 1), "fnumber"),
    ],
)
def test_zero_and_absurd_values_dropped(tmp_path: Path, tag: int, value: object, field: str) -> None:
    path = _write_jpeg(tmp_path / "a.jpg", {tag: value})
    assert getattr(read_exposure_tags(path), field) is None


def test_file_without_exif(tmp_path: Path) -> None:
    assert read_exposure_tags(_write_jpeg(tmp_path / "a.jpg", None)) == ExposureTags()


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not an image at all",
        b"\xff\xd8\xff\xe1" + b"garbage" * 50,
        b"\xff\xd8\xff\xe1\x00\x40Exif\x00\x00MM\x00\x2a\xff\xff\xff\xff" + b"\x00" * 60,
        b"II*\x00\x08\x00\x00\x00\xff\xff" + b"\x01" * 100,
    ],
)
def test_garbage_file_gives_all_none(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    assert read_exposure_tags(path) == ExposureTags()


def test_truncated_exif_does_not_crash(tmp_path: Path) -> None:
    good = _write_jpeg(tmp_path / "a.jpg", {ISO: 100, FNUMBER: IFDRational(28, 10)}).read_bytes()
    for cut in range(4, 120, 7):
        path = tmp_path / f"cut{cut}.jpg"
        path.write_bytes(good[:cut])
        assert isinstance(read_exposure_tags(path), ExposureTags)


def test_missing_file_raises_image_read_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jpg"
    with pytest.raises(ImageReadError, match="nope.jpg"):
        read_exposure_tags(missing)


def test_directory_raises_image_read_error(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError):
        read_exposure_tags(tmp_path)


def test_photographic_sensitivity_fallback_and_string_values() -> None:
    tags = {
        "EXIF PhotographicSensitivity": SimpleNamespace(values=[800, 1600]),
        "EXIF ExposureTime": SimpleNamespace(values="1/60"),
        "EXIF FNumber": SimpleNamespace(values=[Ratio(5, 0)]),
        "EXIF FocalLength": SimpleNamespace(values=[]),
    }
    assert exposure_from_tags(tags) == ExposureTags(iso=800.0, exposure_s=pytest.approx(1 / 60))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Ratio(1, 250), 0.004),
        (Ratio(28, 10), 2.8),
        (Ratio(5, 0), None),
        (Ratio(0, 0), None),
        (7, 7.0),
        (2.5, 2.5),
        ("1/250", 0.004),
        (" 2.8 ", 2.8),
        ("f/2.8", None),
        ("1/0", None),
        ("", None),
        ("abc", None),
        (b"1/4\x00", 0.25),
        (float("inf"), None),
        (float("nan"), None),
        (None, None),
        (True, None),
        ([1, 2], None),
    ],
)
def test_parse_ratio(value: object, expected: float | None) -> None:
    result = parse_ratio(value)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


def test_log_values_order_and_nan() -> None:
    values = ExposureTags(iso=100.0, fnumber=None, exposure_s=0.004, focal_mm=None).log_values()
    assert values.shape == (4,) and values.dtype == np.float32
    assert values[0] == pytest.approx(math.log(100.0))
    assert values[2] == pytest.approx(math.log(0.004))
    assert np.isnan(values[1]) and np.isnan(values[3])
    assert np.isnan(ExposureTags().log_values()).all()


def test_ranges_cover_every_tag() -> None:
    assert set(PLAUSIBLE_RANGES) == set(TAG_NAMES)
    assert all(0 < low < high for low, high in PLAUSIBLE_RANGES.values())


def test_boundary_values_are_kept(tmp_path: Path) -> None:
    path = _write_jpeg(tmp_path / "a.jpg", {EXPOSURE: IFDRational(1, 64000), ISO: 6})
    tags = read_exposure_tags(path)
    assert tags.exposure_s == pytest.approx(1 / 64000) and tags.iso == 6.0


@pytest.mark.skipif(not MANIFEST.is_file(), reason="shared EXIF photo set not present")
def test_matches_manifest_on_real_photos() -> None:
    with open(MANIFEST, newline="") as handle:
        rows = list(csv.DictReader(handle))
    checked = 0
    for row in rows[:: max(1, len(rows) // 20)][:20]:
        path = SHARED_DATA / row["path"]
        if not path.is_file():
            continue
        tags = read_exposure_tags(path)
        for name in TAG_NAMES:
            expected = float(row[name]) if row[name] else None
            actual = getattr(tags, name)
            if expected is None:
                assert actual is None, (path, name)
            else:
                assert actual == pytest.approx(expected, rel=1e-3), (path, name)
        checked += 1
    if checked == 0:
        pytest.skip("manifest present but its photos are not")

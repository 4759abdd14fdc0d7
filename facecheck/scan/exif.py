"""The four ordinal EXIF tags (ISO, F-number, exposure time, focal length), read with exifread."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import exifread
import numpy as np

from facecheck.errors import ImageReadError
from facecheck.scan.io import open_regular

TAG_NAMES = ("iso", "fnumber", "exposure_s", "focal_mm")

# Plausible (inclusive) range per tag; anything outside is a corrupt or placeholder value and is dropped.
PLAUSIBLE_RANGES: dict[str, tuple[float, float]] = {
    "iso": (6.0, 409_600.0),
    "fnumber": (0.7, 64.0),
    "exposure_s": (1.0 / 64_000.0, 3_600.0),
    "focal_mm": (0.5, 2_000.0),
}

# Float round-off (e.g. 1/64000 written as a rational) must not push a boundary value out of range.
_RANGE_SLACK = 1e-6


@dataclass(frozen=True)
class ExposureTags:
    """Exposure settings of one photo; None where the tag is missing or implausible."""

    iso: float | None = None
    fnumber: float | None = None
    exposure_s: float | None = None
    focal_mm: float | None = None

    def log_values(self) -> np.ndarray:
        """Natural logs in `TAG_NAMES` order, NaN where missing.

        Returns
        -------
        values : (4,) float32
        """
        raw = (self.iso, self.fnumber, self.exposure_s, self.focal_mm)
        return np.array([math.log(v) if v is not None else math.nan for v in raw], dtype=np.float32)


def parse_ratio(value: Any) -> float | None:
    """A finite float from an exifread Ratio, int, float or "a/b" string; None for garbage or x/0."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, (bytes, bytearray)):
            value = value.decode("ascii")
        if isinstance(value, str):
            text = value.strip().rstrip("\x00").strip()
            if "/" in text:
                num, den = text.split("/", 1)
                number = float(num) / float(den)
            else:
                number = float(text)
        elif isinstance(value, Fraction):
            # exifread's Ratio keeps a zero denominator instead of raising; float() then divides by zero.
            if value.denominator == 0:
                return None
            number = float(value)
        else:
            number = float(value)
    except (ValueError, TypeError, ZeroDivisionError, OverflowError, UnicodeDecodeError, AttributeError):
        return None
    return number if math.isfinite(number) else None


def read_exposure_tags(path: str | Path) -> ExposureTags:
    """ISO, F-number, exposure time and focal length of one file; all None without usable EXIF.

    Raises `ImageReadError` only when the file cannot be opened.
    """
    try:
        with open_regular(path) as handle:  # refuses a FIFO (would block) or a device (never ends)
            try:
                tags = exifread.process_file(handle, details=False)
            except Exception:  # exifread raises arbitrary errors on malformed or hostile files
                tags = {}
    except OSError as exc:
        raise ImageReadError(f"cannot open {path}: {exc.strerror or exc}") from exc
    return exposure_from_tags(tags if isinstance(tags, dict) else {})


def exposure_from_tags(tags: dict[str, Any]) -> ExposureTags:
    """Pick, convert and range-check the four tags from exifread's dict."""
    iso = _first_number(tags, "EXIF ISOSpeedRatings")
    if _checked("iso", iso) is None:
        iso = _first_number(tags, "EXIF PhotographicSensitivity")

    fnumber = _checked("fnumber", _first_number(tags, "EXIF FNumber"))
    if fnumber is None:
        fnumber = _apex(_first_number(tags, "EXIF ApertureValue"), lambda av: math.sqrt(2.0) ** av)

    exposure = _checked("exposure_s", _first_number(tags, "EXIF ExposureTime"))
    if exposure is None:
        exposure = _apex(_first_number(tags, "EXIF ShutterSpeedValue"), lambda tv: 2.0 ** (-tv))

    return ExposureTags(
        iso=_checked("iso", iso),
        fnumber=_checked("fnumber", fnumber),
        exposure_s=_checked("exposure_s", exposure),
        focal_mm=_checked("focal_mm", _first_number(tags, "EXIF FocalLength")),
    )


def _first_number(tags: dict[str, Any], key: str) -> float | None:
    """The first value of an exifread tag as a float, or None."""
    tag = tags.get(key)
    if tag is None:
        return None
    values = getattr(tag, "values", None)
    if isinstance(values, (str, bytes)):
        # ASCII-typed tags come as one string, not a list of numbers.
        return parse_ratio(values)
    if isinstance(values, (list, tuple)):
        return parse_ratio(values[0]) if values else None
    return parse_ratio(values)


def _apex(value: float | None, convert: Any) -> float | None:
    """Convert an APEX value, None when missing or when the power overflows."""
    if value is None:
        return None
    try:
        result = float(convert(value))
    except (OverflowError, ValueError, ZeroDivisionError):
        return None
    return result if math.isfinite(result) else None


def _checked(name: str, value: float | None) -> float | None:
    """`value` if within the tag's plausible range, else None."""
    if value is None:
        return None
    low, high = PLAUSIBLE_RANGES[name]
    if low * (1.0 - _RANGE_SLACK) <= value <= high * (1.0 + _RANGE_SLACK):
        return value
    return None

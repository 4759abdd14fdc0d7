"""What each witness sees of a face: its input spec (a resized crop, native-resolution patches) and the cutting.

A spec is a frozen, picklable description with `shape`, `cut(image, box)` and `to_dict`; the bundle's
manifest stores `to_dict()` and `spec_from_dict` rebuilds it by its "type" from `SPEC_TYPES`, so a
witness that needs a new kind of input defines its spec class and adds one entry there
(`SPEC_TYPES["mine"] = MySpec`), without touching the scan path. `cut` runs in worker processes: no torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar, Protocol

import cv2
import numpy as np

# How much the detector's box is enlarged around its centre before the appearance crop is cut.
CROP_SCALE = 1.3


class InputSpec(Protocol):
    """What a witness cuts per face: `shape` of one face's input, `cut`, and `to_dict` for the manifest."""

    type: ClassVar[str]

    @property
    def shape(self) -> tuple[int, ...]: ...

    def cut(self, image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray: ...

    def to_dict(self) -> dict: ...


def crop_box(
    box: tuple[int, int, int, int], image_shape: tuple[int, ...], scale: float = CROP_SCALE
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
    image: np.ndarray, box: tuple[int, int, int, int], *, size: int, scale: float = CROP_SCALE
) -> np.ndarray:
    """Return the enlarged box of `image` resized to (size, size, 3) uint8."""
    top, right, bottom, left = crop_box(box, image.shape, scale)
    patch = image[top:bottom, left:right]
    shrinking = patch.shape[0] > size or patch.shape[1] > size
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(patch), (size, size), interpolation=interp)


@dataclass(frozen=True)
class CropSpec:
    """The face's enlarged box resized to `size` x `size` (the appearance witness's input)."""

    type: ClassVar[str] = "crop"
    size: int = 128
    scale: float = CROP_SCALE

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.size, self.size, 3)

    def cut(self, image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """(size, size, 3) uint8 crop of `image` around `box`."""
        return crop_face(image, box, size=self.size, scale=self.scale)

    def to_dict(self) -> dict:
        return {"type": self.type, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "CropSpec":
        return cls(size=int(d["size"]), scale=float(d["scale"]))


@dataclass(frozen=True)
class PatchSpec:
    """A `grid` x `grid` lattice of `size`-pixel patches of the face at the image's own resolution.

    Never resized: the pixel-level traces a generator's decoder leaves would not survive it. The
    patches are spread evenly over the enlarged box (overlapping when it is small); a box smaller
    than a patch is widened around its centre, and an image smaller than a patch is mirror-padded.
    """

    type: ClassVar[str] = "patches"
    size: int = 64
    grid: int = 2
    scale: float = 1.0

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.grid * self.grid, self.size, self.size, 3)

    def cut(self, image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """(grid * grid, size, size, 3) uint8 native-resolution patches of `image` around `box`."""
        s = self.size
        h, w = image.shape[:2]
        if h < s or w < s:
            pad_h, pad_w = max(0, s - h), max(0, s - w)
            image = cv2.copyMakeBorder(np.ascontiguousarray(image), pad_h // 2, pad_h - pad_h // 2,
                                       pad_w // 2, pad_w - pad_w // 2, cv2.BORDER_REFLECT_101)
            top, right, bottom, left = box
            box = (top + pad_h // 2, right + pad_w // 2, bottom + pad_h // 2, left + pad_w // 2)
            h, w = image.shape[:2]
        top, right, bottom, left = crop_box(box, image.shape, self.scale)
        ys = _starts(top, bottom, s, h, self.grid)
        xs = _starts(left, right, s, w, self.grid)
        return np.stack([image[y : y + s, x : x + s] for y in ys for x in xs])

    def to_dict(self) -> dict:
        return {"type": self.type, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "PatchSpec":
        return cls(size=int(d["size"]), grid=int(d["grid"]), scale=float(d["scale"]))


def _starts(lo: int, hi: int, size: int, limit: int, n: int) -> list[int]:
    """`n` evenly spaced patch starts covering [lo, hi), widened to `size` and kept inside [0, limit)."""
    if hi - lo < size:
        centre = (lo + hi) // 2
        lo, hi = centre - size // 2, centre - size // 2 + size
    lo, hi = max(0, min(lo, limit - size)), min(limit, max(hi, size))
    last = hi - size
    return [int(round(lo + (last - lo) * i / max(1, n - 1))) if n > 1 else (lo + last) // 2 for i in range(n)]


def spec_from_dict(d: dict) -> InputSpec:
    """Rebuild a spec from its manifest entry (`to_dict`), looked up by its "type" in `SPEC_TYPES`."""
    d = dict(d)
    kind = d.pop("type", None)
    if not isinstance(kind, str) or kind not in SPEC_TYPES:
        raise ValueError(f"unknown input type {kind!r}")
    return SPEC_TYPES[kind].from_dict(d)


# "type" in a manifest -> the spec class that rebuilds it (`from_dict`).
SPEC_TYPES: dict[str, type] = {"crop": CropSpec, "patches": PatchSpec}

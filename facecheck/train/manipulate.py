"""Artificial face manipulations (mouth/eye flips, warps) from dlib's 68 landmarks, for the pretext task."""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np
from scipy.spatial import Delaunay

MANIPULATIONS = ("mouth_vflip", "mouth_hflip", "eyes_hflip", "warp")
ORIGINAL = "original"
# Reported by `random_sample` when no landmarks were found and the landmark-free warp was used.
WARP_NO_LANDMARKS = "warp_no_landmarks"

_MOUTH = slice(48, 68)
_EYES = slice(36, 48)

# Region padding as a fraction of the region's larger side, drawn per sample so that the
# seam's distance from the mouth or eyes is not a constant the network could key on.
_PAD_RANGE = (0.15, 0.25)
# Warp displacement amplitude as a fraction of the face size (a few %).
_JITTER_RANGE = (0.02, 0.05)
# Displacements are a sum of Gaussian bumps this wide (fraction of face size): nearby landmarks
# move together, so triangles do not fold even where points nearly coincide (closed lips).
_BUMP_WIDTH = 0.3
_N_BUMPS = 4
# Feather sigma of the warp masks as a fraction of the face size (or of the crop without landmarks).
_WARP_FEATHER = 0.04
# Landmark-free fallback: control grid of the smooth displacement field, and the ellipse
# (semi-axes as fractions of width and height) assumed to hold the face in a centred crop.
_FALLBACK_GRID = 4
_FALLBACK_AXES = (0.32, 0.40)


def flip_mouth_vertical(image: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Flip the padded mouth box upside down and blend it back through a feathered mask."""
    return _flip_region(image, _checked_landmarks(landmarks)[_MOUTH], axis=0, rng=rng)


def flip_mouth_horizontal(image: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirror the padded mouth box left-right and blend it back through a feathered mask."""
    return _flip_region(image, _checked_landmarks(landmarks)[_MOUTH], axis=1, rng=rng)


def flip_eyes_horizontal(image: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirror the padded box around both eyes, swapping left and right eye, and blend it back."""
    return _flip_region(image, _checked_landmarks(landmarks)[_EYES], axis=1, rng=rng)


def warp_face(image: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Distort the face by a random smooth piecewise-affine warp, blended through the soft face hull.

    Landmarks move by a sum of random Gaussian bumps; image corners and edge midpoints stay fixed;
    each triangle of the Delaunay triangulation is mapped affinely.
    """
    image = _checked_image(image)
    points = _checked_landmarks(landmarks)
    height, width = image.shape[:2]
    face_size = max(float(np.ptp(points[:, 0])), float(np.ptp(points[:, 1])), 1.0)

    centres = points[rng.choice(len(points), size=_N_BUMPS, replace=False)]
    amplitudes = rng.normal(0.0, rng.uniform(*_JITTER_RANGE) * face_size, size=(_N_BUMPS, 2))
    squared = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    moved = points + np.exp(-squared / (2.0 * (_BUMP_WIDTH * face_size) ** 2)) @ amplitudes

    anchors = _border_anchors(height, width)
    src = np.vstack([points, anchors])
    dst = np.vstack([moved, anchors])

    mask = np.zeros((height, width), np.float32)
    hull = cv2.convexHull(np.round(points * 16).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1.0, lineType=cv2.LINE_AA, shift=4)
    mask, roi = _feather(mask, _WARP_FEATHER * face_size)
    if roi is None:
        return image.copy()
    map_x, map_y = _piecewise_affine_maps(src, dst, roi)
    return _remap_and_blend(image, map_x, map_y, mask, roi)


def warp_without_landmarks(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Distort the centre of a face crop by a random smooth grid warp, blended through a soft ellipse."""
    image = _checked_image(image)
    height, width = image.shape[:2]
    size = float(min(height, width))
    amplitude = rng.uniform(*_JITTER_RANGE) * size
    grid = rng.normal(0.0, amplitude, size=(_FALLBACK_GRID, _FALLBACK_GRID, 2)).astype(np.float32)
    field = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)

    mask = np.zeros((height, width), np.float32)
    centre = (round(width / 2), round(height / 2))
    axes = (max(1, round(_FALLBACK_AXES[0] * width)), max(1, round(_FALLBACK_AXES[1] * height)))
    cv2.ellipse(mask, centre, axes, 0.0, 0.0, 360.0, 1.0, thickness=-1, lineType=cv2.LINE_AA)
    mask, roi = _feather(mask, _WARP_FEATHER * size)
    if roi is None:
        return image.copy()
    y0, y1, x0, x1 = roi
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    return _remap_and_blend(image, xs + field[y0:y1, x0:x1, 0], ys + field[y0:y1, x0:x1, 1], mask, roi)


def manipulate(
    image: np.ndarray, landmarks: np.ndarray | None, kind: str, rng: np.random.Generator
) -> np.ndarray:
    """Apply the manipulation named `kind` (one of `MANIPULATIONS`) to a copy of `image`.

    Parameters
    ----------
    image : (H, W, 3) uint8 RGB face crop
    landmarks : (68, 2) float (x, y) pixel coordinates in `image`, iBUG order; None only for "warp",
        which then falls back to `warp_without_landmarks`
    """
    functions: dict[str, Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]] = {
        "mouth_vflip": flip_mouth_vertical,
        "mouth_hflip": flip_mouth_horizontal,
        "eyes_hflip": flip_eyes_horizontal,
        "warp": warp_face,
    }
    if kind not in functions:
        raise ValueError(f"unknown manipulation {kind!r}; choose one of {', '.join(MANIPULATIONS)}")
    if landmarks is None:
        if kind != "warp":
            raise ValueError(f"manipulation {kind!r} needs landmarks; only 'warp' works without them")
        return warp_without_landmarks(image, rng)
    return functions[kind](image, landmarks, rng)


def random_sample(
    image: np.ndarray, landmarks: np.ndarray | None, rng: np.random.Generator
) -> tuple[np.ndarray, int, str]:
    """One training sample: the original (label 0) with probability 1/2, else a manipulation (label 1).

    The manipulation is drawn uniformly from `MANIPULATIONS`; without landmarks it is always the
    landmark-free warp, reported as `WARP_NO_LANDMARKS`.

    Returns
    -------
    image : (H, W, 3) uint8, a new array
    label : 0 original, 1 manipulated
    kind : "original", a name from `MANIPULATIONS`, or `WARP_NO_LANDMARKS`
    """
    image = _checked_image(image)
    if rng.random() < 0.5:
        return image.copy(), 0, ORIGINAL
    if landmarks is None:
        return warp_without_landmarks(image, rng), 1, WARP_NO_LANDMARKS
    kind = MANIPULATIONS[int(rng.integers(len(MANIPULATIONS)))]
    return manipulate(image, landmarks, kind, rng), 1, kind


def _flip_region(image: np.ndarray, points: np.ndarray, axis: int, rng: np.random.Generator) -> np.ndarray:
    """Flip the padded bounding box of `points` along `axis` and blend it back with feathered edges."""
    image = _checked_image(image)
    height, width = image.shape[:2]
    (x_min, y_min), (x_max, y_max) = points.min(axis=0), points.max(axis=0)
    pad = rng.uniform(*_PAD_RANGE) * max(x_max - x_min, y_max - y_min, 1.0)
    box = (math.floor(x_min - pad), math.floor(y_min - pad), math.ceil(x_max + pad) + 1, math.ceil(y_max + pad) + 1)
    x0, y0 = max(box[0], 0), max(box[1], 0)
    x1, y1 = min(box[2], width), min(box[3], height)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return image.copy()

    # The mask is 1 up to half the padding from the region, falling to 0 at the box edge; sides cut
    # by the image border stay at 1 so no unflipped sliver remains there.
    sigma = max(pad / 6.0, 0.5)
    inset = math.ceil(3.0 * sigma)
    mask = np.zeros((y1 - y0, x1 - x0), np.float32)
    fy0, fx0 = max(box[1] + inset, 0) - y0, max(box[0] + inset, 0) - x0
    fy1, fx1 = min(box[3] - inset, height) - y0, min(box[2] - inset, width) - x0
    mask[max(fy0, 0) : max(fy1, 0), max(fx0, 0) : max(fx1, 0)] = 1.0
    mask = cv2.GaussianBlur(mask, (2 * inset + 1, 2 * inset + 1), sigma, borderType=cv2.BORDER_REPLICATE)

    patch = image[y0:y1, x0:x1]
    flipped = patch[::-1] if axis == 0 else patch[:, ::-1]
    out = image.copy()
    out[y0:y1, x0:x1] = _blend(patch, flipped, mask)
    return out


def _piecewise_affine_maps(
    src: np.ndarray, dst: np.ndarray, roi: tuple[int, int, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Backward maps (for cv2.remap) over `roi` sending each triangle of `dst` onto its `src` triangle."""
    y0, y1, x0, x1 = roi
    triangles = Delaunay(dst).simplices
    # Solve [x y 1] @ A = src for each triangle: A is the (3, 2) affine map from dst to src.
    corners = np.concatenate([dst[triangles], np.ones((len(triangles), 3, 1))], axis=2)
    degenerate = np.abs(np.linalg.det(corners)) < 1e-9
    corners[degenerate] = np.eye(3)
    affine = np.linalg.solve(corners, src[triangles])
    affine[degenerate] = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])

    labels = np.full((y1 - y0, x1 - x0), -1, np.int32)
    for index, triangle in enumerate(triangles):
        if not degenerate[index]:
            vertices = np.round((dst[triangle] - (x0, y0)) * 16).astype(np.int32)
            cv2.fillConvexPoly(labels, vertices, index, lineType=cv2.LINE_8, shift=4)
    # Pixels no triangle claims (rounding at shared edges) keep their place.
    identity = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    per_pixel = np.concatenate([affine, identity[None]])[labels]
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    mapped = xs[..., None] * per_pixel[..., 0, :] + ys[..., None] * per_pixel[..., 1, :] + per_pixel[..., 2, :]
    return mapped[..., 0].astype(np.float32), mapped[..., 1].astype(np.float32)


def _remap_and_blend(
    image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, mask: np.ndarray, roi: tuple[int, int, int, int]
) -> np.ndarray:
    """Resample `roi` of `image` through the maps and blend it into a copy through `mask`."""
    y0, y1, x0, x1 = roi
    warped = cv2.remap(image, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    out = image.copy()
    out[y0:y1, x0:x1] = _blend(image[y0:y1, x0:x1], warped, mask[y0:y1, x0:x1])
    return out


def _feather(mask: np.ndarray, sigma: float) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """Gaussian-blur a 0/1 mask; also return the (y0, y1, x0, x1) box where it is non-zero, or None."""
    sigma = max(sigma, 0.5)
    radius = math.ceil(3.0 * sigma)
    blurred = cv2.GaussianBlur(mask, (2 * radius + 1, 2 * radius + 1), sigma, borderType=cv2.BORDER_REPLICATE)
    rows, cols = np.nonzero(blurred.any(axis=1))[0], np.nonzero(blurred.any(axis=0))[0]
    if len(rows) == 0:
        return blurred, None
    return blurred, (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)


def _blend(original: np.ndarray, manipulated: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """mask * manipulated + (1 - mask) * original in float, rounded back to uint8."""
    weight = mask[..., None]
    base = original.astype(np.float32)
    mixed = base + weight * (manipulated.astype(np.float32) - base)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def _border_anchors(height: int, width: int) -> np.ndarray:
    """Fixed points: the image's corners and edge midpoints, so the triangulation covers the crop."""
    xs = (0.0, (width - 1) / 2.0, width - 1.0)
    ys = (0.0, (height - 1) / 2.0, height - 1.0)
    return np.array([(x, y) for x in xs for y in ys if (x, y) != (xs[1], ys[1])], dtype=np.float64)


def _checked_image(image: np.ndarray) -> np.ndarray:
    """Raise ValueError unless `image` is an (H, W, C) uint8 array."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.dtype != np.uint8:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise ValueError(f"expected an (H, W, 3) uint8 image; got shape {shape} and dtype {dtype}")
    return image


def _checked_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """(68, 2) float64 finite landmarks, else ValueError."""
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (68, 2) or not np.isfinite(points).all():
        raise ValueError(f"expected (68, 2) finite landmarks in iBUG order; got shape {points.shape}")
    return points

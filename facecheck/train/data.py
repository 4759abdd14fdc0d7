"""Pre-scan a photo collection (EXIF, faces, landmarks; cached) and build the in-memory training pools."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np
from joblib import Parallel, delayed

from ..errors import FacecheckError
from ..scan.detect import detect_faces, predict_landmarks
from ..scan.exif import TAG_NAMES, read_exposure_tags
from ..scan.inputs import CROP_SCALE, CropSpec, InputSpec, crop_box, crop_face
from ..scan.io import find_images, load_image
from ..scan.workers import parallel

# 2: faces found with the padded retry and confirmed by the CNN check (detect.py, facecheck 0.4.0);
# 3: the retry pads the downscaled copy and drops detections mostly in the border.
CACHE_VERSION = 3
# Split of every file by a hash of its path: stable across runs and machines.
SPLITS = (("train", 0.75), ("select", 0.10), ("calib", 0.15))


def split_of(path: str | os.PathLike) -> str:
    """Assign a file to "train", "select" or "calib" by a hash of its path (stable, ~75/10/15)."""
    u = int(hashlib.sha1(str(path).encode("utf-8", "surrogateescape")).hexdigest()[:8], 16) / 2**32
    edge = 0.0
    for name, share in SPLITS:
        edge += share
        if u < edge:
            return name
    return SPLITS[-1][0]


def _signature(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def _scan_file(path: Path, read_exif: bool) -> dict:
    """Detect faces and landmarks (and read EXIF) in one photo; errors become a record, not an exception."""
    record: dict = {"faces": [], "exif": [None] * 4, "error": None}
    try:
        record["signature"] = _signature(path)
        if read_exif:
            tags = read_exposure_tags(path)
            record["exif"] = [getattr(tags, name) for name in TAG_NAMES]
        image = load_image(path)
        record["shape"] = list(image.shape[:2])
        for face in detect_faces(image):
            marks = predict_landmarks(image, face)
            record["faces"].append({"box": list(face.box), "confidence": face.confidence, "landmarks": marks.round(2).tolist()})
    except FacecheckError as exc:
        record["error"] = str(exc)
    except Exception as exc:  # hostile files must not stop a training run
        record["error"] = f"{path}: {type(exc).__name__}: {exc}"
    return record


def prescan(
    files: list[Path], cache_file: Path | None, *, read_exif: bool = True, n_jobs: int = 2, progress=None
) -> list[dict]:
    """Return one record per file (EXIF values, faces with landmarks, or an error), reusing a JSON cache.

    The cache is keyed by absolute path, size and mtime, so a changed file is scanned again.
    """
    cache: dict = {}
    if cache_file is not None and cache_file.is_file():
        try:
            loaded = json.loads(cache_file.read_text(encoding="utf-8"))
            if loaded.get("version") == CACHE_VERSION:
                cache = loaded["records"]
        except (OSError, ValueError, KeyError, AttributeError):
            cache = {}
    # os.path.realpath, not Path.resolve(): resolve() raises on a symlink loop in the photo folder.
    keys = [os.path.realpath(f) for f in files]
    todo = []
    for f, key in zip(files, keys):
        hit = cache.get(key)
        try:
            fresh = hit is not None and hit.get("signature") == _signature(f) and hit.get("read_exif", False) >= read_exif
        except OSError:
            fresh = False
        if not fresh:
            todo.append((f, key))
    if todo:
        # Processes, not threads: dlib's detector and landmark predictor hold the GIL.
        scanned = parallel(n_jobs)(
            delayed(_scan_file)(f, read_exif) for f, _ in (progress(todo, desc="pre-scanning") if progress else todo)
        )
        for (_, key), record in zip(todo, scanned):
            record["read_exif"] = read_exif
            cache[key] = record
        if cache_file is not None:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"version": CACHE_VERSION, "records": cache}), encoding="utf-8")
            os.replace(tmp, cache_file)
    return [cache[k] for k in keys]


@dataclass
class Pool:
    """Crops (N, S, S, 3) uint8 with their EXIF log-values (N, 4; NaN = unknown), landmarks and split.

    `source` and `boxes` say where each crop comes from, so that other witnesses can cut their own
    inputs from the photo (`witness_inputs`).
    """

    crops: np.ndarray
    exif: np.ndarray
    landmarks: np.ndarray  # (N, 68, 2) float32 in crop pixels; NaN where no landmarks (scene crops)
    split: np.ndarray  # (N,) "train" / "select" / "calib"
    is_face: np.ndarray  # (N,) bool
    boxes: np.ndarray  # (N, 4) int64 face boxes (top, right, bottom, left) in the decoded photo; -1 for scene crops
    source: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.crops)

    def subset(self, mask: np.ndarray) -> "Pool":
        """The rows where the boolean `mask` is true (TypeError for row indices, which it would misread)."""
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != (len(self.split),):
            raise TypeError(f"Pool.subset takes a boolean mask of {len(self.split)} rows, not {mask.dtype} {mask.shape}")
        idx = np.flatnonzero(mask)
        return Pool(self.crops[idx], self.exif[idx], self.landmarks[idx], self.split[idx], self.is_face[idx],
                    self.boxes[idx], [self.source[i] for i in idx])

    @staticmethod
    def concat(pools: Iterable["Pool"]) -> "Pool":
        """Stack pools row-wise."""
        pools = [p for p in pools if len(p)]
        if not pools:
            return Pool.empty(0)
        return Pool(
            np.concatenate([p.crops for p in pools]), np.concatenate([p.exif for p in pools]),
            np.concatenate([p.landmarks for p in pools]), np.concatenate([p.split for p in pools]),
            np.concatenate([p.is_face for p in pools]), np.concatenate([p.boxes for p in pools]),
            [s for p in pools for s in p.source],
        )

    @staticmethod
    def empty(size: int) -> "Pool":
        """A pool with no rows for crops of `size` pixels."""
        return Pool(np.zeros((0, size, size, 3), np.uint8), np.zeros((0, 4), np.float32),
                    np.zeros((0, 68, 2), np.float32), np.zeros(0, "<U6"), np.zeros(0, bool), np.zeros((0, 4), np.int64), [])


def _landmarks_in_crop(marks: np.ndarray, box: tuple[int, int, int, int], shape, size: int, scale: float) -> np.ndarray:
    top, right, bottom, left = crop_box(box, shape, scale)
    out = np.asarray(marks, np.float32).copy()
    out[:, 0] = (out[:, 0] - left) * size / max(1, right - left)
    out[:, 1] = (out[:, 1] - top) * size / max(1, bottom - top)
    return out


def _scene_crops(image: np.ndarray, size: int, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Random square crops of 40-100% of the shorter side, resized like a face crop.

    A face crop covers a similar share of a typical photo and is downscaled by a similar
    factor, so the ranking heads learn from pixels that look like what they see in faces.
    """
    h, w = image.shape[:2]
    out = []
    for _ in range(n):
        side = max(1, int(min(h, w) * rng.uniform(0.4, 1.0)))
        top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        out.append(cv2.resize(image[top : top + side, left : left + side], (size, size), interpolation=cv2.INTER_AREA))
    return out


def _crops_of(path: Path, root: Path, record: dict, size: int, scale: float, scene_crops: int, seed: int) -> Pool:
    """Decode one photo and cut its face crops (or scene crops when it has EXIF but no face)."""
    if record.get("error"):
        return Pool.empty(size)
    try:
        image = load_image(path)
    except FacecheckError:
        return Pool.empty(size)
    exif = np.array([np.log(v) if v else np.nan for v in record["exif"]], np.float32)
    # The path inside the scanned folder names the file for its split and its scene-crop seed, so the
    # same data gives the same pool however the folder is spelled or wherever it lies.
    name = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
    crops, marks, boxes = [], [], []
    for face in record["faces"]:
        box = tuple(face["box"])
        boxes.append(box)
        crops.append(crop_face(image, box, size=size, scale=scale))
        marks.append(_landmarks_in_crop(np.array(face["landmarks"]), box, image.shape, size, scale))
    is_face = [True] * len(crops)
    if not crops and np.isfinite(exif).any() and scene_crops > 0:
        rng = np.random.default_rng([seed, int(hashlib.sha1(name.encode("utf-8", "surrogateescape")).hexdigest()[:8], 16)])
        crops = _scene_crops(image, size, scene_crops, rng)
        marks = [np.full((68, 2), np.nan, np.float32)] * len(crops)
        boxes = [(-1, -1, -1, -1)] * len(crops)
        is_face = [False] * len(crops)
    n = len(crops)
    if n == 0:
        return Pool.empty(size)
    split = split_of(name)
    return Pool(np.stack(crops), np.repeat(exif[None], n, 0), np.stack(marks), np.array([split] * n),
                np.array(is_face), np.array(boxes, np.int64).reshape(n, 4), [str(path)] * n)


def build_pool(
    folders: list[str | os.PathLike], *, size: int, scale: float = CROP_SCALE, read_exif: bool = True, scene_crops: int = 2,
    cache_file: Path | None = None, seed: int = 0, n_jobs: int = 2, progress=None,
) -> tuple[Pool, dict]:
    """Pre-scan `folders` (recursively) and return their crops as a Pool plus counts for the report."""
    files = find_images(folders, recursive=True)
    roots = [Path(f) for f in folders]
    records = prescan(files, cache_file, read_exif=read_exif, n_jobs=n_jobs, progress=progress)
    pools = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(_crops_of)(f, next((r for r in roots if f.is_relative_to(r)), f.parent), rec, size, scale,
                           scene_crops if read_exif else 0, seed)
        for f, rec in zip(files, records)
    )
    pool = Pool.concat(pools)
    if not len(pool):
        pool = Pool.empty(size)
    counts = {
        "files": len(files),
        "unreadable": sum(1 for r in records if r.get("error")),
        "with_exif": sum(1 for r in records if any(v is not None for v in r["exif"])),
        "without_exif": sum(1 for r in records if not r.get("error") and all(v is None for v in r["exif"])),
        "with_faces": sum(1 for r in records if r["faces"]),
        "faces": int(pool.is_face.sum()),
        "scene_crops": int((~pool.is_face).sum()),
        "per_tag": {name: sum(1 for r in records if r["exif"][i] is not None) for i, name in enumerate(TAG_NAMES)},
    }
    return pool, counts


def witness_inputs(faces: Pool, spec: InputSpec, *, n_jobs: int = 2, histories: int = 0,
                   seed: int = 0, progress=None) -> np.ndarray:
    """Each face's input for `spec`, (N, *spec.shape) uint8, cut from its photo at its box (worker processes).

    With `histories` K > 0, the result is (K + 1) blocks of N rows: the faces as they are, then each face
    after K random processing histories (`history.random_history`, drawn from `seed` and the photo's file name),
    applied to the whole photo before cutting, so that a mixture sees every real face with many histories.
    The pool's own crops are returned when `spec` is the crop they were cut with and no history is asked.
    `progress` (tqdm-like, optional) wraps the photos as they are cut.
    """
    if not faces.is_face.all():
        raise ValueError("witness_inputs needs a pool of faces (scene crops have no box)")
    if not histories and spec == CropSpec(size=faces.crops.shape[1], scale=CROP_SCALE):
        return faces.crops
    rows: dict[str, list[int]] = {}
    for i, source in enumerate(faces.source):
        rows.setdefault(source, []).append(i)
    todo = rows.items() if progress is None else progress(rows.items(), total=len(rows), desc="cutting faces")
    cut = parallel(n_jobs, batch_size=8)(
        delayed(_cut)(source, [tuple(int(v) for v in faces.boxes[i]) for i in idx], spec, histories, seed)
        for source, idx in todo
    )
    out = np.empty((histories + 1, len(faces), *spec.shape), np.uint8)
    for idx, inputs in zip(rows.values(), cut):
        out[:, idx] = inputs
    return out.reshape(-1, *spec.shape)


def _cut(path: str, boxes: list[tuple[int, int, int, int]], spec: InputSpec, histories: int = 0,
         seed: int = 0) -> np.ndarray:
    """Decode one photo as the pre-scan did and cut `spec`'s input at each box, as is and after `histories` histories.

    Returns (histories + 1, len(boxes), *spec.shape).
    """
    from ..scan.imaging import follow_box

    image = load_image(path)
    out = [np.stack([spec.cut(image, box) for box in boxes])]
    for history in face_histories(path, boxes, histories, seed):
        processed = history.apply(image)
        out.append(np.stack([spec.cut(processed, follow_box(box, image.shape, processed.shape)) for box in boxes]))
    return np.stack(out)


def face_histories(path: str, boxes: list[tuple[int, int, int, int]], histories: int, seed: int = 0) -> list:
    """The `histories` random processing histories `witness_inputs` gives one photo: drawn from `seed` and
    the photo's file name, keeping its smallest face at least 40 px (the scan's smallest) after a downscale."""
    from .history import random_history

    rng = np.random.default_rng([seed, int(hashlib.sha1(Path(path).name.encode("utf-8", "surrogateescape")).hexdigest()[:8], 16)])
    smallest = min(min(b[2] - b[0], b[1] - b[3]) for b in boxes)
    return [random_history(rng, min_scale=min(1.0, max(0.35, 40 / max(1, smallest))), max_scale=2.0) for _ in range(histories)]

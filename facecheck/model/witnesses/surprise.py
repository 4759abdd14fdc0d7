"""The surprise witness: how much more, or less, a face costs to code than a coder of real faces expects.

After ZED (Cozzolino et al., ECCV 2024): a lossless coder fitted on real images predicts each pixel;
its coding cost (the negative log-probability of what the pixel is) and the cost it expects (the entropy
of its own prediction) agree on real images, and a generator's pixels, drawn by another process, are
more (or less) predictable than the coder expects. The gap is measured within each context of local
activity, so a sharp face and a soft one are each compared with real faces as sharp or as soft: what a
sharpness statistic alone explains cancels.

The coder is small and fitted, not trained: LOCO-I's median edge predictor on the luminance of the
face's native-resolution patches, the context the quantised activity of the causal neighbours, and per
context the histogram of the residuals of real faces (`fit`). Three scales: the patch, and its 2 x 2
and 4 x 4 block means. Features per scale: the mean surprise (cost - expected cost, bits per pixel) in
each context, and overall.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from ...errors import WeightsError
from .base import LUMA, FixedWitness, PatchSpec

# Upper edges of the activity contexts (|a - c| + |b - c| + |b - d| of the causal neighbours).
EDGES = (0, 1, 2, 3, 4, 6, 8, 11, 15, 20, 27, 36, 48, 64, 90)
T = 48  # residuals clipped to [-T, T]
SCALES = (1, 2, 4)
SHAPE = (len(SCALES), len(EDGES) + 1, 2 * T + 1)  # the coder: log2 probabilities per scale, context, residual
CODER = {"scales": list(SCALES), "edges": list(EDGES), "clip": T}  # what the manifest records of it
PATCHES = PatchSpec(size=64, grid=3, scale=1.0)


def _prepare(luma: np.ndarray, scale: int) -> np.ndarray:
    """(N, P, S, S) float luminance -> its `scale` x `scale` block means, rounded to integers."""
    if scale == 1:
        return np.rint(luma).astype(np.int16)
    n, p, s, _ = luma.shape
    m = s // scale
    x = luma[..., : m * scale, : m * scale].reshape(n, p, m, scale, m, scale).mean(axis=(3, 5))
    return np.rint(x).astype(np.int16)


def residuals(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, P, H, W) int16 -> (residual + T, context) each (N, P, H - 1, W - 2): MED prediction errors
    clipped to [-T, T] and shifted, and each pixel's activity context (index into EDGES + 1 bins)."""
    a = x[..., 1:, :-2].astype(np.int32)  # left
    b = x[..., :-1, 1:-1].astype(np.int32)  # up
    c = x[..., :-1, :-2].astype(np.int32)  # up-left
    d = x[..., :-1, 2:].astype(np.int32)  # up-right
    v = x[..., 1:, 1:-1].astype(np.int32)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    pred = np.where(c >= hi, lo, np.where(c <= lo, hi, a + b - c))
    e = np.clip(v - pred, -T, T) + T
    activity = np.abs(a - c) + np.abs(b - c) + np.abs(b - d)
    return e, np.searchsorted(np.asarray(EDGES), activity, side="left")


def coded(inputs: np.ndarray):
    """(residual + T, context) of (N, P, S, S, 3) uint8 patches' luminance at each of SCALES, in order."""
    luma = inputs.astype(np.float32) @ LUMA
    for s in SCALES:
        yield residuals(_prepare(luma, s))


def laplace_tables() -> np.ndarray:
    """A coder fitted on nothing: per context, a discrete Laplace law whose scale grows with the activity."""
    e = np.arange(-T, T + 1)
    scale = np.maximum(0.5, np.asarray((0, *EDGES)) / 3.0)[:, None]
    p = np.exp(-np.abs(e)[None] / scale)
    table = np.log2(p / p.sum(axis=1, keepdims=True))
    return np.repeat(table[None], len(SCALES), axis=0)


class SurpriseWitness(FixedWitness):
    """Coding cost against expected cost under a context coder of real faces, per context and scale.

    tables : the coder, SHAPE log2 probabilities (`fit` makes them from real faces; default `laplace_tables`).
    """

    kind = "surprise"
    summary = ("how much more or less a face costs to code than a coder fitted on real faces expects, per local activity, "
               "at the image's own resolution (after ZED)")
    label = "surprise"
    min_size = 16
    file_suffix = ".coder.npz"  # beside its mixture, <name>.npz

    def __init__(self, tables: np.ndarray | None = None, *, spec: PatchSpec = PATCHES, name: str = "surprise"):
        self._set_spec(spec, name)
        self.tables = laplace_tables() if tables is None else np.asarray(tables, np.float64)
        p = np.exp2(self.tables)
        if self.tables.shape != SHAPE or not np.all(np.isfinite(self.tables)) or not np.allclose(p.sum(axis=-1), 1, atol=1e-6):
            raise ValueError(f"a coder is {SHAPE} log2 probabilities, each row summing to 1")

    @property
    def n_features(self) -> int:
        return len(SCALES) * (len(EDGES) + 2)

    @classmethod
    def counts(cls, inputs: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """SHAPE residual counts of (N, P, S, S, 3) uint8 patches (of `rows` only, if given), `chunk` faces at a
        time: what `fit` takes."""
        rows = np.arange(len(inputs)) if rows is None else np.asarray(rows)
        k, m = SHAPE[1:]
        out = np.zeros(SHAPE)
        for start in range(0, len(rows), cls.chunk):
            for i, (e, ctx) in enumerate(coded(inputs[rows[start:start + cls.chunk]])):
                out[i] += np.bincount((ctx * m + e).ravel(), minlength=k * m).reshape(k, m)
        return out

    @classmethod
    def fit(cls, counts: np.ndarray, **kwargs) -> "SurpriseWitness":
        """The witness whose coder is the real faces' residual `counts` (summed `counts(...)`), smoothed."""
        p = np.asarray(counts, np.float64) + 0.5
        return cls(np.log2(p / p.sum(axis=-1, keepdims=True)), **kwargs)

    @classmethod
    def training_builder(cls, **options):
        """Fit the coder on the run's training-split faces as they are (no history; never a fake)."""

        def build(run) -> "SurpriseWitness":
            return cls.fit(cls.counts(run.inputs(PATCHES), np.flatnonzero(run.faces.split == "train")))

        return build

    def features(self, inputs: np.ndarray) -> np.ndarray:
        n, k = len(inputs), SHAPE[1]
        out = []
        for logp, (e, ctx) in zip(self.tables, coded(inputs)):  # logp: (contexts, 2T + 1), log2
            expected = -(np.exp2(logp) * logp).sum(axis=1)  # entropy per context, bits
            gap = (-logp[ctx, e] - expected[ctx]).reshape(n, -1)
            flat = (ctx.reshape(n, -1) + (np.arange(n) * k)[:, None]).ravel()
            sums = np.bincount(flat, weights=gap.ravel(), minlength=n * k).reshape(n, k)
            hits = np.bincount(flat, minlength=n * k).reshape(n, k)
            out += [sums / np.maximum(hits, 1), gap.mean(axis=1, keepdims=True)]
        return np.concatenate(out, axis=1).astype(np.float32)

    def params(self) -> dict:
        return dict(CODER)

    def save(self, path: str | Path) -> None:
        buf = io.BytesIO()
        np.savez(buf, tables=self.tables)
        Path(path).write_bytes(buf.getvalue())

    @classmethod
    def load(cls, path: str | Path, config: dict, *, name: str | None = None, device: str = "cpu") -> "SurpriseWitness":
        """Rebuild from the manifest's `config` and the coder at `path` (.npz, arrays only, at most 64 KiB)."""
        try:
            spec = cls.patch_spec(config)
            if {k: config.get(k) for k in CODER} != CODER:
                raise ValueError("the manifest describes another coder")
            if Path(path).stat().st_size > 1 << 16:
                raise ValueError("file too large")
            with np.load(path, allow_pickle=False) as z:
                tables = z["tables"]
            return cls(tables, spec=spec, name=cls.kind if name is None else name)
        except (KeyError, TypeError, ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise WeightsError(f"{path}: cannot load the {cls.label} witness ({exc})") from None

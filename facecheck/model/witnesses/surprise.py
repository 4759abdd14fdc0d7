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
from .base import LUMA, FixedWitness, PatchSpec, binned_means

# Upper edges of the activity contexts (|a - c| + |b - c| + |b - d| of the causal neighbours).
EDGES = (0, 1, 2, 3, 4, 6, 8, 11, 15, 20, 27, 36, 48, 64, 90)
T = 48  # residuals clipped to [-T, T]
SCALES = (1, 2, 4)
SHAPE = (len(SCALES), len(EDGES) + 1, 2 * T + 1)  # one plane's coder: log2 probabilities per scale, context, residual
CODER = {"scales": list(SCALES), "edges": list(EDGES), "clip": T}  # what the manifest records of it
PATCHES = PatchSpec(size=64, grid=3, scale=1.0)
# The planes coded: luminance alone, or with JPEG's two chroma differences (BT.601, offsets dropped).
COLOURS = {"luma": (LUMA,),
           "ycc": (LUMA, np.array([-0.168736, -0.331264, 0.5], np.float32), np.array([0.5, -0.418688, -0.081312], np.float32))}
PREDICTORS = ("med", "ls")  # LOCO-I's median edge predictor; per context least squares on 6 causal neighbours
N_TAPS = 7  # the least-squares predictor's taps: left, up, up-left, up-right, left-left, up-up, and a constant
PRIOR = 10.0  # pseudo-samples of the pooled (all contexts) least-squares fit added to each context's


def _prepare(plane: np.ndarray, scale: int) -> np.ndarray:
    """(N, P, S, S) float plane -> its `scale` x `scale` block means, rounded to integers."""
    if scale == 1:
        return np.rint(plane).astype(np.int16)
    n, p, s, _ = plane.shape
    m = s // scale
    x = plane[..., : m * scale, : m * scale].reshape(n, p, m, scale, m, scale).mean(axis=(3, 5))
    return np.rint(x).astype(np.int16)


def _neighbours(x: np.ndarray, reach: int) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """(pixel, causal neighbours, activity context) of the pixels of (N, P, H, W) int16 that have them: with
    `reach` 1 the four of MED (left, up, up-left, up-right), with 2 also left-left and up-up."""
    o = reach
    v = x[..., o:, o:-1].astype(np.int32)
    a, b = x[..., o:, o - 1:-2].astype(np.int32), x[..., o - 1:-1, o:-1].astype(np.int32)
    c, d = x[..., o - 1:-1, o - 1:-2].astype(np.int32), x[..., o - 1:-1, o + 1:].astype(np.int32)
    near = [a, b, c, d] + ([x[..., o:, o - 2:-3].astype(np.int32), x[..., : -2, o:-1].astype(np.int32)] if o == 2 else [])
    activity = np.abs(a - c) + np.abs(b - c) + np.abs(b - d)
    return v, near, np.searchsorted(np.asarray(EDGES), activity, side="left")


def residuals(x: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(N, P, H, W) int16 -> (residual + T, context): prediction errors clipped to [-T, T] and shifted, and each
    pixel's activity context (index into EDGES + 1 bins). MED's are (N, P, H - 1, W - 2); with least-squares
    `weights` (contexts, N_TAPS) the prediction is each context's weighted neighbours, (N, P, H - 2, W - 3)."""
    if weights is None:
        v, (a, b, c, _), ctx = _neighbours(x, 1)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        pred = np.where(c >= hi, lo, np.where(c <= lo, hi, a + b - c))
    else:
        v, near, ctx = _neighbours(x, 2)
        w = weights[ctx]
        pred = np.rint(w[..., -1] + sum(w[..., k] * n for k, n in enumerate(near))).astype(np.int32)
    return np.clip(v - pred, -T, T) + T, ctx


def _planes(inputs: np.ndarray, colour: str):
    """(plane index, scale index, integer plane) of (N, P, S, S, 3) uint8 patches, every plane at every scale."""
    rgb = inputs.astype(np.float32)
    for i, weights in enumerate(COLOURS[colour]):
        plane = rgb @ weights
        for j, s in enumerate(SCALES):
            yield i, j, _prepare(plane, s)


def coded(inputs: np.ndarray, colour: str = "luma", weights: np.ndarray | None = None):
    """(residual + T, context) of (N, P, S, S, 3) uint8 patches' planes at each of SCALES, plane by plane
    (`weights`: the least-squares predictor, (planes, scales, contexts, N_TAPS); None: MED)."""
    for i, j, x in _planes(inputs, colour):
        yield residuals(x, None if weights is None else weights[i, j])


def laplace_tables(planes: int = 1) -> np.ndarray:
    """A coder fitted on nothing: per context, a discrete Laplace law whose scale grows with the activity."""
    e = np.arange(-T, T + 1)
    scale = np.maximum(0.5, np.asarray((0, *EDGES)) / 3.0)[:, None]
    p = np.exp(-np.abs(e)[None] / scale)
    table = np.log2(p / p.sum(axis=1, keepdims=True))
    return np.broadcast_to(table, (planes, *SHAPE)).copy()


def _chunks(inputs: np.ndarray, rows: np.ndarray | None, chunk: int):
    rows = np.arange(len(inputs)) if rows is None else np.asarray(rows)
    for start in range(0, len(rows), chunk):
        yield np.asarray(inputs[rows[start:start + chunk]])


class SurpriseWitness(FixedWitness):
    """Coding cost against expected cost under a context coder of real faces, per plane, context and scale.

    tables : the coder, (planes, *SHAPE) log2 probabilities (`learn` fits them on real faces; default `laplace_tables`).
    weights : the least-squares predictor (planes, scales, contexts, N_TAPS), with predictor "ls".
    predictor : "med" or "ls"; colour : "luma" (luminance) or "ycc" (luminance and two chroma planes).
    """

    kind = "surprise"
    summary = ("how much more or less a face costs to code than a coder fitted on real faces expects, per local activity, "
               "at the image's own resolution (after ZED)")
    label = "surprise"
    min_size = 16
    file_suffix = ".coder.npz"  # beside its mixture, <name>.npz

    def __init__(self, tables: np.ndarray | None = None, weights: np.ndarray | None = None, *, predictor: str = "med",
                 colour: str = "luma", spec: PatchSpec = PATCHES, name: str = "surprise"):
        self._set_spec(spec, name)
        if predictor not in PREDICTORS or colour not in COLOURS:
            raise ValueError(f"predictor is one of {', '.join(PREDICTORS)} and colour one of {', '.join(COLOURS)}")
        self.predictor, self.colour = predictor, colour
        planes = len(COLOURS[colour])
        self.tables = laplace_tables(planes) if tables is None else np.asarray(tables, np.float64)
        if self.tables.shape == SHAPE and planes == 1:
            self.tables = self.tables[None]
        p = np.exp2(self.tables)
        if self.tables.shape != (planes, *SHAPE) or not np.all(np.isfinite(self.tables)) or not np.allclose(p.sum(axis=-1), 1, atol=1e-6):
            raise ValueError(f"a coder is {(planes, *SHAPE)} log2 probabilities, each row summing to 1")
        taps = (planes, *SHAPE[:2], N_TAPS)
        if predictor == "ls":
            weights = np.zeros(taps) if weights is None else np.asarray(weights, np.float64)
            if weights.shape != taps or not np.all(np.isfinite(weights)):
                raise ValueError(f"a least-squares predictor is {taps} finite weights")
        elif weights is not None:
            raise ValueError("only the least-squares predictor has weights")
        self.weights = weights

    @property
    def n_features(self) -> int:
        return len(self.tables) * len(SCALES) * (len(EDGES) + 2)

    def counts(self, inputs: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """(planes, *SHAPE) residual counts under this witness's predictor of (N, P, S, S, 3) uint8 patches
        (of `rows` only, if given), `chunk` faces at a time: what `fit` takes."""
        k, m = SHAPE[1:]
        out = np.zeros(self.tables.shape)
        for x in _chunks(inputs, rows, self.chunk):
            for n, (e, ctx) in enumerate(coded(x, self.colour, self.weights)):
                out.reshape(-1, k, m)[n] += np.bincount((ctx * m + e).ravel(), minlength=k * m).reshape(k, m)
        return out

    def fit(self, counts: np.ndarray) -> "SurpriseWitness":
        """Take the real faces' residual `counts` (summed `counts(...)`), smoothed, as the coder."""
        p = np.asarray(counts, np.float64) + 0.5
        return type(self)(np.log2(p / p.sum(axis=-1, keepdims=True)), self.weights, predictor=self.predictor,
                          colour=self.colour, spec=self.spec, name=self.name)

    def fit_predictor(self, inputs: np.ndarray, rows: np.ndarray | None = None) -> "SurpriseWitness":
        """With predictor "ls": each plane, scale and context's least-squares weights on real faces' patches,
        shrunk towards the fit pooled over contexts by PRIOR pseudo-samples (the coder is left as it is)."""
        planes, k = len(self.tables), SHAPE[1]
        moments = np.zeros((planes, len(SCALES), k, N_TAPS, N_TAPS + 1))  # [sum f f' | sum f v] per context
        for x in _chunks(inputs, rows, self.chunk):
            for i, j, plane in _planes(x, self.colour):
                v, near, ctx = _neighbours(plane, 2)
                f = np.stack([*near, np.ones_like(v), v], axis=-1).reshape(-1, N_TAPS + 1).astype(np.float64)
                c = ctx.ravel()
                for q in range(k):
                    fq = f[c == q]
                    moments[i, j, q] += fq[:, :N_TAPS].T @ fq
        pooled = moments.sum(axis=2, keepdims=True)
        count = pooled[..., N_TAPS - 1 : N_TAPS, N_TAPS - 1 : N_TAPS]  # the constant tap's sum of squares: the pixels
        pooled = pooled / np.maximum(count, 1)  # per pixel
        shrunk = moments + PRIOR * pooled
        weights = np.linalg.solve(shrunk[..., :N_TAPS] + 1e-6 * np.eye(N_TAPS), shrunk[..., N_TAPS:])[..., 0]
        return type(self)(self.tables, weights, predictor="ls", colour=self.colour, spec=self.spec, name=self.name)

    @classmethod
    def learn(cls, inputs: np.ndarray, rows: np.ndarray | None = None, **kwargs) -> "SurpriseWitness":
        """The witness (`kwargs`: predictor, colour, spec, name) whose predictor and coder are fitted on the real
        faces' patches `inputs` (of `rows` only, if given)."""
        w = cls(**kwargs)
        if w.predictor == "ls":
            w = w.fit_predictor(inputs, rows)
        return w.fit(w.counts(inputs, rows))

    @classmethod
    def training_builder(cls, **options):
        """Fit the coder on the run's training-split faces as they are (no history; never a fake)."""

        def build(run) -> "SurpriseWitness":
            return cls.learn(run.inputs(PATCHES), np.flatnonzero(run.faces.split == "train"))

        return build

    def features(self, inputs: np.ndarray) -> np.ndarray:
        n, k = len(inputs), SHAPE[1]
        out = []
        for logp, (e, ctx) in zip(self.tables.reshape(-1, *SHAPE[1:]), coded(inputs, self.colour, self.weights)):
            expected = -(np.exp2(logp) * logp).sum(axis=1)  # entropy per context, bits
            gap = (-logp[ctx, e] - expected[ctx]).reshape(n, -1)
            out += [binned_means(ctx, gap, k), gap.mean(axis=1, keepdims=True)]
        return np.concatenate(out, axis=1).astype(np.float32)

    def params(self) -> dict:
        return {**CODER, "predictor": self.predictor, "colour": self.colour}

    def save(self, path: str | Path) -> None:
        buf = io.BytesIO()
        np.savez(buf, tables=self.tables, **({} if self.weights is None else {"weights": self.weights}))
        Path(path).write_bytes(buf.getvalue())

    @classmethod
    def load(cls, path: str | Path, config: dict, *, name: str | None = None, device: str = "cpu") -> "SurpriseWitness":
        """Rebuild from the manifest's `config` and the coder at `path` (.npz, arrays only, at most 256 KiB)."""
        try:
            spec = cls.patch_spec(config)
            if {k: config.get(k) for k in CODER} != CODER:
                raise ValueError("the manifest describes another coder")
            if Path(path).stat().st_size > 1 << 18:
                raise ValueError("file too large")
            with np.load(path, allow_pickle=False) as z:
                tables = z["tables"]
                weights = z["weights"] if "weights" in z.files else None
            return cls(tables, weights, predictor=config.get("predictor", "med"), colour=config.get("colour", "luma"),
                       spec=spec, name=cls.kind if name is None else name)
        except (KeyError, TypeError, ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise WeightsError(f"{path}: cannot load the {cls.label} witness ({exc})") from None

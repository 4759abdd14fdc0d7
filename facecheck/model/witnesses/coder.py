"""The coder witness: the surprise witness's gap under a learned coder of real faces' pixels.

After ZED (Cozzolino et al., ECCV 2024), which codes an image with a network trained on real images only:
here a small causal CNN (masked convolutions, PixelCNN-style, about 7,500 weights) sees the pixels before
each pixel in raster order (up to 5 rows above and 5 columns to either side) and predicts the pixel's residual from
LOCO-I's median edge predictor as a discretised logistic law (its centre and its scale), on the luminance
of the face's native-resolution patches at three scales (the patch, its 2 x 2 and 4 x 4 block means; a
learned offset per scale). The surprise witness's coder (`surprise.py`) is a table per context of four
neighbours' activity; this one predicts each pixel's law from a wider view.

Features per scale: the mean gap between each pixel's coding cost and the cost the coder expects (the
entropy of its own prediction, bits), in each of the 16 activity contexts of `surprise.py`, in each of 8
bins of the predicted scale, and overall (25; 75 in all). Trained (`learn`, in torch: `coder_net.py`) on real
faces as they are, never on a fake; scanning runs the network here in numpy, one face at a time, without torch.
"""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path

import numpy as np

from ...errors import ConfigError, WeightsError
from ...scan.workers import one_thread
from .base import PatchSpec, Witness, binned_means
from .surprise import EDGES, PATCHES, SCALES, T, _planes, residuals

SCALE_EDGES = (-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0)  # log2 of the predicted logistic scale: 8 bins
PER_SCALE = len(EDGES) + 1 + len(SCALE_EDGES) + 1 + 1
CHANNELS = 16
LOG_SCALE = (-3.0, 5.0)  # the predicted scale's range (natural log)
STEP = 16  # grid points per unit of the entropy table
# The causal taps (row, column) of the masked convolutions, padded by k // 2 above and to either side: the 5 x 5
# layer sees the rows above and the pixels to the left; the 3 x 3 layers also their centre.
TAPS_A = tuple((r, c) for r in range(5) for c in range(5) if r < 2 or (r == 2 and c < 2))
TAPS_B = tuple((r, c) for r in range(3) for c in range(3) if r < 1 or (r == 1 and c < 2))
STATE = {"first.weight": (CHANNELS, 1, 5, 5), "first.bias": (CHANNELS,), "scale.weight": (len(SCALES), CHANNELS),
         **{f"body.{i}.{p}": (CHANNELS, CHANNELS, 3, 3) if p == "weight" else (CHANNELS,)
            for i in range(3) for p in ("weight", "bias")},
         "head.weight": (2, CHANNELS, 1, 1), "head.bias": (2,)}
MAX_FILE = 1 << 20
TABLE = Path(__file__).with_name("coder_entropy.npy")


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(np.float32(0), x)


def log_probs(e: np.ndarray, centre: np.ndarray, log_scale: np.ndarray) -> np.ndarray:
    """log P(e) (nats) of integer residuals e in [-T, T] under discretised logistic laws, the two ends taking the
    tails (`coder_net.log_probs` in numpy)."""
    inv = np.exp(-log_scale)
    lo, hi = (e - 0.5 - centre) * inv, (e + 0.5 - centre) * inv
    # log(sigmoid(hi) - sigmoid(lo)) without cancellation: hi + log(1 - exp(lo - hi)) - softplus(lo) - softplus(hi)
    with np.errstate(divide="ignore"):
        inner = hi + np.log(-np.expm1(-inv)) - _softplus(lo) - _softplus(hi)
    return np.where(e <= -T, -_softplus(-hi), np.where(e >= T, -_softplus(lo), inner))


def entropy_table() -> np.ndarray:
    """The laws' entropies (nats), (centres, log scales) on a grid of STEP over [-T, T] x LOG_SCALE: the expected cost
    is interpolated in it, since summing 2T + 1 probabilities per pixel would cost more than the network. It takes
    seconds, so the package carries it (TABLE, written by `np.save(TABLE, entropy_table())`; a test recomputes it)."""
    centre = (np.arange(-T * STEP, T * STEP + 1) / STEP)[:, None, None]
    log_scale = (np.arange(LOG_SCALE[0] * STEP, LOG_SCALE[1] * STEP + 1) / STEP)[None, :, None]
    with np.errstate(over="ignore"):
        cdf = 1 / (1 + np.exp((centre - np.arange(-T + 0.5, T)) * np.exp(-log_scale)))
    p = np.diff(cdf, axis=-1, prepend=0, append=1)  # P(e) for e in [-T, T], the ends taking the tails
    return (-(p * np.log(np.where(p > 0, p, 1))).sum(axis=-1)).astype(np.float32)


def _table() -> np.ndarray:
    """The packaged entropy table (computed if the file is missing or not the table's shape)."""
    try:
        table = np.load(TABLE, allow_pickle=False)
        if table.shape == (2 * T * STEP + 1, int((LOG_SCALE[1] - LOG_SCALE[0]) * STEP) + 1) and table.dtype == np.float32:
            return table
    except (OSError, ValueError):
        pass
    return entropy_table()


def expected_cost(table: np.ndarray, centre: np.ndarray, log_scale: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of the entropy table at each pixel's (centre, log scale)."""
    u = (centre + T) * STEP
    v = (log_scale - LOG_SCALE[0]) * STEP
    i0 = np.clip(np.floor(u), 0, table.shape[0] - 2)
    j0 = np.clip(np.floor(v), 0, table.shape[1] - 2)
    fu, fv = u - i0, v - j0
    i, j = i0.astype(np.intp), j0.astype(np.intp)
    top = table[i, j] * (1 - fv) + table[i, j + 1] * fv
    bottom = table[i + 1, j] * (1 - fv) + table[i + 1, j + 1] * fv
    return top * (1 - fu) + bottom * fu


def _taps(x: np.ndarray, k: int, taps: tuple) -> np.ndarray:
    """(B, H, W, C) -> (B * H * W, len(taps) * C): each pixel's causal neighbours (zero beyond the border)."""
    r = k // 2
    b, h, w, c = x.shape
    out = np.zeros((b, h, w, len(taps), c), x.dtype)
    for t, (i, j) in enumerate(taps):
        di, dj = i - r, j - r  # the tap reads x[y + di, x + dj]
        out[:, max(0, -di):h - max(0, di), max(0, -dj):w - max(0, dj), t] = x[:, max(0, di):h + min(0, di), max(0, dj):w + min(0, dj)]
    return out.reshape(b * h * w, -1)


def _matrix(weight: np.ndarray, taps: tuple) -> np.ndarray:
    """A (C_out, C_in, k, k) convolution's causal taps as one (len(taps) * C_in, C_out) matrix (`_taps`' order)."""
    return np.concatenate([weight[:, :, i, j].T for i, j in taps]).astype(np.float32)


class CoderWitness(Witness):
    """Coding cost against expected cost under a learned causal coder of real faces, per context and scale.

    state : the network's weights, float32 arrays by `STATE`'s names and shapes (`coder_net.CausalCoder.arrays()`);
    None: a fresh network's (random, seeded).
    """

    kind = "coder"
    summary = ("how much more or less a face costs to code than a small network trained to code real faces expects, "
               "at the image's own resolution (after ZED)")
    file_suffix = ".weights.npz"

    def __init__(self, state: dict[str, np.ndarray] | None = None, *, spec: PatchSpec = PATCHES, name: str = "coder"):
        if state is None:
            from .coder_net import CausalCoder

            state = CausalCoder().arrays()
        if set(state) != set(STATE) or any(np.shape(state[k]) != v for k, v in STATE.items()):
            raise ConfigError(f"a coder's weights are {', '.join(STATE)} of shapes {', '.join(map(str, STATE.values()))}")
        self.state = {k: np.asarray(v, np.float32) for k, v in state.items()}
        self.spec, self.name = spec, name
        s = self.state
        self._first = _matrix(s["first.weight"], TAPS_A)
        self._body = [(_matrix(s[f"body.{i}.weight"], TAPS_B), s[f"body.{i}.bias"]) for i in range(3)]
        self._head = s["head.weight"][:, :, 0, 0].T.copy()
        self._table = None

    @property
    def n_features(self) -> int:
        return len(SCALES) * PER_SCALE

    def predict(self, plane: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
        """(centre, log scale) of each pixel's residual law, each (B, H, W), of (B, H, W) integer planes at scale
        index `scale`, clamped to their ranges."""
        b, h, w = plane.shape
        s = self.state
        x = ((plane.astype(np.float32) - np.float32(128)) / np.float32(64))[..., None]
        z = _taps(x, 5, TAPS_A) @ self._first
        z += s["first.bias"] + s["scale.weight"][scale]
        np.maximum(z, 0, out=z)
        for matrix, bias in self._body:
            y = _taps(z.reshape(b, h, w, CHANNELS), 3, TAPS_B) @ matrix
            y += bias
            z += y
            np.maximum(z, 0, out=z)
        out = (z @ self._head + s["head.bias"]).reshape(b, h, w, 2)
        return np.clip(out[..., 0], -T, T), np.clip(out[..., 1], *LOG_SCALE)

    def transform(self, inputs: np.ndarray) -> np.ndarray:
        """(N, P, S, S, 3) uint8 -> (N, 75) float32, one face at a time (on one thread: a face's features do not
        depend on the faces scored with it)."""
        inputs = np.asarray(inputs)
        if inputs.ndim != 5 or inputs.shape[2:] != self.spec.shape[1:]:
            raise ConfigError(f"coder inputs have shape {inputs.shape}; expected (N, P, {self.spec.size}, {self.spec.size}, 3)")
        if len(inputs) == 0:
            return np.zeros((0, self.n_features), np.float32)
        if self._table is None:
            self._table = _table()
        with one_thread():
            return np.concatenate([self._features(inputs[i:i + 1]) for i in range(len(inputs))])

    def _features(self, face: np.ndarray) -> np.ndarray:
        cols = []
        for _, j, x in _planes(face, "luma"):
            shifted, ctx = residuals(x)
            centre, log_scale = self.predict(x[0], j)
            centre, log_scale = centre[None, :, 1:, 1:-1], log_scale[None, :, 1:, 1:-1]
            cost = -log_probs((shifted - T).astype(np.float32), centre, log_scale)
            gap = (cost - expected_cost(self._table, centre, log_scale)) / np.float32(math.log(2))
            sbin = np.searchsorted(np.asarray(SCALE_EDGES, np.float32), log_scale / np.float32(math.log(2)), side="left")
            cols += [binned_means(ctx, gap, len(EDGES) + 1), binned_means(sbin, gap, len(SCALE_EDGES) + 1),
                     gap.reshape(1, -1).astype(np.float64).mean(axis=1, keepdims=True)]
        return np.concatenate(cols, axis=1).astype(np.float32)

    @classmethod
    def learn(cls, inputs: np.ndarray, rows: np.ndarray, *, steps: int = 2000, batch: int = 32, lr: float = 2e-3,
              seed: int = 0, checkpoint: str | Path | None = None, log=None, **kwargs) -> "CoderWitness":
        """Train the coder (`coder_net.train`, needs torch) on real faces' (N, P, S, S, 3) uint8 `inputs` of `rows`;
        `kwargs`: the witness's spec and name."""
        from .coder_net import train

        network = train(inputs, rows, steps=steps, batch=batch, lr=lr, seed=seed, checkpoint=checkpoint, log=log)
        return cls(network.arrays(), **kwargs)

    train_options = {"coder_steps": 2000}

    @classmethod
    def training_builder(cls, *, coder_steps: int = 2000, seed: int = 0, **_):
        """Train the coder on the run's training-split faces as they are (never a fake), checkpointed in the run's
        work folder every 200 steps and resumed with the run."""

        def build(run) -> "CoderWitness":
            checkpoint = run.work / "coder.ckpt"
            if not run.resume:
                checkpoint.unlink(missing_ok=True)
            run.checkpoints.append(checkpoint)
            rows = np.flatnonzero(run.faces.split == "train")
            return cls.learn(run.inputs(PATCHES), rows, steps=coder_steps, seed=seed, checkpoint=checkpoint, log=run.log)

        return build

    def config(self) -> dict:
        return {"kind": self.kind, "spec": self.spec.to_dict(), "channels": CHANNELS, "scales": list(SCALES), "clip": T}

    def save(self, path: str | Path) -> None:
        """Write the weights to `path` (.npz, arrays only)."""
        buf = io.BytesIO()
        np.savez(buf, **self.state)
        Path(path).write_bytes(buf.getvalue())

    @classmethod
    def load(cls, path: str | Path, config: dict, *, name: str | None = None, device: str = "cpu") -> "CoderWitness":
        """Rebuild from the manifest's `config` and the weights at `path`: a .npz (no pickle, at most 1 MiB, every
        name and shape checked), or the torch file of facecheck 0.8.2 (.pt, weights_only=True; needs torch)."""
        try:
            spec = cls.patch_spec(config)
            if spec.size < 16:
                raise ValueError("the coder witness needs patches of at least 16 px")
            if config.get("channels") != CHANNELS or config.get("scales") != list(SCALES) or config.get("clip") != T:
                raise ValueError("the manifest describes another coder")
            if Path(path).suffix == ".pt":
                state = _torch_state(path)
            else:
                if Path(path).stat().st_size > MAX_FILE:
                    raise ValueError("file too large")
                with np.load(path, allow_pickle=False) as z:
                    if set(z.files) != set(STATE):
                        raise ValueError("the weights do not match the network the manifest describes")
                    state = {k: z[k] for k in STATE}
            if any(a.shape != STATE[k] or a.dtype.kind != "f" or not np.isfinite(a).all() for k, a in state.items()):
                raise ValueError("the weights are not finite arrays of the network's shapes")
            return cls(state, spec=spec, name=cls.kind if name is None else name)
        except (KeyError, TypeError, ValueError, OSError, EOFError, MemoryError, ConfigError, zipfile.BadZipFile) as exc:
            raise WeightsError(f"{path}: cannot load the coder witness ({exc})") from None


def _torch_state(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of a coder saved as a torch state_dict (facecheck 0.8.2), read with weights_only=True."""
    try:
        from .coder_net import CausalCoder
        from .networks import load_state
    except ImportError:
        raise ValueError("this coder (facecheck 0.8.2) is a torch file, and torch is not installed: "
                         "pip install 'facecheck[train]' to read it") from None
    try:
        return load_state(path, CausalCoder, "coder").arrays()
    except WeightsError as exc:
        raise ValueError(str(exc)) from None

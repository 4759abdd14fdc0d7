"""The up-sampling-trace witness: how pixels of the same 2 x 2 (and 4 x 4) block relate, against pixels across blocks.

A generator's decoder enlarges its feature maps by 2 several times (nearest, bilinear or transposed
convolutions), which ties the pixels of each 2 x 2 block of its output together differently from
neighbours that straddle two blocks (the idea of "neighbouring pixel relationships", Tan et al., CVPR
2024). A camera's pixels have no such period. Nothing to train: the features are histograms of small
residuals split by the pixel's phase, and the witness's mixture of real faces does the rest.

A patch is cut at an arbitrary offset from the image's origin, so each patch's phase is found from the
patch itself: along each axis, the phase whose first differences have the least mean magnitude is called
"within" (in an up-sampled image, the difference between two pixels of one block), the other "across".
In a camera photo both phases look alike and the split is noise; that is what the mixture of real faces
learns. Period 8 (JPEG's grid) is never used: periods 2 and 4 only.

From the native-resolution patches of the face's luminance (never resized):
- `block2`: the joint histogram of the three residuals of each 2 x 2 block against its top-left pixel
  (right, below, diagonal; truncated to +-2), for blocks aligned within-within, across-across, and the
  two mixed alignments (pooled with the transposed patch: 3 x 125);
- `phase4`: along each axis, the period-4 phase of largest mean difference magnitude is phase 0; the
  histogram of pairs of consecutive first differences starting at each of the 4 phases (truncated to
  +-2; rows and columns pooled: 4 x 25);
- `energy`: the logarithm of each phase's mean first-difference magnitude relative to their mean, for
  periods 2 and 4, rows and columns (2 x 2 + 2 x 4 = 12 numbers).
Histograms are normalised and square-rooted, as in the co-occurrence witness.
"""

from __future__ import annotations

import numpy as np

from .base import LUMA, ChoiceWitness, histograms

BLOCKS = ("block2", "phase4", "energy")
# The default: the period-4 block alone (the 2 x 2 block histograms added nothing on dev; weights/MODEL_CARD.md).
DEFAULT_BLOCKS = ("phase4", "energy")
_SIZES = {"block2": 375, "phase4": 100, "energy": 12}
_T = 2  # truncation of every residual
_M = 2 * _T + 1


class NprWitness(ChoiceWitness):
    """Phase-split co-occurrences of the face's native-resolution patches: up-sampling's 2 x 2 and 4 x 4 traces."""

    kind = "npr"
    label = "up-sampling-trace"
    min_size, size_multiple = 16, 4
    option, choices, default = "blocks", BLOCKS, DEFAULT_BLOCKS
    summary = ("whether pixels of the same 2 x 2 or 4 x 4 block are tied together, as a generator's up-sampling leaves them, "
               "at the image's own resolution; nothing learned")

    @property
    def n_features(self) -> int:
        return sum(_SIZES[b] for b in self.blocks)

    def features(self, inputs: np.ndarray) -> np.ndarray:
        """(N, n_features) float32 of (N, P, S, S, 3) uint8 patches (see the module's docstring)."""
        x = np.rint(inputs @ LUMA).astype(np.int16)  # (N, P, S, S)
        dh = x[..., :, 1:] - x[..., :, :-1]  # dh[..., j]: column j to j + 1
        dv = x[..., 1:, :] - x[..., :-1, :]
        parts = []
        if "block2" in self.blocks:
            parts += [np.sqrt(h) for h in _block2(x, _low_phase(dv, axis=-2), _low_phase(dh, axis=-1))]
        if "phase4" in self.blocks or "energy" in self.blocks:
            h4, e4h = _phase4(dh)
            v4, e4v = _phase4(np.swapaxes(dv, -1, -2))
            if "phase4" in self.blocks:
                parts.append(np.sqrt((h4 + v4) / 2))
            if "energy" in self.blocks:
                parts.append(np.concatenate([_energy(dh, 2), _energy(np.swapaxes(dv, -1, -2), 2), e4h, e4v], axis=1))
        return np.concatenate(parts, axis=1).astype(np.float32)


def _phase_energy(d: np.ndarray, period: int) -> np.ndarray:
    """(N, P, period): each patch's mean |first difference| at each phase along the last axis (d: (N, P, H, W))."""
    w = d.shape[-1] // period * period
    a = np.abs(d[..., :w].astype(np.float32)).reshape(*d.shape[:-1], w // period, period)
    return a.mean(axis=(-3, -2))


def _low_phase(d: np.ndarray, axis: int) -> np.ndarray:
    """(N, P) in {0, 1}: per patch, the period-2 phase along `axis` whose first differences are smallest."""
    e = _phase_energy(d if axis == -1 else np.swapaxes(d, -1, -2), 2)
    return (e[..., 1] < e[..., 0]).astype(np.intp)


def _block2(x: np.ndarray, py: np.ndarray, px: np.ndarray) -> list[np.ndarray]:
    """[within-within, across-across, mixed] (N, 125) histograms of 2 x 2 blocks' residuals against their top-left pixel.

    A block anchored at row phase oy and column phase ox: its right residual is a column difference at
    phase ox, its lower one a row difference at phase oy. Aligned per patch: oy = py ("within") or 1 - py.
    The transposed patch swaps right and below and the two mixed alignments, so they are pooled.
    """
    n, p, s, _ = x.shape
    k = s // 2 - 1  # blocks per row at either phase
    codes = np.empty((2, 2, n, p, k * k), np.int16)
    for oy in (0, 1):
        for ox in (0, 1):
            a = x[..., oy : oy + 2 * k : 2, ox : ox + 2 * k : 2]
            r = [np.clip(x[..., oy + dy : oy + dy + 2 * k : 2, ox + dx : ox + dx + 2 * k : 2] - a, -_T, _T) + _T
                 for dy, dx in ((0, 1), (1, 0), (1, 1))]
            codes[oy, ox] = (r[0] * (_M * _M) + r[1] * _M + r[2]).reshape(n, p, -1)
    idx_n, idx_p = np.meshgrid(np.arange(n), np.arange(p), indexing="ij")

    def aligned(wy: bool, wx: bool) -> np.ndarray:
        oy, ox = (py if wy else 1 - py), (px if wx else 1 - px)
        return histograms(codes[oy, ox, idx_n, idx_p], _M**3)

    c = np.arange(_M**3)
    swap = (c // _M % _M) * (_M * _M) + (c // (_M * _M)) * _M + c % _M  # right <-> below
    ww, aa = aligned(True, True), aligned(False, False)
    mixed = (aligned(True, False) + aligned(False, True)[:, swap]) / 2
    return [(ww + ww[:, swap]) / 2, (aa + aa[:, swap]) / 2, mixed]


def _phase4(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Period-4 phase split of first differences along the last axis (d: (N, P, H, W)).

    Per patch the phase of largest mean |d| becomes phase 0. Returns the (N, 4 x 25) histograms of
    consecutive pairs (d[j], d[j + 1]) for j at each aligned phase, and (N, 4) the log mean |d| per
    aligned phase relative to their mean (averaged over patches).
    """
    n, p, h, w = d.shape
    e = _phase_energy(d, 4)  # (N, P, 4)
    shift = np.argmax(e, axis=-1)  # (N, P)
    g = (w - 1) // 4  # whole periods with a following difference
    r = np.clip(d[..., : 4 * g + 1], -_T, _T) + _T
    pairs = (r[..., :-1] * _M + r[..., 1:]).reshape(n, p, h, g, 4)  # pair starting at column 4 * q + phase
    hists = []
    for k in range(4):
        ph = (shift + k) % 4  # the phase that is aligned phase k, per patch
        sel = np.take_along_axis(pairs, ph[:, :, None, None, None], axis=-1)
        hists.append(histograms(sel, _M * _M))
    loge = np.log(np.take_along_axis(e, (shift[..., None] + np.arange(4)) % 4, axis=-1) + 0.1)
    return np.concatenate(hists, axis=1), (loge - loge.mean(axis=-1, keepdims=True)).mean(axis=1)


def _energy(d: np.ndarray, period: int) -> np.ndarray:
    """(N, period) log mean |d| per period-2 phase, smallest first, relative to their mean, averaged over patches."""
    loge = np.sort(np.log(_phase_energy(d, period) + 0.1), axis=-1)
    return (loge - loge.mean(axis=-1, keepdims=True)).mean(axis=1)

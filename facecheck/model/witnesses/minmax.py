"""The non-linear residual witness: co-occurrences of the minimum and maximum of several linear residuals.

Steganalysis's rich model (Fridrich and Kodovsky 2012) adds to its linear residuals non-linear ones:
at each pixel, the minimum and the maximum of residuals computed in several directions. They see
whether a pixel departs from all its neighbours at once or from some only, which is how a camera's
noise and a decoder's smooth synthesis differ, and which the co-occurrence witness's linear SPAM
blocks do not describe. Nothing to train: histograms only, the witness's mixture does the rest.

From the luminance of the native-resolution patches of the face (never resized), three residual sets:
- order 1: the four differences to the right, left, upper and lower neighbour (quantised by 1);
- order 2: the horizontal and vertical second differences x[j-1] - 2 x[j] + x[j+1] (by 2);
- order 3: the third differences x[j-1] - 3 x[j] + 3 x[j+1] - x[j+2] forward and backward, horizontal
  and vertical (four; by 3).
For each set, the minimum and the maximum at each pixel are rounded and truncated to +-2; the
co-occurrence of 4 (order 1) or 3 (orders 2, 3) consecutive values along rows and along columns is
counted, rows and columns pooled. The minimum's histogram and the maximum's, signs flipped, are pooled
(an image and its negative have the same statistics), and so are each tuple and its reverse (a mirrored
face); one bin is kept per pair: 325 + 75 + 75 features, normalised and square-rooted.
"""

from __future__ import annotations

import numpy as np

from .base import LUMA, ChoiceWitness, histograms

ORDERS = (1, 2, 3)
_T = 2
_M = 2 * _T + 1
_SPAN = {1: 4, 2: 3, 3: 3}  # consecutive residuals per co-occurrence
_Q = {1: 1, 2: 2, 3: 3}


def _symmetries(span: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For tuples of `span` digits in [0, _M): the code of each negated tuple, of each reversed one, and the kept codes."""
    codes = np.arange(_M**span)
    digits = np.stack([codes // _M ** (span - 1 - i) % _M for i in range(span)])  # most significant first
    weights = _M ** np.arange(span - 1, -1, -1)
    neg = ((_M - 1 - digits) * weights[:, None]).sum(axis=0)
    rev = (digits[::-1] * weights[:, None]).sum(axis=0)
    return neg, rev, codes[codes <= rev]


_SYM = {s: _symmetries(s) for s in set(_SPAN.values())}


class MinMaxWitness(ChoiceWitness):
    """Co-occurrences of min/max non-linear residuals (orders 1-3) of the face's native-resolution patches."""

    kind = "minmax"
    label = "non-linear residual"
    min_size = 16
    option, choices, default = "orders", ORDERS, ORDERS
    summary = ("whether a pixel departs from all its neighbours or from some only (min/max residuals, as steganalysis does) "
               "at the image's own resolution; nothing learned")

    @property
    def n_features(self) -> int:
        return sum(len(_SYM[_SPAN[o]][2]) for o in self.orders)

    def features(self, inputs: np.ndarray) -> np.ndarray:
        """(N, n_features) float32 of (N, P, S, S, 3) uint8 patches (see the module's docstring)."""
        x = np.rint(inputs @ LUMA).astype(np.int16)  # (N, P, S, S)
        parts = []
        for order in self.orders:
            lo, hi = _minmax(x, order)
            span = _SPAN[order]
            neg, rev, keep = _SYM[span]
            h = (_cooc(lo, span) + _cooc(hi, span)[:, neg]) / 2
            h = (h + h[:, rev]) / 2
            parts.append(np.sqrt(h[:, keep] * np.where(keep == rev[keep], 1, 2)))  # a kept bin stands for its pair
        return np.concatenate(parts, axis=1).astype(np.float32)


def _minmax(x: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """The minimum and maximum of the order's residual set, quantised and truncated to digits [0, _M), on x's interior."""
    h, w = x.shape[-2:]
    b = 2  # every residual below is defined on the interior x[2:-2, 2:-2]

    def at(dy: int, dx: int) -> np.ndarray:
        return x[..., b + dy : h - b + dy, b + dx : w - b + dx]

    c = at(0, 0)
    if order == 1:
        res = [at(0, 1) - c, at(0, -1) - c, at(1, 0) - c, at(-1, 0) - c]
    elif order == 2:
        res = [at(0, -1) - 2 * c + at(0, 1), at(-1, 0) - 2 * c + at(1, 0)]
    else:
        res = [at(0, -s) - 3 * c + 3 * at(0, s) - at(0, 2 * s) for s in (1, -1)]
        res += [at(-s, 0) - 3 * c + 3 * at(s, 0) - at(2 * s, 0) for s in (1, -1)]
    stack = np.stack(res)
    q = _Q[order]
    return tuple(np.clip(np.floor_divide(v + q // 2, q), -_T, _T) + _T for v in (stack.min(axis=0), stack.max(axis=0)))


def _cooc(r: np.ndarray, span: int) -> np.ndarray:
    """(N, _M^span): the histogram of `span` consecutive digits along rows and along columns, pooled, per face."""
    n = len(r)
    out = []
    for y in (r, np.swapaxes(r, -1, -2)):
        w = y.shape[-1]
        code = np.zeros(y[..., : w - span + 1].shape, np.int32)
        for i in range(span):
            code = code * _M + y[..., i : w - span + 1 + i]
        out.append(code.reshape(n, -1))
    return histograms(np.concatenate(out, axis=1), _M**span)

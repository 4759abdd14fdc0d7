"""The co-occurrence witness: how neighbouring pixels of a face depend on each other, at the image's own resolution.

Steganalysis's rich models describe local pixel dependencies by co-occurrences of quantised residuals
(SPAM, Pevny, Bas and Fridrich 2010; SRM, Fridrich and Kodovsky 2012). A camera's sensor noise,
demosaicing and JPEG leave one kind of dependency between neighbours; a generator's decoder another.
These are higher-order statistics, not a function of the power spectrum. Nothing to train: the
features are histograms, and the witness's mixture of real faces does the rest.

Three blocks, from the native-resolution patches of the face (never resized):
- `spam`: second-order SPAM of the luminance's first differences truncated to +-3, the four straight
  directions averaged, and the four diagonal ones (2 x 343);
- `spam2`: the same of the second differences (x[j-1] - 2 x[j] + x[j+1]) quantised by 2 and truncated
  to +-2 (2 x 125);
- `rgb`: the joint histogram of the R, G and B first differences at one pixel, truncated to +-2, over
  horizontal and vertical differences (125): how the colour channels' residuals are tied together.
Each histogram is normalised and square-rooted (the Hellinger embedding, so a Gaussian mixture sees
relative rather than absolute changes of small bins).
"""

from __future__ import annotations

import numpy as np

from .base import LUMA, ChoiceWitness, histograms

BLOCKS = ("spam", "spam2", "rgb")


class CoocWitness(ChoiceWitness):
    """Co-occurrences of truncated residuals of the face's native-resolution patches."""

    kind = "cooc"
    summary = "how neighbouring pixels depend on each other (co-occurrences of residuals) at the image's own resolution; nothing learned"
    label = "co-occurrence"
    option, choices, default = "blocks", BLOCKS, BLOCKS

    @property
    def n_features(self) -> int:
        return sum({"spam": 686, "spam2": 250, "rgb": 125}[b] for b in self.blocks)

    def features(self, inputs: np.ndarray) -> np.ndarray:
        """(N, n_features) float32 of (N, P, S, S, 3) uint8 patches: the chosen blocks' histograms, square-rooted."""
        rgb = inputs.astype(np.int16)  # (N, P, S, S, 3)
        luma = np.rint(inputs @ LUMA).astype(np.int16)
        parts = []
        if "spam" in self.blocks:
            parts += _spam(luma, order=1, q=1, t=3)
        if "spam2" in self.blocks:
            parts += _spam(luma, order=2, q=2, t=2)
        if "rgb" in self.blocks:
            parts.append(_rgb_cooc(rgb, t=2))
        return np.sqrt(np.concatenate(parts, axis=1)).astype(np.float32)


def _spam(x: np.ndarray, *, order: int, q: int, t: int) -> list[np.ndarray]:
    """Second-order SPAM of (N, P, S, S) images: [straight, diagonal], each (N, (2t + 1)^3).

    Residuals of `order` (1: x[j] - x[j+1]; 2: x[j-1] - 2 x[j] + x[j+1]) along a direction, divided by
    `q`, rounded and truncated to [-t, t]; the histogram of three consecutive residuals along the same
    direction. The opposite direction's histogram is the same one with each triplet reversed (and, for
    first differences, negated), so four directions are computed and eight averaged.
    """
    m = 2 * t + 1
    bins = m**3
    codes = np.arange(bins)
    a, b, c = codes // (m * m), codes // m % m, codes % m
    # The opposite direction sees each triplet reversed; a first difference also changes sign there.
    reverse = (m - 1 - c) * m * m + (m - 1 - b) * m + (m - 1 - a) if order == 1 else c * m * m + b * m + a

    def residual(y: np.ndarray, dy: int, dx: int) -> np.ndarray:
        """The residual along (dy, dx) and its triplet codes, on the pixels where both are defined."""
        h, w = y.shape[-2:]
        span = order + 3  # pixels under three consecutive residuals
        ys = [slice(max(0, -dy * (span - 1)) + dy * i, h - max(0, dy * (span - 1)) + dy * i) for i in range(span)]
        xs = [slice(max(0, -dx * (span - 1)) + dx * i, w - max(0, dx * (span - 1)) + dx * i) for i in range(span)]
        px = [y[..., ys[i], xs[i]] for i in range(span)]
        if order == 1:
            r = [px[i] - px[i + 1] for i in range(3)]
        else:
            r = [px[i] - 2 * px[i + 1] + px[i + 2] for i in range(3)]
        r = [np.clip(v if q == 1 else np.floor_divide(v + q // 2, q), -t, t) + t for v in r]  # int16, round half up
        return (r[0] * (m * m) + r[1] * m + r[2]).astype(np.int32)

    hists = {d: histograms(residual(x, *d).reshape(len(x), -1), bins) for d in ((0, 1), (1, 0), (1, 1), (1, -1))}
    straight = (hists[0, 1] + hists[0, 1][:, reverse] + hists[1, 0] + hists[1, 0][:, reverse]) / 4
    diagonal = (hists[1, 1] + hists[1, 1][:, reverse] + hists[1, -1] + hists[1, -1][:, reverse]) / 4
    return [straight, diagonal]


def _rgb_cooc(rgb: np.ndarray, *, t: int) -> np.ndarray:
    """(N, P, S, S, 3) -> (N, (2t + 1)^3): the joint histogram of the R, G, B first differences at each pixel,
    horizontal and vertical differences pooled (a difference and its negation share a bin pair, so both signs count)."""
    m = 2 * t + 1
    out = []
    for d in (rgb[:, :, :, :-1] - rgb[:, :, :, 1:], rgb[:, :, :-1] - rgb[:, :, 1:]):
        for sign in (1, -1):
            r = np.clip(sign * d, -t, t) + t
            out.append(histograms((r[..., 0] * (m * m) + r[..., 1] * m + r[..., 2]).astype(np.int32).reshape(len(rgb), -1), m**3))
    return np.mean(out, axis=0)

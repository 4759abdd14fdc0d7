"""Random processing histories: what happens to a photo between the camera and the analyst.

Real faces arrive resized (up or down, by any resampler), blurred or sharpened, and JPEG-compressed
once or twice. A one-class model fitted on a few sources flags whatever history those sources lacked,
so every real face used for training and for fitting a mixture is given random histories, and a
re-rendered negative always gets exactly the history of its original (`History.apply` is
deterministic once drawn).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ..scan.imaging import RESAMPLERS, blur, jpeg, resize


@dataclass(frozen=True)
class History:
    """One drawn history: a resize, a blur or sharpening, then one or two JPEG compressions.

    scale : resize factor (1.0: none); resampler : a key of RESAMPLERS.
    blur : Gaussian sigma (0: none); sharpen : unsharp-mask amount (0: none).
    jpeg : qualities applied in order (empty: none).
    """

    scale: float = 1.0
    resampler: str = "area"
    blur: float = 0.0
    sharpen: float = 0.0
    jpeg: tuple[int, ...] = field(default_factory=tuple)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Apply this history to an (H, W, 3) uint8 image; returns a new uint8 image."""
        out = np.ascontiguousarray(image)
        if self.scale != 1.0:
            out = resize(out, self.scale, self.resampler)
        if self.blur > 0:
            out = blur(out, self.blur)
        if self.sharpen > 0:
            soft = blur(out, 1.0)
            out = cv2.addWeighted(out, 1 + self.sharpen, soft, -self.sharpen, 0)
        for q in self.jpeg:
            out = jpeg(out, q)
        return out


def random_history(rng: np.random.Generator, *, min_scale: float = 0.35, max_scale: float = 2.0) -> History:
    """Draw a history: resize (p 0.7, log-uniform factor), blur (p 0.2) or sharpen (p 0.15), JPEG (p 0.8, twice p 0.3).

    `min_scale` / `max_scale` bound the resize so that the caller's region keeps enough pixels.
    """
    scale, resampler = 1.0, "area"
    if rng.random() < 0.7 and max_scale > min_scale:
        scale = float(np.exp(rng.uniform(np.log(min_scale), np.log(max_scale))))
        if abs(scale - 1.0) < 0.05:
            scale = 1.0
        names = list(RESAMPLERS)
        resampler = names[int(rng.integers(len(names)))]
    blur = float(rng.uniform(0.3, 1.2)) if rng.random() < 0.2 else 0.0
    sharpen = float(rng.uniform(0.2, 1.0)) if not blur and rng.random() < 0.15 else 0.0
    qualities: tuple[int, ...] = ()
    if rng.random() < 0.8:
        qualities = (int(rng.integers(50, 101)),)
        if rng.random() < 0.3:
            qualities += (int(rng.integers(50, 101)),)
    return History(scale, resampler, blur, sharpen, qualities)

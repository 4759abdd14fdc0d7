"""The appearance witness: the face's enlarged box resized to a square crop, through FaceNet.

FaceNet is trained self-supervised on photographs (EXIF ranking and face manipulations, `train/loop.py`);
the crop is what facecheck 0.2.0 scored, so a "facecheck-bundle/1" bundle is one appearance witness.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import WeightsError
from ..features import FeatureExtractor
from .base import CropSpec, Witness, spec_from_dict

MAX_INPUT_SIZE = 1024


class AppearanceWitness(Witness):
    """Wrap a FeatureExtractor with the crop it sees (`CropSpec(size=extractor.input_size, scale)`).

    Parameters
    ----------
    extractor : the FaceNet and its input normalisation.
    name : key of its log-likelihood in results and in the bundle.
    scale : how much the detector's box is enlarged before the crop is resized.
    """

    kind = "appearance"
    summary = "a CNN on the face resized to a small crop, self-supervised on camera photos (EXIF ranking, face manipulation)"

    def __init__(self, extractor: FeatureExtractor, *, name: str = "appearance", scale: float = 1.3):
        self.extractor = extractor
        self.name = name
        self.spec = CropSpec(size=extractor.input_size, scale=float(scale))

    def transform(self, inputs: np.ndarray) -> np.ndarray:
        """Features (N, embed_dim) float32 of crops (N, size, size, 3) uint8."""
        return self.extractor.transform(inputs)

    def config(self) -> dict:
        return {"kind": self.kind, "spec": self.spec.to_dict(), "extractor": self.extractor.config()}

    def save(self, path: str | Path) -> None:
        self.extractor.save(path)

    @classmethod
    def load(cls, path: str | Path, config: dict, *, name: str = "appearance", device: str = "cpu") -> "AppearanceWitness":
        """Rebuild from `config` and the FaceNet state_dict at `path` (weights_only=True)."""
        try:
            spec = spec_from_dict(config["spec"])
            if not isinstance(spec, CropSpec) or not 8 <= spec.size <= MAX_INPUT_SIZE or not 0 < spec.scale < 100:
                raise ValueError(f"needs a crop of 8-{MAX_INPUT_SIZE} px and a scale between 0 and 100, got {spec}")
            if config["extractor"]["input_size"] != spec.size:
                raise ValueError("the crop size and the extractor's input size differ")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise WeightsError(f"{path}: unusable appearance witness configuration ({exc})") from None
        return cls(FeatureExtractor.load(path, config["extractor"], device=device), name=name, scale=spec.scale)

"""What every witness shares: the estimator-like interface, and the fixed witnesses' histograms.

A witness maps one face (its input, cut by its spec from `inputs.py`) to a feature vector; each witness
has its own Gaussian mixture of real faces' features, and `likelihood.py` fuses their log-likelihoods.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...errors import ConfigError, WeightsError
from ...scan.inputs import CropSpec, InputSpec, PatchSpec, spec_from_dict

__all__ = ["LUMA", "ChoiceWitness", "CropSpec", "FixedWitness", "InputSpec", "PatchSpec", "Witness", "binned_means",
           "histograms", "spec_from_dict"]

LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # RGB -> luminance (BT.601), what the fixed witnesses describe


def _per_face(codes: np.ndarray, bins: int, weights: np.ndarray | None = None) -> np.ndarray:
    """(N, bins): per face, the count of each code in [0, bins) of (N, ...) integer `codes`, or the sum of its `weights`."""
    n = len(codes)
    flat = codes.reshape(n, -1).astype(np.int64) + (np.arange(n, dtype=np.int64) * bins)[:, None]
    return np.bincount(flat.ravel(), weights=None if weights is None else weights.ravel(), minlength=n * bins).reshape(n, bins)


def histograms(codes: np.ndarray, bins: int) -> np.ndarray:
    """(N, ...) integer codes in [0, bins) -> (N, bins) normalised histograms, one per face (the fixed
    witnesses' co-occurrences)."""
    counts = _per_face(codes, bins).astype(np.float64)
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)


def binned_means(codes: np.ndarray, values: np.ndarray, bins: int) -> np.ndarray:
    """(N, bins) float64: per face, the mean of `values` over its pixels of each code in [0, bins) (0 where none);
    `codes` and `values` (N, ...) of one shape."""
    sums = _per_face(codes, bins, np.asarray(values, np.float64))
    return sums / np.maximum(_per_face(codes, bins), 1)


class Witness:
    """Interface of a witness (subclasses: `appearance.AppearanceWitness`, `trace.TraceWitness`).

    Attributes
    ----------
    name : the key of its log-likelihood in results and in the bundle (e.g. "appearance", "trace").
    kind : the registry key that rebuilds it from a manifest.
    spec : an InputSpec (CropSpec, PatchSpec, ...): what its `cut` gives per face.
    summary : one line for analysts (`facecheck info`): what the witness looks at.
    """

    name: str
    kind: str
    summary = ""
    label = ""  # what messages call it (default: its kind)
    spec: InputSpec
    file_suffix = ".pt"

    @classmethod
    def patch_spec(cls, config: dict) -> PatchSpec:
        """The manifest config's patch spec; ValueError (KeyError, TypeError) for one the witness cannot take."""
        spec = spec_from_dict(config["spec"])
        if not isinstance(spec, PatchSpec) or not 8 <= spec.size <= 512 or not 1 <= spec.grid <= 8 or not 0 < spec.scale < 100:
            raise ValueError(f"the {cls.label or cls.kind} witness needs a patch spec of 8-512 px and grid 1-8")
        return spec

    def transform(self, inputs: np.ndarray) -> np.ndarray:
        """Features (N, n_features) float32 of stacked inputs (N, *spec.shape) uint8."""
        raise NotImplementedError

    def config(self) -> dict:
        """JSON-able description (kind, spec, network) stored in the bundle's manifest."""
        raise NotImplementedError

    def save(self, path: str | Path) -> None:
        """Write the weights (tensors only)."""
        raise NotImplementedError

    @classmethod
    def load(cls, path: str | Path, config: dict, *, name: str, device: str = "cpu") -> "Witness":
        """Rebuild from `config` and weights at `path` (weights_only=True)."""
        raise NotImplementedError

    # "module:function" that makes its training builder, imported only when `facecheck train` asks for it
    # (so that the model never imports training code); None: nothing to train.
    trainer: str | None = None
    # {name: default} of the options its trainer takes besides seed, device and checkpoint_minutes
    # (`facecheck train --witness-option NAME=VALUE`).
    train_options: dict = {}

    @classmethod
    def training_builder(cls, **options):
        """What `facecheck train` calls to make this witness: a callable of the run (train.pipeline.TrainingRun)
        returning the trained witness, from `trainer` called with the train command's `options`
        (trace_steps, seed, device, checkpoint_minutes)."""
        if cls.trainer is None:
            raise NotImplementedError(f"witness kind {cls.kind!r} has no training builder")
        from importlib import import_module

        module, function = cls.trainer.split(":")
        build = getattr(import_module(module), function)(**options)
        build.kind = cls.kind  # the pipeline knows which builder fine-tunes from --init
        return build


class FixedWitness(Witness):
    """A witness with nothing to learn (a fixed description of native-resolution patches; only its mixture is fitted).

    Subclasses give `label` (for messages), `params()` (the JSON-able parameters beside the spec) and
    `from_config` (validate and build). The witness's file records its parameters, so every witness
    has a file and a bundle whose file and manifest disagree is refused.
    """

    file_suffix = ".json"
    label = "fixed"
    n_features: int
    min_size, size_multiple = 8, 1  # the patch sizes it can describe
    chunk = 128  # faces per batch: bounded memory, since float copies of a training set's patches would not fit

    def _set_spec(self, spec: PatchSpec, name: str) -> None:
        """Take `spec` and `name`; ConfigError for a patch size the witness cannot describe."""
        if spec.size < self.min_size or spec.size % self.size_multiple:
            multiple = f"a multiple of {self.size_multiple}, " if self.size_multiple > 1 else ""
            raise ConfigError(f"patch size {spec.size}: the {self.label} witness needs {multiple}at least {self.min_size} px")
        self.spec, self.name = spec, name

    def transform(self, inputs: np.ndarray) -> np.ndarray:
        """Features (N, n_features) float32 of each face's patches (N, P, S, S, 3) uint8, in batches of `chunk`."""
        inputs = np.asarray(inputs)
        if inputs.ndim != 5 or inputs.shape[2:] != self.spec.shape[1:]:
            raise ConfigError(f"{self.label} inputs have shape {inputs.shape}; expected (N, P, {self.spec.size}, {self.spec.size}, 3)")
        if len(inputs) == 0:
            return np.zeros((0, self.n_features), np.float32)
        return np.concatenate([self.features(inputs[i : i + self.chunk]) for i in range(0, len(inputs), self.chunk)])

    def features(self, inputs: np.ndarray) -> np.ndarray:
        """Features of one batch of valid, non-empty inputs (see `transform`)."""
        raise NotImplementedError

    def params(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_config(cls, spec: PatchSpec, config: dict, name: str) -> "FixedWitness":
        raise NotImplementedError

    def config(self) -> dict:
        return {"kind": self.kind, "spec": self.spec.to_dict(), **self.params()}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.params()) + "\n", encoding="utf-8")

    @classmethod
    def training_builder(cls, **options):
        """Nothing to learn: the witness with its defaults (only its mixture is fitted)."""
        return lambda run: cls()

    @classmethod
    def load(cls, path: str | Path, config: dict, *, name: str | None = None, device: str = "cpu") -> "FixedWitness":
        """Rebuild from the manifest's `config`, checked against the file at `path` (JSON, at most 4 KiB)."""
        name = cls.kind if name is None else name
        try:
            spec = cls.patch_spec(config)
            if Path(path).stat().st_size > 4096:
                raise ValueError("file too large")
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            witness = cls.from_config(spec, config, name)
            if data != witness.params():
                raise ValueError("the file does not match the manifest")
            return witness
        except (KeyError, TypeError, ValueError, OSError, RecursionError, ConfigError) as exc:
            raise WeightsError(f"{path}: cannot load the {cls.label} witness ({exc})") from None


class ChoiceWitness(FixedWitness):
    """A fixed witness whose one parameter is a choice among named parts (cooc's and npr's blocks, minmax's
    orders): `option` names the attribute, `choices` the parts it may take, `label` says what they are."""

    option: str
    choices: tuple
    default: tuple  # the parts taken when none is chosen

    def __init__(self, *, spec: PatchSpec = PatchSpec(size=64, grid=3, scale=1.0), name: str | None = None, **choice):
        """`spec`: the face's patches; `name`: default the kind; one keyword, `option`, for the chosen parts."""
        if set(choice) - {self.option}:
            raise TypeError(f"{type(self).__name__}() takes spec, name and {self.option}, not {', '.join(choice)}")
        setattr(self, self.option, self.chosen(choice.get(self.option, self.default)))
        self._set_spec(spec, self.kind if name is None else name)

    @classmethod
    def chosen(cls, values) -> tuple:
        """`values` as a tuple when it is a non-empty choice of distinct `choices`; ConfigError otherwise."""
        values = tuple(values)
        if not values or set(values) - set(cls.choices) or len(set(values)) != len(values):
            raise ConfigError(f"{cls.label} {cls.option} {values}: choose one or more of {', '.join(map(str, cls.choices))}")
        return values

    def params(self) -> dict:
        return {self.option: list(getattr(self, self.option))}

    @classmethod
    def from_config(cls, spec: PatchSpec, config: dict, name: str) -> "ChoiceWitness":
        if not isinstance(config[cls.option], list):
            raise ValueError(f"{cls.option} must be a list")
        return cls(spec=spec, name=name, **{cls.option: tuple(config[cls.option])})


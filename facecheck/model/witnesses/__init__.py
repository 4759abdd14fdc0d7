"""Witnesses: independent views of a face, each with its own network and its own mixture of real faces.

`KINDS` maps a manifest's `kind` to the class that rebuilds the witness. Classes are imported on first
use: worker processes unpickle specs from `base` and must not pay for importing torch.
"""

from __future__ import annotations

import re
from importlib import import_module
from pathlib import Path

import numpy as np

from ...errors import WeightsError
from .base import CropSpec, PatchSpec, Witness, spec_from_dict

__all__ = ["KINDS", "CropSpec", "PatchSpec", "Witness", "check_name", "chosen_kinds", "load_witness", "probe_features",
           "spec_from_dict", "training_options", "witness_class"]

# kind -> (module, class name): a module of this package, or any importable module by its absolute name
# (a witness defined elsewhere joins with one line here, or at run time: KINDS["mine"] = ("mymodule", "Mine")).
KINDS = {
    "appearance": ("appearance", "AppearanceWitness"),
    "trace": ("trace", "TraceWitness"),
    "spectrum": ("spectrum", "SpectrumWitness"),
    "cooc": ("cooc", "CoocWitness"),
    "selfdesc": ("selfdesc", "SelfDescWitness"),
    "npr": ("npr", "NprWitness"),
    "minmax": ("minmax", "MinMaxWitness"),
    "surprise": ("surprise", "SurpriseWitness"),
    "coder": ("coder", "CoderWitness"),
}

# A witness's input for one face, in uint8 values: the load-time probe must not allocate gigabytes.
MAX_INPUT_VALUES = 1 << 26

_OWN = frozenset(m for m, _ in KINDS.values())  # the modules of this package (the rest: absolute names)

# Names become file names in a bundle and `loglik_<name>` columns: short, lower case, no separators.
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


def check_name(name: object) -> str:
    """Return `name` if it can name a witness (a-z, 0-9, _; 32 characters at most), else raise ValueError."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"witness name {name!r}: use 1-32 characters a-z, 0-9 or _, starting with a letter")
    return name


def witness_class(kind: object) -> type[Witness]:
    """The Witness subclass registered for `kind`; WeightsError for an unknown kind."""
    if not isinstance(kind, str) or kind not in KINDS:
        raise WeightsError(f"unknown witness kind {kind!r} (this facecheck knows {', '.join(KINDS)}); "
                           "the bundle needs a newer facecheck")
    module, cls = KINDS[kind]
    try:
        return getattr(import_module(f".{module}", __name__) if module in _OWN else import_module(module), cls)
    except ImportError as exc:
        raise WeightsError(f"witness kind {kind!r} is not available in this installation ({exc})") from None


def chosen_kinds(text: str) -> list[str]:
    """The registered kinds named in `--witnesses a,b,c`, in order; ValueError for none, an unknown one or a repeat."""
    chosen = [w.strip() for w in text.split(",") if w.strip()]
    if not chosen or set(chosen) - set(KINDS) or len(set(chosen)) != len(chosen):
        raise ValueError(f"--witnesses {text}: choose one or more of {', '.join(KINDS)}")
    return chosen


def training_options(kinds: list[str], items: list[str]) -> dict:
    """{name: value} of `--witness-option NAME=VALUE` items, each an option of one of `kinds`' trainers
    (`Witness.train_options`), its value parsed as its default's type; ValueError naming a bad item."""
    accepted = {k: v for kind in kinds for k, v in witness_class(kind).train_options.items()}
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in accepted:
            known = ", ".join(sorted(accepted)) or "none"
            raise ValueError(f"--witness-option {item!r}: use NAME=VALUE with NAME an option of the chosen witnesses ({known})")
        try:
            out[name] = type(accepted[name])(value)
        except ValueError:
            raise ValueError(f"--witness-option {item!r}: {name} needs a value of type {type(accepted[name]).__name__}") from None
    return out


def load_witness(path: str | Path, config: dict, *, name: str, device: str = "cpu") -> Witness:
    """Rebuild the witness that `config` (a manifest entry's config, with its `kind`) describes, from `path`."""
    try:
        cls = witness_class(config.get("kind") if isinstance(config, dict) else None)
    except WeightsError as exc:
        raise WeightsError(f"{path}: {exc}") from None
    return cls.load(path, config, name=name, device=device)


def probe_features(witnesses: list[Witness]) -> dict[str, np.ndarray]:
    """Each witness's features {name: (1, d)} of one blank face, as a loaded bundle checks its parts;
    ValueError saying what went wrong (a witness that cannot transform its own input is not usable)."""
    features = {}
    for w in witnesses:
        if int(np.prod(w.spec.shape)) > MAX_INPUT_VALUES:
            raise ValueError(f"witness {w.name!r} wants inputs of shape {w.spec.shape}")
        try:
            features[w.name] = w.transform(np.zeros((1, *w.spec.shape), np.uint8))
        except Exception as exc:  # any failure here means the same: not a usable bundle
            raise ValueError(f"witness {w.name!r}: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}") from None
    return features

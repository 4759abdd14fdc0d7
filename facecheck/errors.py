"""Typed errors: every failure facecheck reports to a user is one of these."""

from __future__ import annotations


class FacecheckError(Exception):
    """Base class of facecheck's errors; the CLI prints them as one `error: ...` line."""


class ImageReadError(FacecheckError):
    """An input file could not be decoded as an image (the batch goes on)."""


class WeightsError(FacecheckError):
    """A model bundle is missing, incomplete, tampered with or incompatible."""


class NotFittedError(FacecheckError, ValueError):
    """An estimator was used before `fit` (or `load`)."""


class ConfigError(FacecheckError, ValueError):
    """An option or argument has a value facecheck cannot use."""


class TrainingDataError(FacecheckError):
    """A training folder does not hold enough usable photos or faces."""

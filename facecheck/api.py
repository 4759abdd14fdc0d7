"""Compose the stages: image -> faces -> each witness's inputs -> features -> log-likelihoods -> fused score -> verdict."""

from __future__ import annotations

import os
from typing import Iterable, Iterator

import numpy as np

from .config import Config
from .errors import ConfigError
from .model.bundle import Model, load_model
from .model.verdict import REAL, UNCERTAIN, VerdictRule, is_grayscale
from .output.results import FaceScore, ScanResult
from .scan.io import find_images
from .scan.prepare import Prepared, name_of, prepare
from .scan.workers import compute_threads


def verdict_rule(model: Model, config: Config = Config()) -> VerdictRule:
    """How `scan` turns scores into verdicts: the bundle's real scores at `config.false_alarm` (default the
    bundle's rate) with the uncertain band up to `config.uncertain`; ConfigError when the bundle cannot."""
    real = model.real_scores
    if real is None:
        if config.false_alarm is not None and config.false_alarm != model.false_alarm:
            raise ConfigError(f"{model.path}: this bundle stores no held-out real scores, so its false-alarm rate is "
                              f"fixed at {model.false_alarm}; refit it with `facecheck train --gmm-only` to choose another")
        if config.uncertain is not None:
            raise ConfigError(f"{model.path}: this bundle stores no held-out real scores, so it has no uncertain band; "
                              f"refit it with `facecheck train --gmm-only` to get one")
        # Two verdicts at the bundle's own threshold (its rate may even be unrecorded).
        rate = model.false_alarm if model.false_alarm is not None else 0.0
        return VerdictRule(false_alarm=rate, uncertain=rate, threshold=model.threshold)
    false_alarm = model.false_alarm if config.false_alarm is None else config.false_alarm
    try:
        return VerdictRule.make(real, false_alarm=false_alarm, uncertain=config.uncertain, threshold=model.threshold)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def score_batch(sources: list, prepared: list[Prepared], model: Model, rule: VerdictRule) -> list[ScanResult]:
    """Run the faces of a batch of files through every witness together, then fuse and decide."""
    with_faces = [p for p in prepared if p.faces]
    fused, per_face, perturbed = iter(()), iter(()), {}
    if with_faces:
        scores, witnesses = model.score({name: np.concatenate([p.inputs[name] for p in with_faces]) for name in model.specs})
        fused, per_face = iter(scores), iter(witnesses)
        for kind in with_faces[0].perturbed:
            stacked = {name: np.concatenate([p.perturbed[kind][name] for p in with_faces]) for name in model.specs}
            perturbed[kind] = iter(model.score(stacked)[0])
    threshold = rule.threshold
    results = []
    for source, prep in zip(sources, prepared):
        if prep.error:
            results.append(ScanResult(name_of(source), error=prep.error, threshold=threshold, metadata=prep.metadata))
            continue
        faces = []
        # Grayscale faces score as very photo-like under both witnesses (their features collapse where few
        # real faces lie): a face without colour is never called real.
        gray = is_grayscale(next(iter(prep.inputs.values()))) if prep.faces else ()
        for i, face in enumerate(prep.faces):
            ll = float(next(fused))
            verdict, p_real, stability = rule.decide(ll), rule.p_real(ll), None
            if gray[i] and verdict == REAL:
                verdict = UNCERTAIN
            if perturbed:
                others = {kind: float(next(it)) for kind, it in perturbed.items()}
                if rule.real_scores is not None:
                    stability = {kind: float(rule.p_real(v)) for kind, v in others.items()}
                if any(rule.decide(v) != verdict for v in others.values()):
                    verdict = UNCERTAIN  # the verdict does not survive benign processing
            faces.append(FaceScore(i, face.box, face.confidence, ll, threshold, ll - threshold, verdict,
                                   next(per_face), None if p_real is None else float(p_real), stability))
        results.append(ScanResult(name_of(source), tuple(faces), threshold=threshold, metadata=prep.metadata))
    return results


def scan_image(
    image: str | os.PathLike | np.ndarray, model: Model | None = None, *, config: Config = Config()
) -> ScanResult:
    """Scan one image (a path or an (H, W, 3) uint8 RGB array) and return its faces' verdicts."""
    model = model or load_model(device=config.device)
    return score_batch([image], [prepare(image, model.specs, config)], model, verdict_rule(model, config))[0]


def scan_paths(
    paths: Iterable[str | os.PathLike],
    model: Model | None = None,
    *,
    config: Config = Config(),
    recursive: bool = False,
    extensions: Iterable[str] | None = None,
) -> Iterator[ScanResult]:
    """Scan files, folders and globs in sorted order, yielding one ScanResult per file.

    Files are decoded and searched for faces in parallel (`config.n_jobs` worker processes), and
    the faces of `config.batch_files` files go through the witnesses' networks as one batch.
    """
    files = find_images(paths, recursive=recursive, extensions=extensions)
    yield from scan_files(files, model, config=config)


def prepare_files(files: list, specs: dict, config: Config = Config()) -> Iterator[Prepared]:
    """Decode, detect and cut every file for `specs`, in order; in `config.n_jobs` worker processes, which
    start at once, when there are more files than one batch (else here, as the results are read)."""
    if config.n_jobs > 1 and len(files) > config.batch_files:
        from joblib import delayed

        from .scan.workers import parallel

        # dlib's detector holds the GIL, so threads run it one at a time (slower than serial, measured):
        # worker processes prepare the files, in order, while this process runs the networks.
        return parallel(config.n_jobs, return_as="generator", batch_size=2)(delayed(prepare)(f, specs, config) for f in files)
    return (prepare(f, specs, config) for f in files)


def scan_files(
    files: Iterable[str | os.PathLike], model: Model | None = None, *, config: Config = Config(),
    prepared: Iterator[Prepared] | None = None,
) -> Iterator[ScanResult]:
    """Scan these files exactly as listed (no folder or glob expansion), one ScanResult each, in order.

    For lists made by find_images: expanding them again would walk a listed symlink to a folder
    instead of reporting it, and drop or add rows. `prepared`: `prepare_files(files, model.specs, config)`
    started earlier (the CLI starts the workers before the bundle has loaded).
    """
    files = list(files)
    model = model or load_model(device=config.device)
    rule = verdict_rule(model, config)
    if prepared is None:
        prepared = prepare_files(files, model.specs, config)
    chunk: list = []
    with compute_threads(config.cnn_threads):
        for item in zip(files, prepared):
            chunk.append(item)
            if len(chunk) == config.batch_files:
                yield from score_batch([f for f, _ in chunk], [p for _, p in chunk], model, rule)
                chunk = []
        if chunk:
            yield from score_batch([f for f, _ in chunk], [p for _, p in chunk], model, rule)

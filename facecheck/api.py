"""Compose the stages: image -> faces -> each witness's inputs -> features -> log-likelihoods -> fused score -> verdict."""

from __future__ import annotations

import os
from itertools import islice
from typing import Iterable, Iterator

import numpy as np

from .config import Config
from .model.bundle import Model, load_model
from .model.verdict import REAL, UNCERTAIN, VerdictRule, is_grayscale
from .output.results import FaceScore, ScanResult
from .scan.io import find_images
from .scan.prepare import Prepared, name_of, prepare
from .scan.workers import compute_threads, prepare_files


def score_batch(sources: list, prepared: list[Prepared], model: Model, rule: VerdictRule) -> list[ScanResult]:
    """Score a batch of prepared files: their faces, and each stability perturbation of them, go through every
    witness as one batch; then fuse, decide and make one ScanResult per file."""
    with_faces = [p for p in prepared if p.faces]
    fused, per_face, perturbed = iter(()), iter(()), {}
    if with_faces:
        kinds = list(with_faces[0].perturbed)
        groups = [[p.inputs for p in with_faces], *([p.perturbed[kind] for p in with_faces] for kind in kinds)]
        scores, witnesses = model.score({name: np.concatenate([x[name] for group in groups for x in group])
                                         for name in model.specs})
        n = len(scores) // len(groups)
        fused, per_face = iter(scores[:n]), iter(witnesses[:n])
        perturbed = {kind: iter(scores[n * (i + 1):n * (i + 2)]) for i, kind in enumerate(kinds)}
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
    return score_batch([image], [prepare(image, model.specs, config)], model, VerdictRule.for_model(model, config))[0]


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
    rule = VerdictRule.for_model(model, config)
    with compute_threads(config.cnn_threads):
        if prepared is None:
            prepared = prepare_files(files, model.specs, config)
        items = zip(files, prepared)
        while chunk := list(islice(items, config.batch_files)):
            yield from score_batch([f for f, _ in chunk], [p for _, p in chunk], model, rule)

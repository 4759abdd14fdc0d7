"""`facecheck train` end to end: pre-scan, pretext training, witnesses, mixtures, fusion and calibration, bundle.

Every witness is trained by a builder (`appearance_builder` here, with `loop.py`; others through `witness_builders`):
callables that get a `TrainingRun` (the pre-scanned photos and faces, settings, work folder) and return a
trained Witness. Every witness's mixture is then fitted on the same faces and fused (`calibrate.fit_fused`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import ConfigError, TrainingDataError
from ..model.bundle import load_model, save_bundle
from ..model.witnesses import Witness
from ..model.witnesses.appearance import AppearanceWitness
from ..scan.inputs import CROP_SCALE, InputSpec
from .calibrate import fit_fused
from .data import Pool, build_pool, witness_inputs
from .settings import CHECKPOINT, TrainSettings

MIN_PHOTOS = 20


def default_cache_dir() -> Path:
    """Per-user cache of pre-scan results ($XDG_CACHE_HOME/facecheck or ~/.cache/facecheck)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "facecheck"


def _cache_file(cache_dir: Path | None, folder: str | os.PathLike, kind: str, size: int) -> Path | None:
    if cache_dir is None:
        return None
    key = hashlib.sha1(f"{Path(folder).resolve()}|{kind}".encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return Path(cache_dir) / f"prescan-{key}.json"


def build_pools(folders, *, read_exif: bool, size: int, cache_dir, seed: int, n_jobs: int = 2, progress=None) -> tuple[Pool, dict]:
    """Pre-scan each folder (through its own cache file) and concatenate the pools; counts are summed."""
    pools, totals = [], {}
    for folder in folders:
        pool, counts = build_pool([folder], size=size, read_exif=read_exif, seed=seed, n_jobs=n_jobs,
                                  cache_file=_cache_file(cache_dir, folder, "exif" if read_exif else "faces", size),
                                  progress=progress)
        pools.append(pool)
        for k, v in counts.items():
            if isinstance(v, dict):
                totals.setdefault(k, {})
                for kk, vv in v.items():
                    totals[k][kk] = totals[k].get(kk, 0) + vv
            else:
                totals[k] = totals.get(k, 0) + v
    return Pool.concat(pools), totals


@dataclass(frozen=True)
class TrainingRun:
    """What a witness builder gets: the pre-scanned data, the run's settings and where it may checkpoint.

    pools : the photo folders' pool and the --faces folders' pool (faces and scene crops, with split and source).
    faces : every face of both, in the order of the mixtures' features (with source, box and split).
    record : builders may add {witness name: settings, history} to keep in the bundle's training record.
    history : the appearance witness's epoch records (metrics.json).
    checkpoints : the files builders checkpoint to in `work`, removed once the bundle is written.
    init : the appearance witness of `--init` to fine-tune (None: train from scratch).
    """

    pools: tuple[Pool, ...]
    faces: Pool
    settings: TrainSettings
    work: Path
    resume: bool
    n_jobs: int
    log: Callable[[str], None]
    progress: Callable | None = None
    init: AppearanceWitness | None = None
    record: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    checkpoints: list = field(default_factory=list)

    def files(self, split: str) -> list[Path]:
        """The distinct photos with a crop in one split ("train", "select" or "calib"), sorted."""
        return sorted({Path(s) for p in self.pools for s, sp in zip(p.source, p.split) if sp == split})

    def inputs(self, spec: InputSpec) -> np.ndarray:
        """Every face's input for `spec`, (len(faces), *spec.shape) uint8 (see `witness_inputs`)."""
        return witness_inputs(self.faces, spec, n_jobs=self.n_jobs)


# Trains one witness on a run's data; the builders are called in the bundle's order.
WitnessBuilder = Callable[[TrainingRun], Witness]


def appearance_builder(**_) -> WitnessBuilder:
    """Train the appearance witness on the run's pools with the pretext tasks (fine-tuning the run's `init`
    witness when there is one); it checkpoints to the run's work folder and resumes with the run.
    `AppearanceWitness.trainer` names it; the train command's options are in the run's settings."""

    def build(run: TrainingRun) -> Witness:
        from .loop import Trainer

        s = run.settings
        trainer = Trainer(s, run.work, log=run.log)
        run.checkpoints.append(run.work / CHECKPOINT)
        if run.resume and trainer.resume():
            run.log(f"resumed from {run.work / CHECKPOINT} at epoch {trainer.epoch + 1}, step {trainer.step_in_epoch}")
        elif run.init is not None:
            trainer.load_init(run.init.extractor().network.state_dict())
        photo_pool, faces = run.pools[0], run.faces
        has_exif = np.isfinite(photo_pool.exif).any(axis=1)
        # An ablation without a task simply gets no samples for it.
        use_exif, use_manip = "exif" in s.tasks, "manipulation" in s.tasks
        run.history.extend(trainer.fit(
            photo_pool.subset(has_exif & (photo_pool.split == "train") & use_exif),
            faces.subset((faces.split == "train") & use_manip),
            photo_pool.subset(has_exif & (photo_pool.split != "train") & use_exif),
            faces.subset((faces.split == "select") & use_manip),
            progress=run.progress,
        ))
        return AppearanceWitness(trainer.extractor, scale=CROP_SCALE)

    return build


def train(
    photos: list[str | os.PathLike],
    out: str | os.PathLike,
    *,
    faces: list[str | os.PathLike] = (),
    settings: TrainSettings = TrainSettings(),
    init: str | os.PathLike | None = None,
    gmm_only: bool = False,
    false_alarm: float = 0.01,
    resume: bool = False,
    force: bool = False,
    work_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    n_jobs: int = 2,
    log: Callable[[str], None] = lambda s: None,
    progress=None,
    witness_builders: Sequence[WitnessBuilder] | None = None,
    histories: int = 2,
    fusion: str = "sum",
    two_sided: Sequence[str] = (),
) -> Path:
    """Train a model bundle from camera photos, or with `gmm_only` refit every mixture and the fusion of
    `init`'s witnesses (default: the shipped bundle); returns its path.

    The bundle's witnesses: one per `witness_builders` entry, in order (default: the appearance witness
    alone; `Witness.training_builder` makes them; not called with `gmm_only`); the appearance witness is
    fine-tuned from `init`'s when `init` is given.
    Every mixture sees each real face as it is and after `histories` random processing histories.
    `fusion` is the rule that fuses the witnesses ("sum" or "stouffer"); the witnesses named in
    `two_sided` count a face too typical of real faces as unusual too (see likelihood.FusedScorer); names
    the bundle does not have are ignored.
    """
    out = Path(out)
    if out.exists() and not force:
        raise ConfigError(f"{out}: already exists; pass --force to replace it")
    if not 0.0 < false_alarm < 0.5:
        raise ConfigError(f"--false-alarm {false_alarm}: must be between 0 and 0.5")
    work = Path(work_dir) if work_dir else out.with_name(out.name + ".work")
    if (work / CHECKPOINT).exists() and not resume and not gmm_only:
        raise ConfigError(f"{work}: holds a checkpoint of an earlier run; pass --resume to continue it, or delete the folder")
    cache = Path(cache_dir) if cache_dir else default_cache_dir()

    unknown = set(settings.tasks) - {"exif", "manipulation"}
    if unknown or not settings.tasks:
        raise ConfigError(f"--tasks {','.join(settings.tasks)}: choose from exif, manipulation")
    init_model = base = None
    if gmm_only or init is not None:
        init_model = load_model(init, device=settings.device)
        base = next((w for w in init_model.witnesses if isinstance(w, AppearanceWitness)), None)
        if base is None and not gmm_only:
            raise ConfigError(f"--init {init_model.path}: the bundle has no appearance witness to fine-tune")
    if base is not None:  # the pools' crops are then the appearance witness's own inputs
        ex = base.network.extractor_config
        settings = TrainSettings(**{**asdict(settings), "input_size": ex["input_size"], "widths": tuple(ex["network"]["widths"]),
                                    "blocks": tuple(ex["network"]["blocks"]), "embed_dim": ex["network"]["embed_dim"]})
    size = settings.input_size
    log(f"pre-scanning photos in {', '.join(map(str, photos))}")
    photo_pool, photo_counts = build_pools(photos, read_exif=True, size=size, cache_dir=cache, seed=settings.seed, n_jobs=n_jobs, progress=progress)
    face_pool, face_counts = build_pools(faces, read_exif=False, size=size, cache_dir=cache, seed=settings.seed, n_jobs=n_jobs, progress=progress) if faces else (Pool.empty(size), {})
    log(f"photos: {photo_counts['files']} files, {photo_counts['unreadable']} unreadable, {photo_counts['with_exif']} with EXIF "
        f"({photo_counts['without_exif']} without), {photo_counts['faces']} faces, {photo_counts['scene_crops']} scene crops")
    if faces:
        log(f"--faces: {face_counts['files']} files, {face_counts['unreadable']} unreadable, {face_counts['faces']} faces")
    usable = photo_counts["files"] - photo_counts["unreadable"]
    if not gmm_only and usable < MIN_PHOTOS:
        raise TrainingDataError(f"found {usable} readable photo(s) in {', '.join(map(str, photos))}; training needs at least {MIN_PHOTOS}")

    has_exif = np.isfinite(photo_pool.exif).any(axis=1)
    all_faces = Pool.concat([photo_pool.subset(photo_pool.is_face), face_pool.subset(face_pool.is_face)])
    summary = {
        "photos": photo_counts, "faces_folders": face_counts,
        "exif_task": {"train": int((has_exif & (photo_pool.split == "train")).sum()), "val": int((has_exif & (photo_pool.split != "train")).sum())},
        "manipulation_task": {"train": int((all_faces.split == "train").sum()), "val": int((all_faces.split == "select").sum())},
        "sources": [str(p) for p in photos] + [str(p) for p in faces],
    }
    if not gmm_only:
        log(f"EXIF ranking task: {summary['exif_task']['train']} training crops, {summary['exif_task']['val']} validation; "
            f"manipulation task: {summary['manipulation_task']['train']} training faces, {summary['manipulation_task']['val']} validation")

    if histories < 0:
        raise ConfigError(f"--histories {histories}: must be 0 or more")
    if gmm_only:
        witnesses, history = list(init_model.witnesses), []
        summary["extractor"] = f"from {init_model.path} (not retrained)"
    else:
        builders = [AppearanceWitness.training_builder()] if witness_builders is None else list(witness_builders)
        appearance = any(getattr(b, "kind", None) == AppearanceWitness.kind for b in builders)
        if init is not None and not appearance:
            raise ConfigError("--init gives the appearance witness to start from; add appearance to --witnesses or drop --init")
        if not builders:
            raise ConfigError("no witness to train: keep the appearance witness or add another")
        work.mkdir(parents=True, exist_ok=True)  # the builders checkpoint there (removed at the end if empty)
        run = TrainingRun((photo_pool, face_pool), all_faces, settings, work, resume, n_jobs, log, progress, init=base)
        witnesses = [build(run) for build in builders]
        history = run.history
        if appearance:
            summary["settings"] = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(settings).items()}
            if init is not None:
                summary["init"] = str(init)
        if run.record:
            summary["witness_training"] = run.record
    names = [w.name for w in witnesses]
    if len(set(names)) != len(names):
        raise ConfigError(f"two witnesses have the same name: {names}")

    log(f"extracting features of {len(all_faces)} faces (each also with {histories} random processing histories) for the mixtures of {', '.join(names)}")
    features = {w.name: w.transform(witness_inputs(all_faces, w.spec, n_jobs=n_jobs, histories=histories, seed=settings.seed,
                                                   progress=progress))
                for w in witnesses}
    summary["histories"] = histories
    scorer, gmm_report = fit_fused(features, np.tile(all_faces.split, histories + 1), false_alarm=false_alarm,
                                   seed=settings.seed, rule=fusion, tails={n: "both" for n in two_sided if n in names})
    for name, r in gmm_report["witnesses"].items():
        log(f"GMM of {name}: {r['chosen']} (best held-out log-likelihood of {len(r['candidates'])} candidates)")
    calibration = gmm_report["calibration"]
    log(f"threshold {scorer.threshold_:.2f} (fused score) at {false_alarm:.0%} false alarms on "
        f"{calibration['held_out_faces']} held-out faces (measured there: {calibration['false_alarm_measured']:.2%})")
    if calibration["held_out_faces"] < calibration["held_out_needed"]:
        log(f"warning: only {calibration['held_out_faces']} held-out faces: a {false_alarm:.1%} false-alarm rate needs at least "
            f"{calibration['held_out_needed']} (ten faces under the threshold); with fewer the threshold is one of the lowest "
            f"scores and flags {calibration['false_alarm_measured']:.2%} of them; give more real faces")
    summary["calibration"] = calibration
    summary["gmm"] = gmm_report
    work.mkdir(parents=True, exist_ok=True)
    metrics = work / "metrics.json"
    metrics.write_text(json.dumps({"history": history, "gmm": gmm_report, "counts": summary}, indent=2) + "\n", encoding="utf-8")
    bundle = save_bundle(out, witnesses, scorer, training={k: v for k, v in summary.items() if k != "gmm"},
                         extra_files={"metrics.json": metrics}, force=force)
    for path in (*([] if gmm_only else run.checkpoints), metrics):
        path.unlink(missing_ok=True)
    try:
        work.rmdir()
    except OSError:
        pass
    return bundle


"""Locate, verify, load and write model bundles: each witness's weights and mixture, the fusion, a JSON manifest."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import ConfigError, WeightsError
from ..scan.inputs import InputSpec, spec_from_dict
from ..scan.workers import compute_threads
from .likelihood import REAL_SCORES_FILE, FaceScorer, FusedScorer, load_real_scores
from .verdict import RealScores
from .witnesses import Witness, check_name, load_witness, probe_features

BUNDLE_FORMAT = "facecheck-bundle/2"
# facecheck 0.2.0's bundles: one extractor.pt and scorer.npz, read as a bundle of one appearance witness.
LEGACY_FORMAT = "facecheck-bundle/1"
MANIFEST = "manifest.json"
EXTRACTOR_FILE = "extractor.pt"  # LEGACY_FORMAT only
SCORER_FILE = "scorer.npz"  # LEGACY_FORMAT only
MAX_WITNESSES = 16
ENV_VAR = "FACECHECK_MODEL"
MANIFEST_MAX_BYTES = 8 * 1024 * 1024


class NoShippedModelError(WeightsError):
    """The installed package carries no trained bundle yet."""


def shipped_dir() -> Path:
    """Folder of the bundle installed with the package (the repo's top-level weights/).

    A wheel installs that folder as facecheck/shipped_model/ (see pyproject.toml); a checkout or an
    editable install keeps it at the top of the repository.
    """
    here = Path(__file__).resolve().parents[1]  # the facecheck package
    installed = here / "shipped_model"
    return installed if installed.is_dir() else here.parent / "weights"


def is_shipped(path: str | os.PathLike) -> bool:
    """Whether `path` is the shipped bundle's folder (links resolved)."""
    return os.path.realpath(path) == os.path.realpath(shipped_dir())


def locate(model: str | os.PathLike | None = None) -> Path:
    """Return the bundle folder: `model`, else $FACECHECK_MODEL, else the shipped one."""
    if model is None and os.environ.get(ENV_VAR):
        model = os.environ[ENV_VAR]
    if model is not None:
        path = Path(model)
        if not (path / MANIFEST).is_file():
            raise WeightsError(f"{path}: not a facecheck model bundle (no {MANIFEST})")
        return path
    path = shipped_dir()
    if not (path / MANIFEST).is_file():
        raise NoShippedModelError(
            "no trained model ships with this version yet; train one with "
            "`facecheck train PHOTOS --out DIR` and pass `--model DIR`"
        )
    return path


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(path: str | os.PathLike) -> dict:
    """Read and check a bundle's manifest.json, then every listed file's sha256."""
    path = Path(path)
    try:
        # Capped: a manifest is a few kB, and one of gigabytes would be read whole into memory.
        if (path / MANIFEST).stat().st_size > MANIFEST_MAX_BYTES:
            raise ValueError(f"over {MANIFEST_MAX_BYTES:,} bytes")
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: "[[[[..." nested past the limit
        raise WeightsError(f"{path / MANIFEST}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") not in (BUNDLE_FORMAT, LEGACY_FORMAT):
        raise WeightsError(f"{path}: not a {BUNDLE_FORMAT} (or {LEGACY_FORMAT}) bundle")
    needed = {e[k] for e in witness_entries(manifest, path) for k in ("weights", "scorer")}
    files = manifest.get("files")
    if not isinstance(files, dict) or not needed <= files.keys():
        raise WeightsError(f"{path / MANIFEST}: manifest lists no weights or scorer file for some witness")
    real = manifest.get("real_scores")
    if real is not None and (not isinstance(real, dict) or real.get("file") not in files):
        raise WeightsError(f"{path / MANIFEST}: its real_scores file is not among the bundle's checked files")
    for name, expected in files.items():
        file = path / name
        if Path(name).name != name or name == MANIFEST:
            raise WeightsError(f"{path / MANIFEST}: lists {name!r}, which cannot be a file of the bundle")
        if not file.is_file():
            raise WeightsError(f"{path}: bundle file {name!r} is missing")
        if sha256_file(file) != expected:
            raise WeightsError(f"{file}: sha256 does not match the manifest; the bundle is damaged or tampered with")
    return manifest


def witness_entries(manifest: dict, path: str | os.PathLike = "") -> list[dict]:
    """The manifest's witnesses, in order: {name, kind, config, weights, scorer, gmm} each.

    A LEGACY_FORMAT manifest gives one appearance witness: extractor.pt with the manifest's crop_scale,
    scorer.npz. Raises WeightsError for a malformed list.
    """
    if manifest.get("format") == LEGACY_FORMAT:
        ex = manifest.get("extractor")
        spec = {"type": "crop", "size": ex.get("input_size") if isinstance(ex, dict) else None,
                "scale": manifest.get("crop_scale")}
        return [{"name": "appearance", "kind": "appearance", "config": {"kind": "appearance", "spec": spec, "extractor": ex},
                 "weights": EXTRACTOR_FILE, "scorer": SCORER_FILE, "gmm": manifest.get("gmm")}]
    entries, seen = manifest.get("witnesses"), set()
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_WITNESSES:
        raise WeightsError(f"{path}: the manifest must list 1 to {MAX_WITNESSES} witnesses")
    for e in entries:
        try:
            if not isinstance(e, dict) or not all(isinstance(e.get(k), str) for k in ("kind", "weights", "scorer")):
                raise ValueError("each witness needs a name, kind, config, weights and scorer")
            if check_name(e.get("name")) in seen:
                raise ValueError(f"witness {e['name']!r} is listed twice")
            if not isinstance(e.get("config"), dict) or e["config"].get("kind") != e["kind"]:
                raise ValueError(f"the config of witness {e['name']!r} is not of its kind {e['kind']!r}")
        except ValueError as exc:
            raise WeightsError(f"{path}: bad witness in the manifest ({exc})") from None
        seen.add(e["name"])
    return entries


def bundle_sha256(model: Model) -> str:
    """Identity of a loaded bundle: the sha256 of its manifest (which lists the sha256 of every other file)."""
    return sha256_file(Path(model.path) / MANIFEST)


def bundle_specs(model: str | os.PathLike | None = None) -> dict[str, InputSpec] | None:
    """What each witness of the bundle cuts per face, read from its manifest alone (no weights, no torch), so
    that workers can start on the files while the bundle loads; None when the manifest does not say (the
    bundle's own load then reports why)."""
    try:
        path = locate(model)
        return {e["name"]: spec_from_dict(e["config"]["spec"]) for e in witness_entries(read_manifest(path), path)}
    except (WeightsError, KeyError, TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Model:
    """A loaded bundle: its witnesses (in order), the fused scorer and the manifest."""

    witnesses: list[Witness]
    scorer: FusedScorer
    manifest: dict
    path: Path

    @property
    def specs(self) -> dict[str, InputSpec]:
        """What each witness cuts per face, by name (what `prepare` needs)."""
        return {w.name: w.spec for w in self.witnesses}

    @property
    def threshold(self) -> float:
        """Fused score below which a face is called AI-generated (at the bundle's false-alarm rate)."""
        return float(self.scorer.threshold_)

    @property
    def false_alarm(self) -> float | None:
        """The share of held-out real faces the bundle's threshold flags (None if the bundle does not say)."""
        rate = self.scorer.false_alarm_
        return None if rate is None else float(rate)

    @property
    def real_scores(self) -> RealScores | None:
        """The held-out real faces' fused scores (what p_real is measured on); None in older bundles."""
        return getattr(self.scorer, "real_scores_", None)

    def witness(self, name: str) -> Witness:
        """The witness called `name`; ConfigError when the bundle has none."""
        for w in self.witnesses:
            if w.name == name:
                return w
        raise ConfigError(f"{self.path}: no witness {name!r} in this bundle (it has {', '.join(self.specs)})")

    def features(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each witness's features {name: (N, d)} of its stacked inputs {name: (N, *spec.shape)}."""
        return {w.name: w.transform(inputs[w.name]) for w in self.witnesses}

    def score(self, inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, list[dict[str, float]]]:
        """Fused scores (N,) and each face's {witness name: log-likelihood} of stacked inputs {name: (N, ...)}."""
        features = self.features(inputs)
        logliks = self.scorer.witness_scores(features)
        per_face = [dict(zip(logliks, values)) for values in zip(*(ll.tolist() for ll in logliks.values()))]
        return self.scorer.fuse(logliks), per_face


def load_model(model: str | os.PathLike | None = None, *, device: str = "cpu") -> Model:
    """Locate, verify (sha256) and load a bundle; raises WeightsError with the reason.

    A bundle whose parts do not fit (edited, or forged together with its sha256 list) is refused here,
    rather than failing as an internal error at the first face of a scan: one blank face goes through
    every witness and its mixture.
    """
    path = locate(model)
    manifest = read_manifest(path)
    entries = witness_entries(manifest, path)
    witnesses = [load_witness(path / e["weights"], e["config"], name=e["name"], device=device) for e in entries]
    try:
        with compute_threads(1):  # one face: a second thread only waits for a core
            probe = probe_features(witnesses)
        scorers = {e["name"]: FaceScorer.load(path / e["scorer"]) for e in entries}
        for name, scorer in scorers.items():
            score = scorer.score_samples(probe[name])
            if not np.all(np.isfinite(score)):
                raise ValueError(f"witness {name!r} scores a blank face {score}")
    except ValueError as exc:
        raise WeightsError(f"{path}: the witnesses, scorers and manifest do not fit together ({exc})") from None
    try:
        if manifest["format"] == LEGACY_FORMAT:  # the fused score is the log-likelihood itself
            legacy = scorers["appearance"]
            fusion = {"stats": {"appearance": {"mean": 0.0, "std": 1.0}}, "threshold": legacy.threshold_,
                      "false_alarm": legacy.false_alarm_}
        else:
            fusion = {**manifest["fusion"], "threshold": manifest["threshold"], "false_alarm": manifest["false_alarm"]}
            if manifest.get("real_scores") is not None:
                fusion["real_scores"] = load_real_scores(path / manifest["real_scores"]["file"])
        fused = FusedScorer.from_parts(scorers, fusion)
    except (KeyError, TypeError, ValueError, AttributeError, OSError) as exc:
        raise WeightsError(f"{path}: unusable fusion in the manifest ({exc})") from None
    if fused.threshold_ is None or not np.isfinite(fused.threshold_):
        raise WeightsError(f"{path}: the scorer has no calibrated threshold")
    return Model(witnesses=witnesses, scorer=fused, manifest=manifest, path=path)


def resave_bundle(src: str | os.PathLike, out: str | os.PathLike, *, force: bool = False) -> Path:
    """Write the bundle at `src` again in this facecheck's format (an older bundle's torch weights become a
    .npz that scans without torch), with the same mixtures, fusion, threshold, held-out scores, training
    record and extra files."""
    model = load_model(src)
    own = {e[k] for e in witness_entries(model.manifest, model.path) for k in ("weights", "scorer")} | {REAL_SCORES_FILE}
    extra = {name: model.path / name for name in model.manifest.get("files", {}) if name not in own}
    return save_bundle(out, model.witnesses, model.scorer, training=model.manifest.get("training"), extra_files=extra,
                       force=force)


def save_bundle(
    out: str | os.PathLike,
    witnesses: list[Witness],
    scorer: FusedScorer,
    *,
    training: dict | None = None,
    extra_files: dict[str, str | os.PathLike] | None = None,
    force: bool = False,
) -> Path:
    """Write a bundle atomically (temporary folder, then rename); refuse to replace one unless `force`."""
    out = Path(out)
    if out.exists() and not force:
        raise WeightsError(f"{out}: already exists; pass --force to replace it")
    if getattr(scorer, "threshold_", None) is None:
        raise WeightsError("the scorer must be calibrated (threshold set) before it is saved")
    entries = _entries(witnesses, scorer)
    real_scores = getattr(scorer, "real_scores_", None)
    written = [MANIFEST, *(e[k] for e in entries for k in ("weights", "scorer")), *(extra_files or {}),
               *([REAL_SCORES_FILE] if real_scores is not None else [])]
    if len(set(written)) != len(written):
        raise WeightsError(f"two bundle files would have the same name: {written}")
    fusion = scorer.fusion_dict()
    out.parent.mkdir(parents=True, exist_ok=True)
    # Not mkdtemp: its 0700 mode would become the bundle's, unreadable to other users.
    tmp = out.parent / f".{out.name}.{secrets.token_hex(6)}.tmp"
    tmp.mkdir()
    try:
        for w, e in zip(witnesses, entries):
            w.save(tmp / e["weights"])
            scorer.scorers[w.name].save(tmp / e["scorer"])
        for name, src in (extra_files or {}).items():
            shutil.copyfile(src, tmp / name)
        if real_scores is not None:
            np.save(tmp / REAL_SCORES_FILE, real_scores.scores_)
        manifest = {
            "format": BUNDLE_FORMAT,
            "facecheck_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "witnesses": entries,
            "fusion": {"rule": fusion["rule"], "method": fusion["method"], "stats": fusion["stats"]},
            "threshold": fusion["threshold"],
            "false_alarm": fusion["false_alarm"],
            # The held-out (calibration) real faces' fused scores, sorted: a face's p_real is its rank among them.
            "real_scores": None if real_scores is None else {"file": REAL_SCORES_FILE, "n": len(real_scores)},
            "training": training or {},
            "files": {p.name: sha256_file(p) for p in sorted(tmp.iterdir())},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def _entries(witnesses: list[Witness], scorer: FusedScorer) -> list[dict]:
    """The manifest's witness list; WeightsError when the witnesses and the scorer's mixtures disagree."""
    if [w.name for w in witnesses] != scorer.names:
        raise WeightsError(f"the witnesses {[w.name for w in witnesses]} and the scorer's {scorer.names} differ")
    entries = []
    for w in witnesses:
        try:
            config = {"kind": w.kind, **w.config()}
            if config["kind"] != w.kind:
                raise ValueError(f"its config says kind {config['kind']!r}, the witness is {w.kind!r}")
            json.dumps(config)
            check_name(w.name)
        except (ValueError, TypeError) as exc:
            raise WeightsError(f"witness {w.name!r} cannot be saved ({exc})") from None
        mixture = scorer.scorers[w.name]
        entries.append({"name": w.name, "kind": w.kind, "config": config, "weights": f"{w.name}{w.file_suffix}",
                        "scorer": f"{w.name}.npz", "gmm": {"n_components": mixture.n_components,
                                                            "covariance_type": mixture.covariance_type,
                                                            "n_dims": mixture.n_dims}})
    return entries

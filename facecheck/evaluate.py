"""Measure how well a bundle separates real faces from AI-generated ones (fake = positive class)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from joblib import delayed
from sklearn.metrics import average_precision_score, roc_auc_score

from .config import Config
from .errors import ConfigError, FacecheckError
from .model.bundle import Model
from .scan.imaging import blur, jpeg, resize
from .scan.io import find_images, load_image
from .scan.nuisance import STAT_NAMES, controlled_scores, image_stats, jpeg_quantiser
from .scan.prepare import prepare
from .scan.workers import parallel

SCORE_CONVENTION = "positive class = AI-generated; score = -loglik, the fused score (higher = more likely AI-generated)"
MATCHED_SHORT_SIDE, MATCHED_QUALITY = 256, 90


def labelled_folders(real: Iterable[str | os.PathLike], fake: Iterable[str]) -> dict[str, str]:
    """{generator name: folder} of `--fake NAME=DIR` items, every folder (and each of `real`) checked; ConfigError."""
    fakes = {}
    for item in fake:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise ConfigError(f"--fake {item!r}: use NAME=DIR")
        if not Path(folder).is_dir():
            raise ConfigError(f"--fake {item!r}: {folder} is not a folder")
        fakes[name] = folder
    for folder in real:
        if not Path(folder).is_dir():
            raise ConfigError(f"--real {folder}: not a folder")
    return fakes


def _resize(image: np.ndarray, factor: float) -> np.ndarray:
    return resize(image, factor, "area" if factor < 1 else "linear")


def match_format(image: np.ndarray) -> np.ndarray:
    """Resize so the shorter side is 256 px, then JPEG quality 90 in memory: the same for every image."""
    return jpeg(_resize(image, MATCHED_SHORT_SIDE / min(image.shape[:2])), MATCHED_QUALITY)


def parse_perturbations(spec: str | None) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Parse "jpeg75,resize0.5,blur1" into named image transforms (JPEG quality, scale, Gaussian sigma)."""
    out: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    for item in filter(None, (s.strip() for s in (spec or "").split(","))):
        try:
            if item.startswith("jpeg"):
                q = int(item[4:])
                if not 1 <= q <= 100:
                    raise ValueError
                out[item] = lambda im, q=q: jpeg(im, q)
            elif item.startswith("resize"):
                f = float(item[6:])
                if not 0.05 <= f <= 4:
                    raise ValueError
                out[item] = lambda im, f=f: _resize(im, f)
            elif item.startswith("blur"):
                s = float(item[4:])
                if not 0 < s <= 20:
                    raise ValueError
                out[item] = lambda im, s=s: blur(im, s)
            else:
                raise ValueError
        except ValueError:
            raise ConfigError(f"--perturb {item!r}: use jpegQ (1-100), resizeF (0.05-4) or blurS (sigma, 0-20)") from None
    return out


@dataclass(frozen=True)
class ImageScore:
    """The largest face's fused score and each witness's log-likelihood in one image (NaN when no face or unreadable)."""

    path: str
    loglik: float
    status: str  # "face", "no_face" or "error"
    witnesses: dict[str, float] = field(default_factory=dict)
    stats: tuple[float, ...] = ()  # nuisance.STAT_NAMES of the (transformed) image and its largest face


def _largest_inputs(path: Path, transform, specs: dict, config: Config):
    """Decode and transform one image, then detect and cut through the scan's own `prepare`."""
    try:
        image = load_image(path, max_pixels=config.max_pixels)
    except FacecheckError:
        return "error", None, ()
    if transform is not None:
        image = transform(image)
    prepared = prepare(image, specs, config)
    if prepared.error:
        return "error", None, ()
    if not prepared.faces:
        return "no_face", None, ()
    stats = tuple(image_stats(image, prepared.faces[0].box, jpeg_quantiser(path)).tolist())
    return "face", {name: x[0] for name, x in prepared.inputs.items()}, stats  # faces come largest first


def largest_inputs(files: list[Path], specs: dict, *, transform=None, config: Config = Config(),
                   progress=None) -> list[tuple[str, dict[str, np.ndarray] | None, tuple[float, ...]]]:
    """(status, {witness name: input}, nuisance statistics) of the largest face of each file after an optional
    image transform (the statistics of the transformed image; the JPEG quantiser is the file's).

    `specs` maps witness names to their CropSpec / PatchSpec (`Model.specs`).
    """
    items = progress(files) if progress else files
    # Processes, not threads: dlib's detector holds the GIL (see api.scan_files).
    return parallel(config.n_jobs, batch_size=8)(
        delayed(_largest_inputs)(f, transform, specs, config) for f in items
    )


def score_images(files: list[Path], model: Model, *, transform=None, config: Config = Config(), progress=None) -> list[ImageScore]:
    """Score the largest face of each file (fused, and per witness) after an optional image transform."""
    prepared = largest_inputs(files, model.specs, transform=transform, config=config, progress=progress)
    faces = [inputs for s, inputs, _ in prepared if s == "face"]
    fused, per_face = iter(()), iter(())
    if faces:
        scores, witnesses = model.score({name: np.stack([x[name] for x in faces]) for name in model.specs})
        fused, per_face = iter(scores.tolist()), iter(witnesses)
    nan = {name: float("nan") for name in model.specs}
    return [ImageScore(str(f), next(fused), s, next(per_face), st) if s == "face" else ImageScore(str(f), float("nan"), s, nan)
            for f, (s, _, st) in zip(files, prepared)]


def auc(real_loglik: np.ndarray, fake_loglik: np.ndarray) -> float:
    """ROC AUC of telling fake from real faces by their log-likelihood (fake = positive, score = -loglik)."""
    real, fake = np.asarray(real_loglik, float), np.asarray(fake_loglik, float)
    return float(roc_auc_score(np.r_[np.zeros(len(real)), np.ones(len(fake))], -np.r_[real, fake]))


def detection_metrics(real_loglik: np.ndarray, fake_loglik: np.ndarray, threshold: float) -> dict:
    """AUC, AP, accuracy and TPR at the threshold, TPR at 1% and 5% false alarms (fake = positive, score = -loglik)."""
    real = -np.asarray(real_loglik, float)
    fake = -np.asarray(fake_loglik, float)
    if len(real) == 0 or len(fake) == 0:
        raise ValueError("metrics need at least one real and one fake face")
    y = np.r_[np.zeros(len(real)), np.ones(len(fake))]
    s = np.r_[real, fake]
    flagged = s > -threshold  # loglik < threshold
    out = {
        "auc": auc(real_loglik, fake_loglik),
        "ap": float(average_precision_score(y, s)),
        "acc_at_threshold": float(np.mean(flagged == y.astype(bool))),
        "tpr_at_threshold": float(np.mean(flagged[len(real):])),
        "fpr_at_threshold": float(np.mean(flagged[: len(real)])),
        "n_real": int(len(real)),
        "n_fake": int(len(fake)),
    }
    for rate in (0.01, 0.05):
        cut = np.quantile(real, 1 - rate)
        out[f"tpr_at_{round(rate * 100)}pct_fpr"] = float(np.mean(fake > cut))
    return out


def evaluate(
    real_dirs: Iterable[str | os.PathLike],
    fake_dirs: dict[str, str | os.PathLike],
    model: Model,
    *,
    conditions: dict[str, Callable | None],
    config: Config = Config(),
    progress=None,
    log: Callable[[str], None] = lambda s: None,
) -> tuple[dict, list[dict]]:
    """Score real and fake folders under each condition; return (metrics per condition, score rows).

    Metrics are of the fused score; each row also carries `loglik_<name>`, each witness's log-likelihood.
    """
    real_files = find_images(list(real_dirs), recursive=True)
    fake_files = {name: find_images([d], recursive=True) for name, d in fake_dirs.items()}
    if not real_files or not all(fake_files.values()):
        raise ConfigError("evaluate needs at least one image in every --real and --fake folder")
    metrics, rows = {}, []
    for cond, transform in conditions.items():
        log(f"[{cond}] scoring {len(real_files)} real and {sum(map(len, fake_files.values()))} fake images")
        groups = {"real": score_images(real_files, model, transform=transform, config=config, progress=progress)}
        for name, files in fake_files.items():
            groups[name] = score_images(files, model, transform=transform, config=config, progress=progress)
        for group, scores in groups.items():
            rows += [{"condition": cond, "group": group, "label": int(group != "real"), "path": s.path,
                      "status": s.status, "loglik": s.loglik, **{f"loglik_{w}": v for w, v in s.witnesses.items()},
                      **dict(zip((f"stat_{n}" for n in STAT_NAMES), s.stats or [float("nan")] * len(STAT_NAMES)))}
                     for s in scores]
        faces = {g: [s for s in v if s.status == "face"] for g, v in groups.items()}
        real = np.array([s.loglik for s in faces["real"]])
        cond_metrics = {"counts": {g: {k: sum(1 for s in v if s.status == k) for k in ("face", "no_face", "error")}
                                   for g, v in groups.items()}, "generators": {}, "witnesses": {}}
        for name in fake_files:
            fake = np.array([s.loglik for s in faces[name]])
            cond_metrics["generators"][name] = detection_metrics(real, fake, model.threshold)
        scores = {"fused": lambda s: s.loglik, **{w: (lambda s, w=w: s.witnesses[w]) for w in model.specs}}
        for score_name, get in scores.items():
            aucs = controlled_aucs({g: (np.array([get(s) for s in v]), np.array([s.stats for s in v]).reshape(len(v), -1))
                                    for g, v in faces.items()})
            if score_name == "fused":
                for name, a in aucs.items():
                    cond_metrics["generators"][name]["auc_controlled"] = a["auc_controlled"]
            else:
                cond_metrics["witnesses"][score_name] = {**aucs, "mean": {k: float(np.mean([a[k] for a in aucs.values()]))
                                                                          for k in ("auc", "auc_controlled")}}
        per = list(cond_metrics["generators"].values())
        cond_metrics["mean"] = {k: float(np.mean([m[k] for m in per])) for k in per[0] if not k.startswith("n_")}
        metrics[cond] = cond_metrics
    return metrics, rows


def controlled_aucs(groups: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, dict[str, float]]:
    """{generator: {"auc", "auc_controlled"}} of (scores, nuisance statistics) per group, "real" among them.

    The controlled AUC is that of the scores' residuals after a regression on the statistics among the
    real faces (`nuisance.controlled_scores`): NaN when there are too few real faces or no statistics.
    """
    real_scores, real_stats = groups["real"]
    out = {}
    for name, (scores, stats) in groups.items():
        if name == "real":
            continue
        try:
            rr, rf = controlled_scores(real_scores, real_stats, scores, stats)
            controlled = auc(rr, rf)
        except ValueError:
            controlled = float("nan")
        out[name] = {"auc": auc(real_scores, scores), "auc_controlled": controlled}
    return out


def conditions_for(matched: str, perturb: str | None) -> dict[str, Callable | None]:
    """Named image transforms: "as_distributed" and/or "matched", each also followed by every perturbation."""
    if matched not in ("no", "yes", "both"):
        raise ConfigError(f"--matched {matched!r}: use no, yes or both")
    bases: dict[str, Callable | None] = {}
    if matched in ("no", "both"):
        bases["as_distributed"] = None
    if matched in ("yes", "both"):
        bases["matched"] = match_format
    out = dict(bases)
    for pname, pfn in parse_perturbations(perturb).items():
        for bname, bfn in bases.items():
            out[f"{bname}+{pname}"] = pfn if bfn is None else (lambda im, b=bfn, p=pfn: p(b(im)))
    return out


def write_report(out_dir: str | os.PathLike, metrics: dict, rows: list[dict], *, threshold: float, plots: bool = True) -> list[Path]:
    """Write metrics.json, metrics.csv, scores.csv and (with matplotlib) ROC and histogram PNGs; returns the files.

    scores.csv has one row per image: condition, group, label, path, status, loglik (the fused score) and
    loglik_<name> per witness (its own log-likelihood), so a witness alone and the fusion compare on one run.
    """
    import csv
    import json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "metrics.json", out / "metrics.csv", out / "scores.csv"]
    payload = {"convention": SCORE_CONVENTION, "threshold": threshold, "conditions": metrics}
    written[0].write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    keys = ["auc", "auc_controlled", "ap", "acc_at_threshold", "tpr_at_threshold", "fpr_at_threshold", "tpr_at_1pct_fpr", "tpr_at_5pct_fpr"]
    with open(written[1], "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["condition", "generator", *keys, "n_real", "n_fake"])
        for cond, m in metrics.items():
            for gen, g in m["generators"].items():
                w.writerow([cond, gen, *[g[k] for k in keys], g["n_real"], g["n_fake"]])
            w.writerow([cond, "mean", *[m["mean"][k] for k in keys], "", ""])
    with open(written[2], "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        # loglik is the fused score; loglik_<name> each witness's own log-likelihood.
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["condition", "group", "label", "path", "status", "loglik"])
        w.writeheader()
        w.writerows(rows)
    if plots:
        from .output.plots import plot_histograms, plot_roc

        written += plot_roc(rows, out) + plot_histograms(rows, threshold, out)
    return written


def metrics_table(metrics: dict):
    """A rich Table of every condition and generator (and their mean), titled with the score convention."""
    from rich.table import Table

    table = Table(title=SCORE_CONVENTION, title_justify="left")
    for col in ("condition", "generator", "AUC", "AUC ctl", "AP", "acc@thr", "TPR@thr", "FPR@thr", "TPR@1%FPR", "TPR@5%FPR", "n real/fake"):
        table.add_column(col, justify="left" if col in ("condition", "generator") else "right")
    keys = ("auc", "auc_controlled", "ap", "acc_at_threshold", "tpr_at_threshold", "fpr_at_threshold", "tpr_at_1pct_fpr",
            "tpr_at_5pct_fpr")
    for cond, m in metrics.items():
        for gen, g in [*m["generators"].items(), ("mean", m["mean"])]:
            n = f"{g['n_real']}/{g['n_fake']}" if "n_real" in g else ""
            table.add_row(cond, gen, *(f"{g[k]:.3f}" for k in keys), n)
    return table


def skipped_summary(metrics: dict) -> list[str]:
    """One line per condition that had images without a usable face (counted, never dropped silently)."""
    lines = []
    for cond, m in metrics.items():
        skipped = {g: c["no_face"] + c["error"] for g, c in m["counts"].items() if c["no_face"] + c["error"]}
        if skipped:
            lines.append(f"[{cond}] images without a usable face (not scored): {skipped}")
    return lines

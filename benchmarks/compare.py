"""Put several `benchmarks/quality.py` runs side by side.

    python benchmarks/compare.py runs/quality_*.txt              # AUC and TPR at 5% false alarms
    python benchmarks/compare.py --bootstrap 1000 runs/report_*  # mean AUC with paired bootstrap 95% intervals
    python benchmarks/compare.py --bootstrap 1000 --columns loglik,loglik_appearance,loglik_trace runs/report_x

The second form reads the `scores.csv` of report folders (quality.py --out) and resamples the
development images (real and each generator, with replacement; the same draws for every run), so the
differences to the first run come with an interval that says whether they exceed the dev set's noise;
raw and nuisance-controlled (the residual after the regression on the reports' stat_ columns, fitted
once on all real faces; facecheck/nuisance.py).
`--columns` compares scores.csv columns instead of runs: `loglik` is the fused score, `loglik_<name>`
each witness alone, so one report folder tells whether the fusion beats its witnesses.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np


def read(path: Path) -> dict[tuple[str, str, str], float]:
    """{(condition, generator, metric): value} from a quality.py output file."""
    out = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 4 and not line.startswith("#"):
            try:
                out[(parts[0], parts[1], parts[2])] = float(parts[3])
            except ValueError:
                pass
    return out


def table(files: list[str]) -> None:
    """Print AUC and TPR at 5% false alarms of each quality.py output, one column per run."""
    runs = {Path(f).stem.removeprefix("quality_"): read(Path(f)) for f in files}
    keys = sorted({(c, g) for r in runs.values() for (c, g, _) in r}, key=lambda k: (k[0], k[1] == "mean", k[1]))
    for metric in ("auc", "tpr_at_5pct_fpr"):
        print(f"\n{metric}")
        print(f"{'condition':<16}{'generator':<10}" + "".join(f"{name:>12}" for name in runs))
        for cond, gen in keys:
            cells = "".join(f"{r.get((cond, gen, metric), float('nan')):>12.4f}" for r in runs.values())
            print(f"{cond:<16}{gen:<10}{cells}")


def read_scores(folder: Path, column: str = "loglik") -> dict[tuple[str, str], dict[str, tuple[float, tuple[float, ...]]]]:
    """{(condition, group): {path: (score, nuisance statistics)}} for the images with a face in a report's
    scores.csv (higher = more real; the statistics are empty for reports from before facecheck 0.5.0)."""
    out: dict = {}
    with open(folder / "scores.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if column not in (reader.fieldnames or []):
            raise SystemExit(f"error: {folder / 'scores.csv'} has no column {column!r} (it has {reader.fieldnames})")
        stats = [c for c in reader.fieldnames if c.startswith("stat_")]
        for row in reader:
            if row["status"] == "face":
                out.setdefault((row["condition"], row["group"]), {})[row["path"]] = (
                    float(row[column]), tuple(float(row[c]) for c in stats))
    return out


def controlled(values: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray] | None:
    """{group: residual scores} after the nuisance regression among the reals (None without statistics)."""
    from facecheck.scan.nuisance import controlled_scores

    if not all(st.size for _, st in values.values()):
        return None
    out = {}
    for g, (v, st) in values.items():
        if g != "real":
            out["real"], out[g] = controlled_scores(*values["real"], v, st)
    return out


def bootstrap(folders: list[str], n_boot: int, seed: int = 0, columns: tuple[str, ...] = ("loglik",)) -> None:
    """Print each run's mean AUC over generators with a 95% interval, and its paired difference to the first run.

    A run is a report folder, or with several `columns` a (folder, column) pair named FOLDER:COLUMN.
    """
    from facecheck.evaluate import auc

    runs = {Path(f).name.removeprefix("report_") + (f":{c}" if len(columns) > 1 else ""): read_scores(Path(f), c)
            for f in folders for c in columns}
    first = next(iter(runs))
    rng = np.random.default_rng(seed)
    for cond in sorted({c for r in runs.values() for c, _ in r}):
        groups = sorted({g for r in runs.values() for c, g in r if c == cond})
        gens = [g for g in groups if g != "real"]
        # Images every run scored, so the runs are compared on the same faces.
        common = {g: sorted(set.intersection(*(set(r.get((cond, g), {})) for r in runs.values()))) for g in groups}
        if "real" not in groups or not gens or not all(common.values()):
            continue
        raw = {name: {g: (np.array([r[(cond, g)][p][0] for p in common[g]]), np.array([r[(cond, g)][p][1] for p in common[g]]))
                      for g in groups} for name, r in runs.items()}
        draws = [{g: rng.integers(0, len(common[g]), len(common[g])) for g in groups} for _ in range(n_boot)]
        kinds = {"raw": {name: {g: v[0] for g, v in r.items()} for name, r in raw.items()}}
        residuals = {name: controlled(r) for name, r in raw.items()}
        if all(v is not None for v in residuals.values()):
            kinds["nuisance-controlled"] = residuals

        def mean_auc(v, idx=None):
            pick = (lambda g: v[g]) if idx is None else (lambda g: v[g][idx[g]])
            return float(np.mean([auc(pick("real"), pick(g)) for g in gens]))

        for kind, values in kinds.items():
            boot = {name: np.array([mean_auc(v, d) for d in draws]) for name, v in values.items()}
            print(f"\n{cond}, {kind}: mean AUC over {', '.join(gens)} on {len(common['real'])} real faces; "
                  f"{n_boot} paired bootstrap draws, 95% intervals")
            print(f"{'run':<24}{'mean AUC':>10}{'interval':>18}{'minus ' + first:>24}{'interval':>18}")
            for name, v in values.items():
                lo, hi = np.percentile(boot[name], [2.5, 97.5])
                d = mean_auc(v) - mean_auc(values[first])
                dlo, dhi = np.percentile(boot[name] - boot[first], [2.5, 97.5])
                print(f"{name:<24}{mean_auc(v):>10.4f}{f'[{lo:.3f}, {hi:.3f}]':>18}{d:>+24.4f}{f'[{dlo:+.3f}, {dhi:+.3f}]':>18}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="quality.py outputs (.txt), or report folders with --bootstrap")
    parser.add_argument("--bootstrap", type=int, default=0, metavar="N", help="paired bootstrap over report folders' scores.csv")
    parser.add_argument("--columns", default="loglik",
                        help="with --bootstrap: scores.csv columns to compare, e.g. loglik,loglik_appearance (default: loglik, the fused score)")
    args = parser.parse_args()
    if args.bootstrap:
        bootstrap(args.runs, args.bootstrap, columns=tuple(c.strip() for c in args.columns.split(",") if c.strip()))
    else:
        table(args.runs)


if __name__ == "__main__":
    main()

"""Quality benchmark: `facecheck evaluate` on ../shared/data/dev, as distributed, format-matched and perturbed.

Prints one line per condition, generator and metric, for the fused score and for each witness alone;
writes the full report to --out. `auc_controlled` is the AUC of the score's residual after a
cross-fitted 25-nearest-neighbour regression on nuisance statistics among the dev reals (facecheck/nuisance.py):
what a witness sees beyond size, JPEG and sharpness. Choose candidates on it first.

    python benchmarks/quality.py [--model DIR] [--out reports/dev] [--perturb jpeg75,resize0.5,blur1] [--by-source]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEV = REPO.parent / "shared" / "data" / "dev"
METRICS = ("auc", "auc_controlled", "ap", "acc_at_threshold", "tpr_at_threshold", "fpr_at_threshold", "tpr_at_1pct_fpr", "tpr_at_5pct_fpr")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="bundle folder (default: the shipped model)")
    parser.add_argument("--dev", default=str(DEV), help="development set folder (real/<source>/, fake/<generator>/)")
    parser.add_argument("--out", default=None, help="report folder (metrics.json, scores.csv, plots)")
    parser.add_argument("--matched", default="both", choices=("no", "yes", "both"))
    parser.add_argument("--perturb", default="jpeg75,resize0.5,blur1")
    parser.add_argument("--by-source", action="store_true", help="also print each real source's false-alarm rate and AUCs")
    args = parser.parse_args()
    dev = Path(args.dev)
    if not (dev / "real").is_dir() or not (dev / "fake").is_dir():
        print(f"error: {dev}: no real/ and fake/ folders", file=sys.stderr)
        return 2

    from facecheck import __version__
    from facecheck.evaluate import conditions_for, evaluate, write_report
    from facecheck.model.bundle import load_model

    model = load_model(args.model)
    fakes = {p.name: p for p in sorted((dev / "fake").iterdir()) if p.is_dir()}
    conditions = conditions_for(args.matched, args.perturb)
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    metrics, rows = evaluate([dev / "real"], fakes, model, conditions=conditions, log=log)
    if args.out:
        write_report(args.out, metrics, rows, threshold=model.threshold)
    print(f"# facecheck {__version__}, model {model.path} ({model.manifest.get('created')}), dev {dev}")
    for cond, m in metrics.items():
        for gen, g in [*m["generators"].items(), ("mean", m["mean"])]:
            for k in METRICS:
                print(f"{cond:<28} {gen:<9} {k:<18} {g[k]:.4f}")
        for w, per in m["witnesses"].items():
            for gen, g in per.items():
                print(f"{cond:<28} {gen:<9} {'auc_' + w:<18} {g['auc']:.4f}")
                print(f"{cond:<28} {gen:<9} {'auc_controlled_' + w:<18} {g['auc_controlled']:.4f}")
        print(f"{cond:<28} counts    {m['counts']}")
    if args.by_source:
        print_by_source(rows, dev / "real", model.threshold)
    return 0


def print_by_source(rows: list[dict], real_dir: Path, threshold: float) -> None:
    """Per real source (first folder under real/): false alarms at the threshold and each generator's AUC against it."""
    import numpy as np

    from facecheck.evaluate import auc

    for cond in dict.fromkeys(r["condition"] for r in rows):
        fakes: dict[str, list[float]] = {}
        sources: dict[str, list[float]] = {}
        for r in rows:
            if r["condition"] == cond and r["status"] == "face":
                key = r["group"] if r["label"] else Path(r["path"]).relative_to(real_dir).parts[0]
                (fakes if r["label"] else sources).setdefault(key, []).append(r["loglik"])
        for source, real in sorted(sources.items()):
            for gen, fake in sorted(fakes.items()):
                print(f"{cond + '/' + source:<40} {gen:<9} auc                {auc(real, fake):.4f}")
            print(f"{cond + '/' + source:<40} real      fpr_at_threshold   {np.mean(np.array(real) < threshold):.4f}  (n={len(real)})")


if __name__ == "__main__":
    sys.exit(main())

"""Every subset of a bundle's witnesses, fused, from one `quality.py --out` report (no rescoring).

    python benchmarks/witness_subsets.py REPORT_DIR --model BUNDLE

Reads scores.csv (`loglik_<name>` per witness) and the bundle's fusion statistics, and prints, per
condition and subset, the mean AUC over generators, each generator's AUC, and StyleGAN against its
same-format real partner (dev/real/ffhq-256-140k).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report")
    parser.add_argument("--model", required=True)
    parser.add_argument("--pair", default="ffhq-256-140k:stylegan", help="REAL_SOURCE:GENERATOR, the same-format pair")
    args = parser.parse_args()
    from facecheck.evaluate import auc

    stats = json.loads((Path(args.model) / "manifest.json").read_text())["fusion"]["stats"]
    names = list(stats)
    rows = [r for r in csv.DictReader(open(Path(args.report) / "scores.csv", encoding="utf-8")) if r["status"] == "face"]
    pair_real, pair_gen = args.pair.split(":")
    for cond in dict.fromkeys(r["condition"] for r in rows):
        sub = [r for r in rows if r["condition"] == cond]
        z = {n: np.array([(float(r[f"loglik_{n}"]) - stats[n]["mean"]) / stats[n]["std"] for r in sub]) for n in names}
        group = np.array([r["group"] for r in sub])
        paired = np.array([f"/{pair_real}/" in r["path"] for r in sub])
        gens = [g for g in dict.fromkeys(group) if g != "real"]
        print(f"\n{cond}")
        for k in range(1, len(names) + 1):
            for combo in itertools.combinations(names, k):
                score = sum(z[n] for n in combo)
                real = score[group == "real"]
                aucs = {g: auc(real, score[group == g]) for g in gens}
                pair = auc(score[paired & (group == "real")], score[group == pair_gen])
                print(f"  {'+'.join(combo):<34} mean {np.mean(list(aucs.values())):.4f}  "
                      + "  ".join(f"{g} {a:.4f}" for g, a in aucs.items()) + f"  {pair_gen}-vs-{pair_real} {pair:.4f}")


if __name__ == "__main__":
    main()

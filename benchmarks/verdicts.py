"""Verdict shares on dev: how often each verdict is given per generator and per real source, and which
default band (false-alarm rate, top of the uncertain band) leaves users the fewest wrong confident verdicts.

Reads a quality report (benchmarks/quality.py --out REPORT: scores.csv, the largest face per image) and
the bundle's held-out real scores, so every band is judged on the same scores.

    python benchmarks/verdicts.py REPORT [--model DIR] [--condition matched] [--false-alarm F --uncertain U]
    python benchmarks/verdicts.py --scan DEV.jsonl    # a `facecheck scan DEV -r --stability --jsonl` of dev

With --scan it reads the rows of a real scan of the dev folders (the largest face of each file) and prints
each group's verdict shares, how many verdicts --stability turned into `uncertain`, and the spread of
p_real for real and AI faces.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter, defaultdict
from pathlib import Path

from facecheck.model.bundle import load_model
from facecheck.model.verdict import AI_GENERATED, DEFAULT_UNCERTAIN, ERROR, REAL, UNCERTAIN, VerdictRule

# Candidate defaults: (false_alarm, top of the uncertain band); equal values mean no band.
CANDIDATES = ((0.01, 0.01), (0.01, 0.05), (0.01, 0.10), (0.01, 0.20), (0.05, 0.05), (0.05, 0.10), (0.05, 0.20),
              (0.10, 0.10), (0.10, 0.20))
ORDER = (REAL, UNCERTAIN, AI_GENERATED, "no_face")


def read_scores(report: Path, condition: str) -> list[tuple[str, bool, str, float | None]]:
    """(group, is_fake, status, fused score) per image; group is the generator or real/<source>."""
    out = []
    with open(report / "scores.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["condition"] != condition:
                continue
            fake = row["label"] == "1"
            group = row["group"] if fake else "real/" + Path(row["path"]).parent.name
            score = float(row["loglik"]) if row["status"] == "face" else None
            out.append((group, fake, row["status"], score))
    return out


def verdicts(scores, rule: VerdictRule) -> list[tuple[str, bool, str]]:
    """(group, is_fake, verdict) per image; images without a scored face are no_face."""
    return [(g, fake, rule.decide(s) if s is not None else "no_face") for g, fake, _, s in scores]


def shares_table(decided) -> None:
    by_group = defaultdict(Counter)
    for g, _, v in decided:
        by_group[g][v] += 1
    print("| group | images | " + " | ".join(ORDER) + " |")
    print("|---|---:|" + "---:|" * len(ORDER))
    for g in sorted(by_group, key=lambda g: (g.startswith("real"), g)):
        c = by_group[g]
        n = sum(c.values())
        print(f"| {g} | {n} | " + " | ".join(f"{100 * c[v] / n:.1f}%" for v in ORDER) + " |")


def candidates_table(scores, real_scores) -> None:
    print("| false alarm | uncertain up to | wrong confident (of all faces) | real called ai-generated | "
          "fake called real | uncertain (reals / fakes) | error rate among confident verdicts |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for fa, top in CANDIDATES:
        decided = [(fake, v) for _, fake, v in verdicts(scores, VerdictRule.make(real_scores, false_alarm=fa, uncertain=top))
                   if v != "no_face"]
        reals = [v for fake, v in decided if not fake]
        fakes = [v for fake, v in decided if fake]
        fp, fn = reals.count(AI_GENERATED), fakes.count(REAL)
        confident = sum(v != UNCERTAIN for _, v in decided)
        print(f"| {fa:.2f} | {top:.2f} | {fp + fn} ({100 * (fp + fn) / len(decided):.1f}%) | {100 * fp / len(reals):.1f}% | "
              f"{100 * fn / len(fakes):.1f}% | {100 * reals.count(UNCERTAIN) / len(reals):.1f}% / "
              f"{100 * fakes.count(UNCERTAIN) / len(fakes):.1f}% | {100 * (fp + fn) / max(confident, 1):.1f}% |")


def stability_tables(path: Path) -> None:
    """Verdict shares, and what --stability changed, from the JSON Lines of a scan of dev/real and dev/fake."""
    import numpy as np

    from facecheck.output.resume import read_rows

    largest = {}
    for row in read_rows(path):
        if row["face_index"] in (None, 0):
            largest[row["source_file"]] = row
    by_group, flipped, spreads = defaultdict(Counter), Counter(), defaultdict(list)
    for name, row in largest.items():
        parts = Path(name).parts
        kind = parts[-3]
        group = f"{kind}/{parts[-2]}" if kind == "real" else parts[-2]
        verdict = row["verdict"] if row["verdict"] != ERROR else "no_face"
        by_group[group][verdict] += 1
        if row["p_real_spread"] is not None:
            spreads[kind].append(row["p_real_spread"])
            # Uncertain although p_real alone says otherwise: the perturbed copies disagreed.
            if verdict == UNCERTAIN and not (row["threshold"] <= row["loglik"] and row["p_real"] <= DEFAULT_UNCERTAIN):
                flipped[group] += 1
    print("| group | files | real | uncertain (by --stability) | ai-generated | no_face |")
    print("|---|---:|---:|---:|---:|---:|")
    for g in sorted(by_group, key=lambda g: (g.startswith("real"), g)):
        c = by_group[g]
        n = sum(c.values())
        print(f"| {g} | {n} | {100 * c[REAL] / n:.1f}% | {100 * c[UNCERTAIN] / n:.1f}% ({100 * flipped[g] / n:.1f}%) | "
              f"{100 * c[AI_GENERATED] / n:.1f}% | {100 * c['no_face'] / n:.1f}% |")
    for kind, values in sorted(spreads.items()):
        v = np.array(values)
        print(f"\np_real_spread, {kind} faces ({len(v)}): median {np.median(v):.3f}, 90th percentile "
              f"{np.quantile(v, 0.9):.3f}, max {v.max():.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, nargs="?", help="a quality report folder (with scores.csv)")
    parser.add_argument("--scan", type=Path, default=None, help="JSON Lines of a --stability scan of dev (see above)")
    parser.add_argument("--model", default=None, help="the bundle that made the report (default: the shipped one)")
    parser.add_argument("--condition", default="matched", help="matched, as_distributed, or a perturbation")
    parser.add_argument("--false-alarm", type=float, default=None, help="default: the bundle's")
    parser.add_argument("--uncertain", type=float, default=None, help="default: facecheck's default band")
    args = parser.parse_args()
    if args.scan is not None:
        stability_tables(args.scan)
        return 0
    if args.report is None:
        parser.error("give a REPORT folder or --scan FILE")
    model = load_model(args.model)
    if model.real_scores is None:
        print("error: this bundle stores no held-out real scores", file=sys.stderr)
        return 2
    scores = read_scores(args.report, args.condition)
    if not scores:
        print(f"error: no rows of condition {args.condition!r} in {args.report / 'scores.csv'}", file=sys.stderr)
        return 2
    rule = VerdictRule.make(model.real_scores, false_alarm=args.false_alarm or model.false_alarm, uncertain=args.uncertain)
    print(f"## Verdict shares, {args.condition} (false alarm {rule.false_alarm}, uncertain up to p_real {rule.uncertain}; "
          f"{len(model.real_scores)} held-out real scores)\n")
    shares_table(verdicts(scores, rule))
    print(f"\n## Candidate defaults, {args.condition}: wrong confident verdicts (largest face per image)\n")
    candidates_table(scores, model.real_scores)
    return 0


if __name__ == "__main__":
    sys.exit(main())

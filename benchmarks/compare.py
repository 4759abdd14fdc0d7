"""Put the outputs of several `benchmarks/quality.py` runs side by side (AUC and TPR at 5% false alarms).

    python benchmarks/compare.py runs/quality_*.txt
"""

from __future__ import annotations

import sys
from pathlib import Path


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


def main(files: list[str]) -> None:
    runs = {Path(f).stem.removeprefix("quality_"): read(Path(f)) for f in files}
    keys = sorted({(c, g) for r in runs.values() for (c, g, _) in r}, key=lambda k: (k[0], k[1] == "mean", k[1]))
    for metric in ("auc", "tpr_at_5pct_fpr"):
        print(f"\n{metric}")
        print(f"{'condition':<16}{'generator':<10}" + "".join(f"{name:>12}" for name in runs))
        for cond, gen in keys:
            cells = "".join(f"{r.get((cond, gen, metric), float('nan')):>12.4f}" for r in runs.values())
            print(f"{cond:<16}{gen:<10}{cells}")


if __name__ == "__main__":
    main(sys.argv[1:])

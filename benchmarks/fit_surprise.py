"""Fit the surprise witness's coder on real training faces (the "train" split only; never a fake), for the tournament.

    python benchmarks/fit_surprise.py [--faces 3000] [--out /tmp/tournament/surprise_counts.npy]

Sums the residual counts of the faces' native-resolution patches, as they are (no history), and writes
them; `tournament.py` builds `SurpriseWitness.fit(counts)` from that file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tournament import DATA, log, training_faces  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=3000)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--out", default="/tmp/tournament/surprise_counts.npy")
    args = parser.parse_args()

    from facecheck.model.witnesses.surprise import SurpriseWitness
    from facecheck.train.data import witness_inputs

    faces, _ = training_faces(Path(args.data), Path.home() / ".cache" / "facecheck")
    train = np.flatnonzero(faces.split == "train")
    pick = np.sort(np.random.default_rng(0).choice(train, size=min(args.faces, len(train)), replace=False))
    witness = SurpriseWitness()
    log(f"cutting {len(pick)} of {len(train)} training-split faces")
    inputs = witness_inputs(faces.subset(pick), witness.spec, n_jobs=2)
    counts = SurpriseWitness.counts(inputs)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, counts)
    log(f"{int(counts[0].sum()):,} residuals per scale -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Fit a surprise witness's coder on real training faces (the "train" split only; never a fake), for the tournament.

    python benchmarks/fit_surprise.py [--faces 3000] [--predictor med|ls] [--colour luma|ycc] [--name surprise_ls]
    python benchmarks/fit_surprise.py --steps 2000 --faces 100000 --name coder   # the learned coder (coder.py)

With no --name, sums the MED coder's residual counts into CACHE/surprise_counts.npy (`tournament.py`'s
"surprise"); with --name, writes the fitted witness as CACHE/coders/NAME.coder.npz and its manifest record
NAME.json, which `tournament.py` offers as candidate NAME; with --steps, trains the coder witness's network
(`coder.CoderWitness`) that many steps instead, checkpointed (and resumed) at CACHE/coders/NAME.ckpt, and
writes CACHE/coders/NAME.weights.npz. The faces' native-resolution patches are read as
they are (no history), from the tournament's cut inputs when it kept them, else cut here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tournament import DATA, _raw, log, training_faces  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=3000)
    parser.add_argument("--predictor", default="med")
    parser.add_argument("--colour", default="luma")
    parser.add_argument("--name", default=None)
    parser.add_argument("--steps", type=int, default=0, help="train the learned coder this many steps (needs --name)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--cache", default="/tmp/tournament")
    args = parser.parse_args()
    if args.name is None and ((args.predictor, args.colour) != ("med", "luma") or args.steps):
        parser.error("--predictor, --colour and --steps make a named coder: give --name")

    from facecheck.model.witnesses.surprise import PATCHES, SurpriseWitness
    from facecheck.train.data import witness_inputs

    cache = Path(args.cache)
    faces, _ = training_faces(Path(args.data), Path.home() / ".cache" / "facecheck")
    train = np.flatnonzero(faces.split == "train")
    pick = np.sort(np.random.default_rng(0).choice(train, size=min(args.faces, len(train)), replace=False))
    if _raw(cache, PATCHES, "train").exists():  # its first len(faces) rows are the faces as they are
        inputs, rows = np.load(_raw(cache, PATCHES, "train"), mmap_mode="r"), pick
    else:
        log(f"cutting {len(pick)} of {len(train)} training-split faces")
        inputs, rows = witness_inputs(faces.subset(np.isin(np.arange(len(faces)), pick)), PATCHES, n_jobs=2), None
    if args.name is None:  # the shipped coder's residual counts
        np.save(cache / "surprise_counts.npy", SurpriseWitness().counts(inputs, rows)[0])
        log(f"counts of {len(pick)} faces -> {cache / 'surprise_counts.npy'}")
        return 0
    (cache / "coders").mkdir(parents=True, exist_ok=True)
    if args.steps:
        import torch

        from facecheck.model.witnesses.coder import CoderWitness

        torch.set_num_threads(2)
        rows = np.arange(len(inputs)) if rows is None else rows
        witness = CoderWitness.learn(inputs, rows, steps=args.steps, seed=args.seed, log=log,
                                     checkpoint=cache / "coders" / f"{args.name}.ckpt")
        witness.save(cache / "coders" / f"{args.name}{witness.file_suffix}")
        (cache / "coders" / f"{args.name}.json").write_text(json.dumps(witness.config()) + "\n", encoding="utf-8")
        log(f"{args.name}: learned coder, {args.steps} steps on {len(rows)} faces -> {cache / 'coders'}")
        return 0
    witness = SurpriseWitness.learn(inputs, rows, predictor=args.predictor, colour=args.colour)
    witness.save(cache / "coders" / f"{args.name}.coder.npz")
    (cache / "coders" / f"{args.name}.json").write_text(json.dumps(witness.config()) + "\n", encoding="utf-8")
    log(f"{args.name}: {args.predictor} {args.colour} coder of {len(pick)} faces -> {cache / 'coders'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Exploratory: other features and mixture fits from one trained extractor, scored on ../shared/data/dev.

    python benchmarks/variants.py [--model DIR] [--data ../shared/data]

Fits a mixture per variant on the training data's real faces (never on the development set) and prints
the mean AUC over the development generators, as distributed and format-matched:
  embed          the bundle's embedding (what facecheck uses); also the mean log-likelihood per split
  embed_flip     mean of the embeddings of the crop and its mirror image
  pooled         the mean/std pooling of the last stage, before the projection
  all_stages     mean/std pooling of every stage, concatenated
  unseen_faces   embedding; mixture on faces the extractor never trained on (select + calib splits)
  seen_faces     embedding; mixture on as many of the extractor's own training faces
Mixtures are chosen among 1-16 full-covariance components by log-likelihood on held-out faces.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
COMPONENTS = (1, 2, 4, 8, 12, 16)


def features(model, crops: np.ndarray) -> dict[str, np.ndarray]:
    """Every variant's features of crops (N, S, S, 3) uint8."""
    import torch

    extractor = model.witness("appearance").extractor()
    net, out = extractor.network.eval(), {"embed": [], "embed_flip": [], "pooled": [], "all_stages": []}
    with torch.no_grad():
        for i in range(0, len(crops), 128):
            x = extractor.to_tensor(crops[i : i + 128])
            h, stats, j = net.stem(x), [], 0
            for n_blocks in net.blocks:
                for _ in range(n_blocks):
                    h, j = net.stages[j](h), j + 1
                flat = h.flatten(2)
                stats.append(torch.cat([flat.mean(2), flat.std(2, unbiased=False)], 1))
            z = net.project(stats[-1])
            out["embed"].append(z)
            out["embed_flip"].append((z + net.embed(torch.flip(x, dims=[3]))) / 2)
            out["pooled"].append(stats[-1])
            out["all_stages"].append(torch.cat(stats, 1))
    return {k: torch.cat(v).numpy() for k, v in out.items()}


def fit(train: np.ndarray, held_out: np.ndarray):
    """The mixture (by component count) with the best mean log-likelihood on held_out."""
    from facecheck.model.likelihood import FaceScorer

    fits = [FaceScorer(k, covariance_type="full", n_dims=64, random_state=0).fit(train)
            for k in COMPONENTS if 5 * k <= len(train)]
    return max(fits, key=lambda s: float(np.mean(s.score_samples(held_out))))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="bundle folder (default: the shipped model)")
    parser.add_argument("--data", default=str(DATA), help="folder with exif_photos/, real_faces/ and dev/")
    args = parser.parse_args()
    data = Path(args.data)
    if not (data / "dev" / "real").is_dir():
        print(f"error: {data}: no dev/real folder", file=sys.stderr)
        return 2

    from facecheck.evaluate import auc, largest_inputs, match_format
    from facecheck.model.bundle import load_model
    from facecheck.scan.io import find_images
    from facecheck.train.pipeline import build_pools, default_cache_dir

    model = load_model(args.model)
    spec = model.witness("appearance").spec
    size = spec.size
    pools = [build_pools([data / d], read_exif=d == "exif_photos", size=size, cache_dir=default_cache_dir(), seed=0)[0]
             for d in ("exif_photos", "real_faces")]
    faces = [p.subset(p.is_face) for p in pools]
    split = np.concatenate([f.split for f in faces])
    train = features(model, np.concatenate([f.crops for f in faces]))

    groups = {"real": data / "dev" / "real", **{p.name: p for p in sorted((data / "dev" / "fake").iterdir()) if p.is_dir()}}
    dev = {}
    for cond, transform in (("as_distributed", None), ("matched", match_format)):
        for name, folder in groups.items():
            crops = [x["appearance"] for s, x, _ in largest_inputs(find_images([folder], recursive=True),
                                                                 {"appearance": spec}, transform=transform) if s == "face"]
            dev[cond, name] = features(model, np.stack(crops))

    rng = np.random.default_rng(0)
    unseen = np.flatnonzero(split != "train")
    unseen = unseen[rng.permutation(len(unseen))]
    cut = int(0.8 * len(unseen))
    seen = rng.permutation(np.flatnonzero(split == "train"))[:cut]
    fits = {v: (train[v][split == "train"], train[v][split == "select"]) for v in ("embed", "embed_flip", "pooled", "all_stages")}
    fits["unseen_faces"] = (train["embed"][unseen[:cut]], train["embed"][unseen[cut:]])
    fits["seen_faces"] = (train["embed"][seen], train["embed"][unseen[cut:]])

    print(f"# model {model.path}, dev {data / 'dev'}")
    for variant, (fit_on, held_out) in fits.items():
        scorer = fit(fit_on, held_out)
        feat = variant if variant in train else "embed"
        row = {"variant": variant, "faces": len(fit_on), "components": scorer.n_components}
        if variant == "embed":  # how much likelier the extractor's own training faces are than unseen ones
            row["mean_loglik"] = {s: round(float(np.mean(scorer.score_samples(train["embed"][split == s]))), 2)
                                  for s in ("train", "select", "calib")}
        for cond in ("as_distributed", "matched"):
            real = scorer.score_samples(dev[cond, "real"][feat])
            aucs = {gen: auc(real, scorer.score_samples(dev[cond, gen][feat])) for gen in groups if gen != "real"}
            row[cond] = {**{k: round(v, 4) for k, v in aucs.items()}, "mean": round(float(np.mean(list(aucs.values()))), 4)}
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

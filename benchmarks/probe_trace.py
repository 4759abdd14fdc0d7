"""Probe the trace witness quickly: train it, then score dev faces with a mixture fitted on history-augmented reals.

    python benchmarks/probe_trace.py train OUT_DIR [--steps 3000] [--seed 0]
    python benchmarks/probe_trace.py eval OUT_DIR [--histories 2]

`train` learns the network on ../shared/data photographs (exif_photos, real_faces "train" split);
`eval` fits a mixture on real_faces features (each face as distributed and with random histories),
prints per-generator AUCs on dev (as distributed and format-matched), the StyleGAN vs FFHQ-256 pair,
false alarms per dev real source at the 5% threshold, and leave-one-real-source-out false alarms.
Face boxes are cached in OUT_DIR/../probe_boxes.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import zlib
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def _load(path):
    from facecheck.scan.io import load_image

    try:
        return load_image(path)
    except Exception:
        return None


def train_images(split: str) -> list[np.ndarray]:
    from facecheck.scan.io import find_images
    from facecheck.train.data import split_of

    files = []
    if split == "train":
        files += find_images([DATA / "exif_photos"], recursive=True)
    root = DATA / "real_faces"
    files += [f for f in find_images([root], recursive=True) if split_of(f.relative_to(root).as_posix()) == split]
    images = Parallel(n_jobs=2, prefer="threads")(delayed(_load)(f) for f in files)
    return [im for im in images if im is not None]


def cmd_train(args) -> None:
    from facecheck.train.trace_loop import TraceSettings, TraceTrainer

    out = Path(args.out)
    s = TraceSettings(steps=args.steps, seed=args.seed, smooth_share=args.smooth)
    trainer = TraceTrainer(s, out, log=lambda m: print(m, flush=True))
    if trainer.resume():
        print(f"resumed at step {trainer.step}", flush=True)
    tr, va = train_images("train"), train_images("select")
    print(f"{len(tr)} training images, {len(va)} validation images", flush=True)
    trainer.fit(tr, va)
    trainer.witness.save(out / "trace.pt")
    (out / "trace.json").write_text(json.dumps(trainer.witness.config()))


def _detect(path: str, matched: bool):
    from facecheck.evaluate import match_format
    from facecheck.scan.detect import detect_faces

    im = _load(path)
    if im is None:
        return None
    if matched:
        im = match_format(im)
    faces = detect_faces(im)
    return [list(f.box) for f in faces[:1]]


def boxes(files: list[Path], matched: bool, cache: Path) -> dict[str, list]:
    """Largest face box per file (after format matching if asked), cached in a JSON file."""
    data = json.loads(cache.read_text()) if cache.is_file() else {}
    key = "matched" if matched else "as_distributed"
    have = data.setdefault(key, {})
    todo = [str(f) for f in files if str(f) not in have]
    if todo:
        found = Parallel(n_jobs=2, backend="loky", batch_size=16)(delayed(_detect)(f, matched) for f in todo)
        have.update(dict(zip(todo, found)))
        cache.write_text(json.dumps(data))
    return have


def face_inputs(files, box_map, spec, *, matched=False, histories=0, seed=0):
    """Per face: list of (file, history index, patches) -- the original and `histories` random histories."""
    from facecheck.evaluate import match_format
    from facecheck.scan.imaging import follow_box
    from facecheck.train.history import random_history

    out = []
    for f in files:
        b = box_map.get(str(f))
        if not b:
            continue
        im = _load(f)
        if matched:
            im = match_format(im)
        box = tuple(b[0])
        out.append((str(f), 0, spec.cut(im, box)))
        rng = np.random.default_rng([seed, zlib.crc32(Path(f).name.encode("utf-8", "surrogateescape"))])
        for k in range(histories):
            h = random_history(rng, min_scale=0.35, max_scale=2.0)
            im2 = h.apply(im)
            out.append((str(f), k + 1, spec.cut(im2, follow_box(box, im.shape, im2.shape))))
    return out


def cmd_eval(args) -> None:
    from facecheck.evaluate import auc
    from facecheck.model.likelihood import FaceScorer
    from facecheck.model.witnesses.trace import TraceWitness
    from facecheck.scan.io import find_images
    from facecheck.train.calibrate import fit_scorer
    from facecheck.train.data import split_of

    out = Path(args.out)
    cache = out.parent / "probe_boxes.json"
    if args.witness.startswith("spectrum"):
        from facecheck.model.witnesses.spectrum import SpectrumWitness

        out.mkdir(parents=True, exist_ok=True)
        witness = SpectrumWitness(color=args.witness == "spectrum-color")
    else:
        witness = TraceWitness.load(out / "trace.pt", json.loads((out / "trace.json").read_text()))
    spec = witness.spec
    root = DATA / "real_faces"
    real_files = find_images([root], recursive=True)
    rb = boxes(real_files, False, cache)
    patch_cache = out.parent / f"probe_patches_h{args.histories}_s{args.seed}.npz"
    if patch_cache.is_file():
        with np.load(patch_cache) as z:
            items = list(zip(z["files"].tolist(), z["hist"].tolist(), z["patches"]))
    else:
        items = face_inputs(real_files, rb, spec, histories=args.histories, seed=args.seed)
        np.savez(patch_cache, files=np.array([f for f, _, _ in items]), hist=np.array([h for _, h, _ in items]),
                 patches=np.stack([p for _, _, p in items]))
    feats = witness.transform(np.stack([p for _, _, p in items]))
    rel = [Path(f).relative_to(root).as_posix() for f, _, _ in items]
    split = np.array([split_of(r) for r in rel])
    source = np.array([r.split("/")[0] for r in rel])
    hist = np.array([h for _, h, _ in items])
    scorer, rep = fit_scorer(feats, split, false_alarm=0.05, seed=args.seed)
    print(f"# mixture {rep['chosen']} on {rep['faces']}; threshold {scorer.threshold_:.2f}")
    calib_ll = scorer.score_samples(feats[split == "calib"])
    print(f"calib false alarms: originals {np.mean(calib_ll[hist[split == 'calib'] == 0] < scorer.threshold_):.3f}, "
          f"with histories {np.mean(calib_ll[hist[split == 'calib'] > 0] < scorer.threshold_):.3f}")
    # Leave one real source out: fit without it, false alarms on it at the refitted threshold.
    for s in sorted(set(source)):
        keep = source != s
        if (~keep).sum() < 30:
            continue
        # The chosen mixture refitted without the source (choosing again would cost 12 fits per source).
        sc = FaceScorer(scorer.n_components, covariance_type=scorer.covariance_type, n_dims=scorer.n_dims,
                        random_state=args.seed).fit(feats[keep & (split == "train")])
        sc.calibrate(feats[keep & (split == "calib")], 0.05)
        fa = np.mean(sc.score_samples(feats[~keep & (hist == 0)]) < sc.threshold_)
        print(f"leave-one-source-out {s:<26} false alarms {fa:.3f} (n={int((~keep & (hist == 0)).sum())})")
    dev = DATA / "dev"
    for matched in (False, True):
        cond = "matched" if matched else "as_distributed"
        groups = {f"real/{p.name}": find_images([p], recursive=True) for p in sorted((dev / "real").iterdir())}
        groups |= {p.name: find_images([p], recursive=True) for p in sorted((dev / "fake").iterdir())}
        allf = [f for fs in groups.values() for f in fs]
        bm = boxes(allf, matched, cache)
        ll = {}
        for g, fs in groups.items():
            dev_cache = out.parent / f"probe_dev_{cond}_{g.replace('/', '__')}.npy"
            if dev_cache.is_file():
                arr = np.load(dev_cache)
            else:
                arr = np.stack([p for _, _, p in face_inputs(fs, bm, spec, matched=matched)])
                np.save(dev_cache, arr)
            ll[g] = scorer.score_samples(witness.transform(arr))
        real = np.concatenate([v for g, v in ll.items() if g.startswith("real/")])
        gens = [g for g in ll if not g.startswith("real/")]
        aucs = {g: auc(real, ll[g]) for g in gens}
        print(f"{cond:<15} mean AUC {np.mean(list(aucs.values())):.4f}  " + "  ".join(f"{g} {a:.4f}" for g, a in aucs.items())
              + f"  stylegan-vs-ffhq256 {auc(ll['real/ffhq-256-140k'], ll['stylegan']):.4f}")
        for g in ll:
            if g.startswith("real/"):
                print(f"{cond:<15} {g:<30} false alarms {np.mean(ll[g] < scorer.threshold_):.3f} (n={len(ll[g])})  "
                      + "  ".join(f"AUC vs {x} {auc(ll[g], ll[x]):.3f}" for x in gens))
        if args.save_scores:
            np.savez(out / f"dev_scores_{cond}.npz", **{g.replace('/', '__'): v for g, v in ll.items()})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("out")
    t.add_argument("--steps", type=int, default=3000)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--smooth", type=float, default=0.5)
    e = sub.add_parser("eval")
    e.add_argument("out")
    e.add_argument("--histories", type=int, default=2)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--save-scores", action="store_true")
    e.add_argument("--witness", default="trace", choices=("trace", "spectrum", "spectrum-color"))
    args = p.parse_args()
    import torch

    torch.set_num_threads(2)
    (cmd_train if args.cmd == "train" else cmd_eval)(args)


if __name__ == "__main__":
    sys.exit(main())

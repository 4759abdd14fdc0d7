"""Tournament of witnesses and fusions, side by side in one run on ../shared/data (the bundle's recipe, without saving one).

Every candidate witness's features are computed once on the training faces (each as it is and after
`--histories` random processing histories, as `facecheck train` does) and on dev (as distributed and
format-matched); each gets its mixture (chosen on "select"), and every witness alone and every fusion
is measured on dev: AUC raw and nuisance-controlled per generator, the StyleGAN vs FFHQ-256 pair, false
alarms at the 1% threshold per dev real source, and leave-one-real-source-out (the mixture and the
threshold refitted without one training source, false alarms on that source's faces).

    python benchmarks/tournament.py [--witnesses appearance,spectrum,cooc] [--cache /tmp/tournament] [--out report.json]

Features are cached under --cache (keyed by witness and data), so a rerun with one more candidate
only computes that one. Fakes are never fitted on: they only enter the AUCs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
PAIR = ("stylegan", "ffhq-256-140k")
from facecheck.scan.nuisance import STAT_NAMES as STATS  # noqa: E402

QUANT = STATS.index("jpeg_quant")  # the same-format pair: StyleGAN against the FFHQ photos of its own format


def candidates(cache: Path) -> dict:
    """name -> Witness of every candidate (the shipped appearance CNN is read from the shipped bundle; the
    surprise witness's coder from `fit_surprise.py`'s counts in `cache`, when they are there, and its other
    coders, tables and networks, from cache/coders)."""
    from facecheck.model.bundle import load_model
    from facecheck.model.witnesses.base import PatchSpec
    from facecheck.model.witnesses.cooc import CoocWitness
    from facecheck.model.witnesses.minmax import MinMaxWitness
    from facecheck.model.witnesses.npr import NprWitness
    from facecheck.model.witnesses.selfdesc import SelfDescWitness
    from facecheck.model.witnesses.spectrum import SpectrumWitness
    from facecheck.model.witnesses.surprise import SurpriseWitness

    shipped = {w.name: w for w in load_model(None).witnesses}
    counts = np.load(cache / "surprise_counts.npy") if (cache / "surprise_counts.npy").exists() else None
    return {
        "appearance": shipped["appearance"],
        "spectrum": SpectrumWitness(),
        "cooc": CoocWitness(),
        "spam": CoocWitness(blocks=("spam",)),
        "selfdesc": SelfDescWitness(),
        # The box enlarged 2x, as the crops the SPAM probe read whole (face and surroundings).
        "cooc_wide": CoocWitness(spec=PatchSpec(size=64, grid=3, scale=2.0)),
        # Up-sampling traces: 2 x 2 block residuals and period-4 differences split by phase (after NPR).
        "npr": NprWitness(blocks=("block2", "phase4", "energy")),
        # Rich-model min/max non-linear residuals of orders 1-3, 4-D / 3-D co-occurrences.
        "minmax": MinMaxWitness(),
        # Their blocks alone (features identical to the columns of the full witnesses').
        "npr_block2": NprWitness(blocks=("block2",)),
        "npr_phase": NprWitness(blocks=("phase4", "energy")),
        "minmax1": MinMaxWitness(orders=(1,)),
        "minmax23": MinMaxWitness(orders=(2, 3)),
        # Coding cost against expected cost under a context coder of real faces (after ZED); the same coder on a
        # 4 x 4 lattice of the face's patches (more pixels per face and context).
        **({"surprise": SurpriseWitness().fit(counts),
            "surprise_grid4": SurpriseWitness(spec=PatchSpec(size=64, grid=4, scale=1.0)).fit(counts)}
           if counts is not None else {}),
        # The same coder fitted on nothing (per context a Laplace law widening with the activity).
        "surprise_laplace": SurpriseWitness(),
        # Other coders `fit_surprise.py --name NAME` fitted (least-squares predictors, chroma planes).
        **{p.name.removesuffix(".coder.npz"): SurpriseWitness.load(p, json.loads(p.with_suffix("").with_suffix(".json").read_text()),
                                                                   name="surprise")
           for p in sorted((cache / "coders").glob("*.coder.npz"))},
        # Learned coders `fit_surprise.py --steps N --name NAME` trained (a causal CNN per pixel, coder.py).
        # (NAME.pt: as facecheck 0.8.2 saved them.)
        **{p.name.removesuffix(".weights.npz").removesuffix(".pt"): _coder(p)
           for p in sorted([*(cache / "coders").glob("*.weights.npz"), *(cache / "coders").glob("*.pt")])},
    }


def _coder(path: Path):
    from facecheck.model.witnesses.coder import CoderWitness

    config = path.with_name(path.name.removesuffix(".weights.npz").removesuffix(".pt") + ".json")
    return CoderWitness.load(path, json.loads(config.read_text()), name="coder")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def training_faces(data: Path, cache_dir: Path):
    """The pool of every training face (EXIF photos' and real_faces'), and each face's source name."""
    from facecheck.train.data import Pool
    from facecheck.train.pipeline import build_pools

    pools = []
    for folder, exif in ((data / "exif_photos", True), (data / "real_faces", False)):
        pool, _ = build_pools([folder], read_exif=exif, size=128, cache_dir=cache_dir, seed=0, n_jobs=2)
        pools.append(pool.subset(pool.is_face))
    faces = Pool.concat(pools)
    sources = np.array([Path(s).relative_to(data).parts[1] if Path(s).is_relative_to(data / "real_faces") else "exif_photos"
                        for s in faces.source])
    return faces, sources


class _Stats:
    """A pseudo-spec: the nuisance statistics of the (processed) photo and the face, as float64 bytes
    (the file's JPEG quantiser is unknown after a history, so it is left out)."""

    shape = (8 * (len(STATS) - 1),)

    def cut(self, image, box):
        from facecheck.scan.nuisance import image_stats

        return np.delete(image_stats(image, box, 0.0), QUANT).astype(np.float64).view(np.uint8)


class _Joint:
    """Several specs cut in one pass (each photo decoded once): their inputs raveled and concatenated."""

    def __init__(self, specs: list):
        self.specs = specs
        self.sizes = [int(np.prod(s.shape)) for s in specs]
        self.shape = (sum(self.sizes),)

    def cut(self, image, box):
        return np.concatenate([s.cut(image, box).ravel() for s in self.specs])

    def split(self, x: np.ndarray) -> list[np.ndarray]:
        edges = np.cumsum([0, *self.sizes])
        return [x[:, a:b].reshape(len(x), *s.shape) for s, a, b in zip(self.specs, edges[:-1], edges[1:])]


def _raw(cache: Path, spec, key: str) -> Path:
    """Where `features` keeps one spec's cut inputs (uint8) for one key ("train", "cond/group")."""
    from dataclasses import astuple

    return cache / "inputs" / f"{spec.type}-{'-'.join(f'{v:g}' for v in astuple(spec))}.{key.replace('/', '.')}.npy"


def features(witnesses: dict, faces, data: Path, cache: Path, histories: int) -> tuple[dict, dict, dict]:
    """({witness: training features}, {witness: {"cond/group": dev features}}, {"cond/group/stats"|"/source": ...}).

    Witnesses without a cache file are computed together (each photo decoded and each dev image
    detected once), then cached one file per witness. The cut inputs are kept too, one file per input
    spec under cache/inputs, so that a new witness reading an input already cut costs only its transform.
    """
    from facecheck.config import Config
    from facecheck.evaluate import largest_inputs, match_format
    from facecheck.scan.io import find_images
    from facecheck.train.data import witness_inputs

    dev = data / "dev"
    groups = {"real": dev / "real", **{p.name: p for p in sorted((dev / "fake").iterdir()) if p.is_dir()}}
    todo = {n: w for n, w in witnesses.items() if not (cache / f"{n}.npz").exists()}
    if todo:
        (cache / "inputs").mkdir(exist_ok=True)
        out: dict = {n: {} for n in todo}
        specs = list(dict.fromkeys(w.spec for w in todo.values()))  # witnesses with the same input share it
        parts = {s: np.load(_raw(cache, s, "train"), mmap_mode="r") for s in specs if _raw(cache, s, "train").exists()}
        if missing := [s for s in specs if s not in parts]:
            log(f"{', '.join(todo)}: cutting {len(faces)} training faces x {histories + 1}")
            joint = _Joint([*missing, _Stats()])
            *cut, stats = joint.split(witness_inputs(faces, joint, n_jobs=2, histories=histories, seed=0))
            np.save(cache / "train_stats.npy", np.ascontiguousarray(stats).view(np.float64))
            for s, x in zip(missing, cut):
                np.save(_raw(cache, s, "train"), x)
                parts[s] = np.load(_raw(cache, s, "train"), mmap_mode="r")
            del cut
        for n, w in todo.items():
            log(f"{n}: training features")
            out[n]["train"] = np.concatenate([w.transform(parts[w.spec][i:i + 4096]) for i in range(0, len(parts[w.spec]), 4096)])
        del parts
        for cond, transform in (("as_distributed", None), ("matched", match_format)):
            for g, folder in groups.items():
                key = f"{cond}/{g}"
                meta_file = cache / "inputs" / f"meta.{key.replace('/', '.')}.npz"
                if meta_file.exists() and all(_raw(cache, s, key).exists() for s in specs):
                    inputs = {s: np.load(_raw(cache, s, key)) for s in specs}
                    with np.load(meta_file, allow_pickle=False) as z:
                        stats, source = z["stats"], z["source"]
                else:
                    log(f"dev {key}")
                    files = find_images([folder], recursive=True)
                    got = largest_inputs(files, {str(i): s for i, s in enumerate(specs)}, transform=transform, config=Config())
                    keep = [i for i, (st, _, _) in enumerate(got) if st == "face"]
                    inputs = {s: np.stack([got[i][1][str(j)] for i in keep]) for j, s in enumerate(specs)}
                    stats = np.array([got[i][2] for i in keep])
                    source = np.array([Path(files[i]).relative_to(folder).parts[0] if g == "real" else g for i in keep])
                    for s, x in inputs.items():
                        np.save(_raw(cache, s, key), x)
                    np.savez(meta_file, stats=stats, source=source)
                for n, w in todo.items():
                    out[n][key] = w.transform(inputs[w.spec])
                    out[n][f"{key}/stats"], out[n][f"{key}/source"] = stats, source
        for n in todo:
            np.savez(cache / f"{n}.npz", **out[n])
        log("features cached")
    train_feats, dev_feats, meta = {}, {}, {}
    for n in witnesses:
        with np.load(cache / f"{n}.npz", allow_pickle=False) as z:
            train_feats[n] = z["train"]
            dev_feats[n] = {k: z[k] for k in z.files if k != "train" and not k.endswith(("/stats", "/source"))}
            meta = {k: z[k] for k in z.files if k.endswith(("/stats", "/source"))}
    return train_feats, dev_feats, meta


def _column_slice(item: str, cache: Path) -> tuple[str, str, int, int]:
    """Write cache/NAME.npz as columns START:STOP of cache/BASE.npz's features (stats and sources as they are)."""
    name, _, rest = item.partition("=")
    base, start, stop = rest.split(":")
    if not (cache / f"{name}.npz").exists():
        with np.load(cache / f"{base}.npz", allow_pickle=False) as z:
            np.savez(cache / f"{name}.npz", **{k: z[k] if k.endswith(("/stats", "/source")) else z[k][:, int(start):int(stop)]
                                               for k in z.files})
    return name, base, int(start), int(stop)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--witnesses", default="appearance,spectrum,cooc,spam")
    parser.add_argument("--fuse", default="appearance+spectrum,appearance+cooc,spectrum+cooc,appearance+spectrum+cooc",
                        help="witness sets to fuse, + inside a set, comma between sets")
    parser.add_argument("--conditional", default="cooc,spectrum",
                        help="witnesses to also score as log p(features, stats) - log p(stats) (named NAME|stats)")
    parser.add_argument("--markdown", action="store_true", help="also print the model card's table of candidates")
    parser.add_argument("--reuse", action="store_true", help="reuse the mixtures' log-likelihoods an earlier run cached")
    parser.add_argument("--rules", default="sum,stouffer,fisher,twosided,chi2", help="fusion rules to compare")
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--cache", default="/tmp/tournament")
    parser.add_argument("--histories", type=int, default=2)
    parser.add_argument("--columns-of", default="", help="candidates that are a slice of another's cached features, "
                        "NAME=BASE:START:STOP, comma between them (e.g. coder_scale1=coder:0:25)")
    parser.add_argument("--max-scale", type=float, default=None, help="fit and calibrate the mixtures only on training "
                        "faces whose random history resized by at most this factor (1: no up-sampled real face)")
    parser.add_argument("--loso", default="", help="witnesses or fused sets to also measure leaving one training source "
                        "out (their mixtures refitted once per source), comma-separated: a+b+~c:stouffer (~: two-sided; "
                        "default rule sum)")
    parser.add_argument("--loso-rows", type=int, default=None, help="fit each leave-one-out mixture on at most this many "
                        "training rows (default: all of them)")
    parser.add_argument("--out", default=None, help="write every number as JSON here")
    parser.add_argument("--scores", default=None, metavar="DIR", help="write every candidate's dev scores as DIR/scores.csv "
                        "(one column per candidate, with the nuisance statistics), for benchmarks/compare.py --bootstrap "
                        "--columns A,B DIR")
    args = parser.parse_args()

    from facecheck.evaluate import auc, controlled_aucs
    from facecheck.model.likelihood import FaceScorer
    from facecheck.train.calibrate import COMPONENTS, COVARIANCES, _choose_mixture

    data, cache = Path(args.data), Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    all_w = candidates(cache)
    for item in [i for i in args.columns_of.split(",") if i]:
        name, base, start, stop = _column_slice(item, cache)
        all_w[name] = all_w[base]  # its features are read from the cache, never computed
    names = [n.strip() for n in args.witnesses.split(",") if n.strip()]
    faces, sources = training_faces(data, Path.home() / ".cache" / "facecheck")
    log(f"{len(faces)} training faces from {len(set(sources))} sources")
    train_feats, dev_feats, meta = features({n: all_w[n] for n in names}, faces, data, cache, args.histories)
    k = args.histories + 1
    split, src = np.tile(faces.split, k), np.tile(sources, k)
    suffix = ""
    if args.max_scale is not None:
        keep = history_scales(faces, args.histories, seed=0).ravel() <= args.max_scale
        log(f"--max-scale {args.max_scale}: {keep.sum()} of {len(keep)} training rows kept")
        train_feats = {n: X[keep] for n, X in train_feats.items()}
        split, src, suffix = split[keep], src[keep], f".max{args.max_scale:g}"

    report: dict = {"witnesses": {}, "loso": {}}
    logliks: dict = {}  # name -> {"select", "calib", dev key}
    scorers = {}
    for name in names:
        X = train_feats[name]
        saved = cache / f"{name}.loglik{suffix}.npz"
        if args.reuse and saved.exists():  # the mixture chosen by an earlier run, and its log-likelihoods
            with np.load(saved, allow_pickle=False) as z:
                logliks[name] = {k: z[k] for k in z.files if k != "mixture"}
                k_, cov = str(z["mixture"]).split()
            scorers[name] = FaceScorer(int(k_), covariance_type=cov, n_dims=64)
            report["witnesses"][name] = {"mixture": f"{k_} {cov}"}
            continue
        best, cands = _choose_mixture(X[split == "train"], X[split == "select"], n_dims=64, components=COMPONENTS,
                                      covariances=COVARIANCES, seed=0)
        scorers[name] = best
        logliks[name] = {"select": best.score_samples(X[split == "select"]), "calib": best.score_samples(X[split == "calib"]),
                         **{key: best.score_samples(v) for key, v in dev_feats[name].items()}}
        np.savez(saved, mixture=np.array(f"{best.n_components} {best.covariance_type}"), **logliks[name])
        log(f"{name}: {best.n_components} {best.covariance_type}")
        report["witnesses"][name] = {"mixture": f"{best.n_components} {best.covariance_type}"}

    for name in [n for n in args.conditional.split(",") if n in names]:
        logliks[f"{name}|stats"] = conditional(train_feats[name], np.load(cache / "train_stats.npy"), split,
                                               dev_feats[name], meta, seed=0)
        log(f"{name}|stats done")
    names_all = list(logliks)
    train_stats = np.load(cache / "train_stats.npy")
    if args.max_scale is not None:
        train_stats = train_stats[keep]

    def fused_scores(parts: list[str], rule: str) -> dict:
        """{key: fused score} of a witness set under a fusion rule (statistics from "select", never from dev).

        `~name` reads a witness two-sided. "sum" and "stouffer" are the bundle's own fusion
        (likelihood.FusedScorer); "fisher", "twosided" and "chi2" are variants built on its fitted statistics; "resid" is Stouffer's
        rule on each witness's residual after a k-NN regression on the nuisance statistics among the training
        sources' held-out "select" faces (reals only: what an unusual size or sharpness alone predicts cancels).
        """
        from facecheck.model.likelihood import FusedScorer, _p_values

        base = [p.lstrip("~") for p in parts]
        tails = {p[1:]: "both" for p in parts if p.startswith("~")}
        keys = [key for key in logliks[base[0]] if key != "select"]

        def fitted(r: str) -> FusedScorer:
            f = FusedScorer({b: scorers[b] for b in base}, rule=r, tails=tails)
            return f.fit_fusion({b: logliks[b]["select"] for b in base})

        if rule in ("sum", "stouffer"):
            f = fitted(rule)
            return {key: f.fuse({b: logliks[b][key] for b in base}) for key in keys}
        if rule == "resid":  # Stouffer on each witness's score minus what the statistics predict among training reals
            from facecheck.model.likelihood import _normal_quantile
            from facecheck.scan.nuisance import controlled_scores

            f = fitted("stouffer")
            stats = {"select": train_stats[split == "select"], "calib": train_stats[split == "calib"],
                     **{key: np.delete(meta[f"{key}/stats"], QUANT, axis=1) for key in keys if key != "calib"}}
            out = {key: 0.0 for key in keys}
            for b in base:
                ref, other = controlled_scores(f._oriented(b, logliks[b]["select"]), stats["select"],
                                               np.concatenate([f._oriented(b, logliks[b][key]) for key in keys]),
                                               np.concatenate([stats[key] for key in keys]))
                ref, at = np.sort(ref), np.cumsum([0, *(len(logliks[b][key]) for key in keys)])
                for key, i, j in zip(keys, at[:-1], at[1:]):
                    out[key] = out[key] + _normal_quantile(_p_values(ref, other[i:j])) / np.sqrt(len(base))
            return out
        if rule == "fisher":  # -2 sum log p, p the empirical p-values Stouffer uses
            f = fitted("stouffer")
            return {key: 2 * sum(np.log(_p_values(f.reference_[b], f._oriented(b, logliks[b][key]))) for b in base)
                    for key in keys}
        f = fitted("sum")

        def z(b: str, ll: np.ndarray) -> np.ndarray:
            return (f._oriented(b, ll) - f.mean_[b]) / f.std_[b]

        if rule == "chi2":  # every witness two-sided
            return {key: -sum(z(b, logliks[b][key]) ** 2 for b in base) for key in keys}
        # "twosided": too typical is anomalous too: distance of the fused score from real faces' median
        zs = sum(z(b, logliks[b]["select"]) for b in base)
        return {key: -np.abs(sum(z(b, logliks[b][key]) for b in base) - np.median(zs)) / zs.std() for key in keys}

    def measure(scores: dict) -> dict:
        """Every dev number of one score (higher = more real): per condition raw/controlled AUC per generator, pair, false alarms."""
        res = {}
        thr = np.quantile(scores["calib"], 0.01)
        for cond in ("as_distributed", "matched"):
            groups = {key.split("/")[1]: (scores[key], meta[f"{key}/stats"]) for key in scores if key.startswith(cond + "/")}
            a = controlled_aucs(groups)
            real_src = meta[f"{cond}/real/source"]
            pair_real = real_src == PAIR[1]
            r = {"auc": {g: v["auc"] for g, v in a.items()}, "auc_controlled": {g: v["auc_controlled"] for g, v in a.items()},
                 "pair_auc": auc(scores[f"{cond}/real"][pair_real], scores[f"{cond}/{PAIR[0]}"]),
                 "fpr_by_source": {s: float(np.mean(scores[f"{cond}/real"][real_src == s] < thr)) for s in sorted(set(real_src))},
                 "tpr_at_thr": {g: float(np.mean(scores[f"{cond}/{g}"] < thr)) for g in a}}
            r["mean_auc"] = float(np.mean(list(r["auc"].values())))
            r["mean_auc_controlled"] = float(np.mean(list(r["auc_controlled"].values())))
            res[cond] = r
        return res

    scored = {name: logliks[name] for name in names_all}
    for combo in [c.split("+") for c in args.fuse.split(",") if c]:
        if all(p.lstrip("~") in names for p in combo):
            for rule in args.rules.split(","):
                scored[f"{'+'.join(combo)}:{rule}"] = fused_scores(combo, rule)
    rows = {name: measure(v) for name, v in scored.items()}
    if args.scores:
        write_scores(Path(args.scores), scored, meta)
    print_table(rows, report)
    if args.markdown:
        print_markdown(rows)
    sys.stdout.flush()
    if args.loso:
        for name in [n for n in args.loso.split(",") if n]:  # e.g. appearance+spectrum+~cooc:stouffer
            combo, _, rule = name.partition(":")
            parts = [p.lstrip("~") for p in combo.split("+")]
            report["loso"][name] = loso({p: train_feats[p] for p in parts}, split, src, {p: scorers[p] for p in parts},
                                        rule=rule or "sum", two_sided=[p[1:] for p in combo.split("+") if p.startswith("~")],
                                        rows=args.loso_rows)
            log(f"{name}: leave-one-source-out done")
            print(f"LOSO {name:<24} " + " ".join(f"{s}={v:.3f}" for s, v in report["loso"][name].items()), flush=True)
    report["rows"] = rows
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


def conditional(X: np.ndarray, S: np.ndarray, split: np.ndarray, dev: dict, meta: dict, *, seed: int = 0,
                n_dims: int = 32, k: int = 8) -> dict:
    """{"select", "calib", dev key: log p(z, s) - log p(s)}: a witness's likelihood given the nuisance statistics s.

    z: the features' whitened PCA (fitted on "train"); s: the statistics, standardised. An unusual size or
    sharpness alone then costs nothing; only features unusual for faces of those statistics do.
    """
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture

    train = split == "train"
    mu, sd = X[train].mean(0), X[train].std(0) + 1e-6
    pca = PCA(n_dims, whiten=True, random_state=seed).fit((X[train] - mu) / sd)
    smu, ssd = S[train].mean(0), S[train].std(0) + 1e-6

    def joint(x, st):
        return np.c_[pca.transform((x - mu) / sd), (st - smu) / ssd]

    both = GaussianMixture(k, covariance_type="full", reg_covar=1e-3, random_state=seed, max_iter=200).fit(joint(X[train], S[train]))
    alone = GaussianMixture(k, covariance_type="full", reg_covar=1e-3, random_state=seed, max_iter=200).fit((S[train] - smu) / ssd)

    def score(x, st):
        return both.score_samples(joint(x, st)) - alone.score_samples((st - smu) / ssd)

    out = {s: score(X[split == s], S[split == s]) for s in ("select", "calib")}
    for key, x in dev.items():
        out[key] = score(x, np.delete(meta[f"{key}/stats"], QUANT, axis=1))
    return out


def history_scales(faces, histories: int, *, seed: int = 0) -> np.ndarray:
    """(histories + 1, N): the resize factor of each training row's random history (1 for the faces as they are),
    the histories `train.data.witness_inputs` drew."""
    from facecheck.train.data import face_histories

    out = np.ones((histories + 1, len(faces)))
    rows: dict = {}
    for i, source in enumerate(faces.source):
        rows.setdefault(source, []).append(i)
    for path, idx in rows.items():
        drawn = face_histories(path, [tuple(int(v) for v in faces.boxes[i]) for i in idx], histories, seed)
        for h, history in enumerate(drawn):
            out[h + 1, idx] = history.scale
    return out


def loso(feats: dict, split: np.ndarray, src: np.ndarray, chosen: dict, *, rule: str = "sum", two_sided=(),
         rows: int | None = None) -> dict:
    """{source: false alarms on its faces at the 1% threshold of a (fused) model fitted and calibrated without it}.

    Each witness's mixture keeps its chosen size and covariance; the fusion is the bundle's
    (likelihood.FusedScorer with `rule` and the `two_sided` witnesses), its statistics from "select"
    and its threshold from "calib", both without the source. `rows`: fit each mixture on at most that
    many training rows (drawn at random; cheaper, and if anything more pessimistic than the full fit).
    """
    from facecheck.model.likelihood import FaceScorer, FusedScorer
    from facecheck.model.verdict import threshold_at

    out = {}
    for s in sorted(set(src)):
        keep = src != s
        fit = np.flatnonzero(keep & (split == "train"))
        if rows is not None and len(fit) > rows:
            fit = np.sort(np.random.default_rng(0).choice(fit, rows, replace=False))
        scorers = {name: FaceScorer(chosen[name].n_components, covariance_type=chosen[name].covariance_type,
                                    n_dims=chosen[name].n_dims, random_state=0).fit(X[fit])
                   for name, X in feats.items()}
        fused = FusedScorer(scorers, rule=rule, tails={n: "both" for n in two_sided})
        fused.fit_fusion(fused.witness_scores({n: X[keep & (split == "select")] for n, X in feats.items()}))
        thr = threshold_at(fused.score_samples({n: X[keep & (split == "calib")] for n, X in feats.items()}), 0.01)
        out[s] = float(np.mean(fused.score_samples({n: X[~keep] for n, X in feats.items()}) < thr))
    return out


def write_scores(folder: Path, scored: dict, meta: dict) -> None:
    """DIR/scores.csv in quality.py's report format (one row per dev face, one score column per candidate,
    stat_ columns), so `benchmarks/compare.py --bootstrap N --columns A,B DIR` compares candidates paired."""
    import csv

    folder.mkdir(parents=True, exist_ok=True)
    names = list(scored)
    keys = [k for k in scored[names[0]] if k.count("/") == 1 and k.split("/")[0] in ("as_distributed", "matched")]
    with open(folder / "scores.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["condition", "group", "path", "status", *names, *(f"stat_{s}" for s in STATS)])
        for key in keys:
            cond, group = key.split("/")
            stats = meta[f"{key}/stats"]
            for i in range(len(stats)):
                w.writerow([cond, group, f"{group}/{i}", "face", *(repr(float(scored[n][key][i])) for n in names),
                            *(repr(float(v)) for v in stats[i])])


def print_markdown(rows: dict) -> None:
    """One Markdown row per candidate: mean AUC raw / controlled (as distributed, matched), per generator matched, pair, worst source."""
    gens = sorted(next(iter(rows.values()))["matched"]["auc"])
    print("\n| candidate | as distributed: AUC / controlled | matched: AUC / controlled | "
          + " | ".join(f"{g} matched" for g in gens) + " | StyleGAN vs FFHQ-256, matched | most false alarms on a dev source, matched |")
    print("|---" * (5 + len(gens)) + "|")
    for name, r in rows.items():
        a, m = r["as_distributed"], r["matched"]
        cells = " | ".join(f"{m['auc'][g]:.3f} / {m['auc_controlled'][g]:.3f}" for g in gens)
        print(f"| {name} | {a['mean_auc']:.3f} / {a['mean_auc_controlled']:.3f} | {m['mean_auc']:.3f} / {m['mean_auc_controlled']:.3f} | "
              f"{cells} | {m['pair_auc']:.3f} | {100 * max(m['fpr_by_source'].values()):.1f}% |")


def print_table(rows: dict, report: dict) -> None:
    gens = sorted(next(iter(rows.values()))["matched"]["auc"])
    head = f"{'candidate':<34}{'cond':<6}" + "".join(f"{g[:8]:>9}{'ctl':>6}" for g in gens) + f"{'mean':>7}{'ctl':>6}{'pair':>6}{'maxFA':>7}"
    print(head)
    for name, r in rows.items():
        for cond in ("as_distributed", "matched"):
            m = r[cond]
            cells = "".join(f"{m['auc'][g]:>9.3f}{m['auc_controlled'][g]:>6.3f}" for g in gens)
            print(f"{name:<34}{cond[:5]:<6}{cells}{m['mean_auc']:>7.3f}{m['mean_auc_controlled']:>6.3f}{m['pair_auc']:>6.3f}"
                  f"{max(m['fpr_by_source'].values()):>7.3f}")


if __name__ == "__main__":
    sys.exit(main())

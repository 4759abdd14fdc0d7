"""Speed benchmark: end-to-end scan throughput, start-up time, peak memory, training throughput, and a
whole-process scan paired against its floor.

Prints figures; asserts nothing. Targets: >= 10 one-face 2-3 MP photos/s on 2 cores, whole process, at most
1.3x the floor (decoding and dlib HOG detection alone, in 2 processes); peak RSS <= 1.5 GiB; one photo
scanned in <= 1.5 s wall.

    python benchmarks/speed.py [--model DIR] [--repeat 3]
    python benchmarks/speed.py --floor [--rounds 3]     # only the paired whole-process comparison
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SIZES = {"0.3MP": (640, 480), "2MP": (1632, 1224), "12MP": (4000, 3000)}
FACES = (0, 1, 5)


def make_photos(folder: Path, n_per_case: int = 24) -> dict[str, list[Path]]:
    """Synthetic photos: a textured background with 0, 1 or 5 pasted copies of the example face."""
    face = Image.open(REPO / "examples" / "astronaut.jpg").crop((140, 30, 310, 220))
    rng = np.random.default_rng(0)
    cases: dict[str, list[Path]] = {}
    for size_name, (w, h) in SIZES.items():
        for n_faces in FACES:
            key = f"{size_name}/{n_faces}face"
            cases[key] = []
            for i in range(n_per_case):
                grad = np.linspace(60, 190, w, dtype=np.float32)[None, :, None] * np.ones((h, 1, 3), np.float32)
                bg = np.clip(grad + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
                img = Image.fromarray(bg)
                side = max(120, min(w, h) // 4)
                for k in range(n_faces):
                    f = face.resize((side, int(side * 190 / 170)))
                    x = int((k % 3) * (w - side) / 2.2 + rng.integers(0, max(1, side // 8)))
                    y = int((k // 3) * (h - side) / 1.6 + rng.integers(0, max(1, side // 8)))
                    img.paste(f, (min(x, w - side), min(y, h - f.height)))
                path = folder / f"{size_name}_{n_faces}_{i}.jpg"
                img.save(path, quality=90)
                cases[key].append(path)
    return cases


def bench_scan(cases: dict[str, list[Path]], model, repeat: int) -> None:
    from facecheck import scan_paths

    print(f"{'case':<14}{'photos/s':>10}{'faces/s':>10}{'faces found':>13}")
    for key, files in cases.items():
        best, faces = 0.0, 0
        for _ in range(repeat):
            t0 = time.perf_counter()
            results = list(scan_paths(files, model))
            dt = time.perf_counter() - t0
            faces = sum(len(r.faces) for r in results)
            best = max(best, len(files) / dt)
        print(f"{key:<14}{best:>10.1f}{best * faces / len(files):>10.1f}{faces:>13}")


def bench_startup(photo: Path, model_dir: str | None) -> None:
    cmd = [sys.executable, "-c", "from facecheck.cli import run; run()", "scan", str(photo), "--csv", "-q"]
    if model_dir:
        cmd += ["--model", model_dir]
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        proc.stdout.readline()  # header
        proc.stdout.readline()  # first result row
        times.append(time.perf_counter() - t0)
        proc.communicate()
    print(f"start-up to first result (one 2 MP photo, new process): best {min(times):.2f} s, median {np.median(times):.2f} s")


def bench_rss(folder: Path, model_dir: str | None) -> None:
    cmd = [sys.executable, "-c", "from facecheck.cli import run; run()", "scan", str(folder), "--csv", "-q"]
    if model_dir:
        cmd += ["--model", model_dir]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"peak RSS scanning all {len(list(folder.iterdir()))} benchmark photos (incl. 12 MP): {max(peak, before) / 1024:.0f} MB")


def bench_training(model_dir: str | None) -> None:
    from facecheck.train.loop import Trainer, TrainSettings

    with tempfile.TemporaryDirectory() as work:
        trainer = Trainer(TrainSettings(), Path(work))
        rng = np.random.default_rng(0)
        n = trainer.s.batch_size
        size = trainer.s.input_size
        images = rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8)
        exif = rng.normal(size=(n, 4)).astype(np.float32)
        exif[n // 2 :] = np.nan
        labels = np.r_[-np.ones(n // 2), rng.integers(0, 2, n - n // 2)].astype(np.float32)
        trainer._step(images, exif, labels, 1e-3)
        best = 0.0
        for _ in range(5):
            t0 = time.perf_counter()
            trainer._step(images, exif, labels, 1e-3)
            best = max(best, n / (time.perf_counter() - t0))
    print(f"training step (batch {n}, {size} px, AdamW): {best:.1f} samples/s")


_FLOOR = """
import sys
from multiprocessing import Pool

from facecheck.config import Config
from facecheck.scan.detect import _hog
from facecheck.scan.io import load_image


def work(path):
    c = Config()
    return len(_hog(load_image(path), max_side=c.detect_max_side, upsample=c.upsample, min_face=c.min_face))


if __name__ == "__main__":
    with Pool(2) as pool:
        print(sum(pool.map(work, sys.argv[1:], chunksize=2)))
"""


def _timed(cmd: list[str], env: dict | None = None, cwd: str | None = None) -> tuple[float, float, float]:
    """(wall s, CPU s of the process and its children, peak RSS MiB of the largest child) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env, cwd=cwd)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss / 1024


def bench_floor(folder: Path, model_dir: str | None, rounds: int, baseline: str | None = None) -> None:
    """40 one-face photos of 2.6 MP: `facecheck scan DIR --csv` against decoding + HOG detection alone,
    in paired rounds (floor, scan, one photo) so that a busy machine slows both alike; with `baseline` (a
    facecheck checkout), its scans too, in the same rounds (imported through PYTHONPATH)."""
    photos = _one_face_photos(folder, 40, (1872, 1404))
    scan = [sys.executable, "-c", "from facecheck.cli import run; run()", "scan", str(folder), "--csv", "-q"]
    one = [sys.executable, "-c", "from facecheck.cli import run; run()", "scan", str(photos[0]), "--csv", "-q"]
    if model_dir:
        scan, one = scan + ["--model", model_dir], one + ["--model", model_dir]
    floor = [sys.executable, "-c", _FLOOR, *map(str, photos)]
    rows, old = [], []
    old_env = None if baseline is None else {**os.environ, "PYTHONPATH": str(Path(baseline).resolve())}
    for _ in range(rounds):
        rows.append((_timed(floor), _timed(scan), _timed(one)))
        if old_env is not None:
            old.append((_timed(scan, old_env, baseline), _timed(one, old_env, baseline)))
    f_wall, s_wall, o_wall = (np.median([r[i][0] for r in rows]) for i in range(3))
    f_cpu, s_cpu = (np.median([r[i][1] for r in rows]) for i in range(2))
    ratios = [r[1][0] / r[0][0] for r in rows]
    print(f"whole process, {len(photos)} one-face photos of 2.6 MP, {rounds} paired rounds (medians):")
    print(f"  floor (decode + HOG, 2 processes) {f_wall:.2f} s wall, {f_cpu:.2f} s CPU")
    print(f"  facecheck scan DIR --csv          {s_wall:.2f} s wall, {s_cpu:.2f} s CPU; {len(photos) / s_wall:.1f} photos/s; "
          f"peak RSS {max(r[1][2] for r in rows):.0f} MiB")
    print(f"  floor ratio {s_wall / f_wall:.2f}x wall (rounds {min(ratios):.2f}-{max(ratios):.2f}), {s_cpu / f_cpu:.2f}x CPU")
    print(f"  one photo (scan PHOTO --csv): {o_wall:.2f} s wall (rounds {min(r[2][0] for r in rows):.2f}-"
          f"{max(r[2][0] for r in rows):.2f})")
    if old:
        b_wall, b_cpu, b_one = (np.median([r[0][0] for r in old]), np.median([r[0][1] for r in old]),
                                np.median([r[1][0] for r in old]))
        print(f"  baseline {baseline}: scan DIR {b_wall:.2f} s wall, {b_cpu:.2f} s CPU, {len(photos) / b_wall:.1f} photos/s, "
              f"floor ratio {b_wall / f_wall:.2f}x; one photo {b_one:.2f} s")


def _one_face_photos(folder: Path, n: int, size: tuple[int, int]) -> list[Path]:
    """`n` photos of `size`: a textured background and one pasted copy of the example face."""
    face = Image.open(REPO / "examples" / "astronaut.jpg").crop((140, 30, 310, 220))
    rng = np.random.default_rng(1)
    w, h = size
    out = []
    for i in range(n):
        grad = np.linspace(60, 190, w, dtype=np.float32)[None, :, None] * np.ones((h, 1, 3), np.float32)
        img = Image.fromarray(np.clip(grad + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8))
        side = min(w, h) // 3
        f = face.resize((side, int(side * 190 / 170)))
        img.paste(f, (int(rng.integers(0, w - side)), int(rng.integers(0, h - f.height))))
        out.append(folder / f"face_{i:02d}.jpg")
        img.save(out[-1], quality=90)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="bundle folder (default: the shipped model)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--floor", action="store_true", help="only the whole-process scan against its floor")
    parser.add_argument("--rounds", type=int, default=3, help="paired rounds of --floor")
    parser.add_argument("--baseline", default=None, help="with --floor: a facecheck checkout to time in the same rounds")
    args = parser.parse_args()
    if args.floor:
        with tempfile.TemporaryDirectory() as tmp:
            bench_floor(Path(tmp), args.model, args.rounds, args.baseline)
        return
    import torch

    from facecheck.model.bundle import load_model

    model = load_model(args.model)
    print(f"facecheck speed benchmark: torch {torch.__version__}, {torch.get_num_threads()} threads, model {model.path}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases = make_photos(folder)
        bench_scan(cases, model, args.repeat)
        bench_startup(cases["2MP/1face"][0], args.model)
        bench_rss(folder, args.model)
    with tempfile.TemporaryDirectory() as tmp:
        bench_floor(Path(tmp), args.model, args.rounds)
    bench_training(args.model)


if __name__ == "__main__":
    main()

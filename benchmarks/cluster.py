"""Cluster benchmark: photos/s of `facecheck scan` locally and with `--dask local:N`, and the cluster path's overhead.

Each run is a whole `facecheck scan PHOTOS --jsonl OUT -q` process. Two rates are printed: over the whole
process (start-up, model and cluster start included) and while rows stream (from the first row written to
the last, measured by watching the JSONL grow). Prints figures; asserts nothing.

    python benchmarks/cluster.py [--data ../shared/data/dev] [--n 60] [--workers 1,2,4] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def pick_photos(data: Path, n: int) -> list[Path]:
    """`n` photos taken in turn from each source folder of dev/ (real and fake), sorted within each."""
    sources = sorted(p for kind in ("real", "fake") for p in (data / kind).iterdir() if p.is_dir())
    lists = [sorted(f for f in s.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png")) for s in sources]
    out = []
    for i in range(max(map(len, lists))):
        out += [files[i] for files in lists if i < len(files)]
    return out[:n]


def run_scan(photos: list[Path], extra: list[str], model: str | None) -> tuple[float, float]:
    """(whole-process seconds, photos/s from the first rows written to the end) of one scan."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.jsonl"
        cmd = [str(Path(sys.executable).parent / "facecheck"), "scan", *map(str, photos), "--jsonl", str(out), "-q", *extra]
        if model:
            cmd += ["--model", model]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        first, done = None, 0
        while proc.poll() is None:
            if first is None and out.exists():
                complete = out.read_bytes().split(b"\n")[1:-1]  # after the header, before a torn last line
                done = len({json.loads(line)["source_file"] for line in complete[:-1]})  # last file: maybe partial
                first = time.perf_counter() if done else None
            time.sleep(0.01)
        end = time.perf_counter()
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"facecheck scan {' '.join(extra)} exited {proc.returncode}")
        return end - t0, (len(photos) - done) / (end - first) if first else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "dev")
    parser.add_argument("--n", type=int, default=60, help="photos per run")
    parser.add_argument("--workers", default="1,2,4", help="LocalCluster sizes to time")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    photos = pick_photos(args.data, args.n)
    cases = [("local -j 2", [])] + [(f"--dask local:{n}", ["--dask", f"local:{n}"]) for n in args.workers.split(",")]
    print(f"{len(photos)} photos from {args.data}; median of {args.repeat} runs")
    print(f"{'engine':<18}{'wall s':>8}{'photos/s':>10}{'streaming photos/s':>20}")
    base = None
    for name, extra in cases:
        runs = [run_scan(photos, extra, args.model) for _ in range(args.repeat)]
        wall = statistics.median(r[0] for r in runs)
        rate, srate = len(photos) / wall, statistics.median(r[1] for r in runs)
        base = base or (rate, srate)
        print(f"{name:<18}{wall:>8.1f}{rate:>10.2f}{srate:>20.2f}   overhead x{base[0] / rate:.2f} (whole), "
              f"x{base[1] / srate:.2f} (streaming)")


if __name__ == "__main__":
    main()

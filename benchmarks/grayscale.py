"""Grayscale as an attack: the same dev faces scored in colour and converted to gray (R = G = B).

Prints, per folder, the median p_real and the shares with p_real above 0.20 (what the default band would
call real) and at most 0.01, in colour and in gray; then the verdicts of the gray faces, which facecheck
never calls real (a face without colour is at most uncertain).

    python benchmarks/grayscale.py [--model DIR] [--n 60]
"""

from __future__ import annotations

import argparse
import glob
from collections import Counter
from pathlib import Path

import numpy as np

from facecheck.api import scan_image
from facecheck.config import Config
from facecheck.model.bundle import load_model
from facecheck.scan.io import load_image

DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "dev"


def gray(image: np.ndarray) -> np.ndarray:
    luma = (image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).round().astype(np.uint8)
    return np.repeat(luma[..., None], 3, axis=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--n", type=int, default=60, help="images per folder (the first N by name)")
    args = parser.parse_args()
    model, config = load_model(args.model), Config(n_jobs=1)
    print("| folder | version | faces | median p_real | p_real > 0.20 | p_real <= 0.01 | verdicts |")
    print("|---|---|---:|---:|---:|---:|---|")
    for folder in ("fake/sd21", "fake/stylegan", "real/lfw"):
        files = sorted(glob.glob(str(DEV / folder / "*.jpg")))[: args.n]
        for version, convert in (("colour", lambda im: im), ("gray", gray)):
            p, verdicts = [], Counter()
            for f in files:
                result = scan_image(convert(load_image(f)), model, config=config)
                if result.faces:
                    p.append(result.faces[0].p_real)
                    verdicts[result.faces[0].verdict] += 1
            p = np.array(p)
            print(f"| {folder} | {version} | {len(p)} | {np.median(p):.3f} | {100 * np.mean(p > 0.2):.1f}% | "
                  f"{100 * np.mean(p <= 0.01):.1f}% | {dict(verdicts)} |")


if __name__ == "__main__":
    main()

"""Face detection on dev: what the padded retry recovers and what CNN verification removes.

For every image (as distributed) it runs dlib's HOG detector as a scan does, then, where nothing is
found, the retry inside a border; and dlib's CNN verification on every detection. Each image's largest
detection is taken as its face (dev images show one face each); further detections are the false faces
and background faces the verification should sort out. Prints, per folder: images, faces found, found
by the retry, largest detections the verification would drop (faces lost), other detections it drops,
at several HOG-confidence gates; and the verification's time per face. Saves crops of every dropped
detection as a contact sheet, to look at.

    python benchmarks/detection.py [--data ../shared/data/dev] [--extra examples] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from facecheck.scan import detect
from facecheck.scan.io import find_images, load_image

GATES = (None, 0.25, 0.5, 0.75, 1.0, float("inf"))  # verify detections with HOG confidence below the gate


def _detections(image: np.ndarray) -> tuple[list[detect.Face], bool]:
    """The scan's HOG detections: as they are, else with the padded retry (and whether it was needed)."""
    faces = detect._hog(image, max_side=1024, upsample=None, min_face=40)
    if faces:
        return faces, False
    return detect._hog(image, max_side=1024, upsample=None, min_face=40, pad=True), True


def _found_with_black_border(image: np.ndarray) -> int:
    """Detections in the image framed by a black border instead (a comparison; counts only)."""
    p = max(1, round(detect.PAD_FRACTION * max(image.shape[:2])))
    padded = cv2.copyMakeBorder(image, p, p, p, p, cv2.BORDER_CONSTANT)
    return len(detect._hog(padded, max_side=1024, upsample=None, min_face=40))


def measure(folders: dict[str, list[Path]]) -> list[dict]:
    """One record per image: its detections (box, HOG confidence, CNN confidence or None), retry flags."""
    records = []
    for group, files in folders.items():
        for path in files:
            image = load_image(path)
            faces, retried = _detections(image)
            found_const = _found_with_black_border(image) if retried else None
            dets = []
            for f in sorted(faces, key=lambda f: -(f.box[2] - f.box[0]) * (f.box[1] - f.box[3])):
                t0 = time.perf_counter()
                cnn = detect.verify_face(image, f)
                dets.append({"box": f.box, "hog": f.confidence, "cnn": cnn, "seconds": time.perf_counter() - t0})
            records.append({"group": group, "file": str(path), "retried": retried, "found_black_border": found_const,
                            "detections": dets})
    return records


def summarise(records: list[dict]) -> None:
    groups = sorted({r["group"] for r in records})
    print("| folder | images | found | by the retry (replicate / black border) | other detections |")
    print("|---|---:|---:|---|---:|")
    for g in groups:
        rs = [r for r in records if r["group"] == g]
        found = sum(bool(r["detections"]) for r in rs)
        retried = [r for r in rs if r["retried"]]
        by_retry = sum(bool(r["detections"]) for r in retried)
        black = sum(bool(r["found_black_border"]) for r in retried)
        others = sum(max(len(r["detections"]) - 1, 0) for r in rs)
        print(f"| {g} | {len(rs)} | {found} | {by_retry} / {black} of {len(retried)} | {others} |")
    print()
    print("Verification: detections below the HOG gate are checked by the CNN; dropped = not confirmed.")
    print("| gate | largest dropped (real) | largest dropped (fake) | other dropped | other kept | CNN runs per image |")
    print("|---|---:|---:|---:|---:|---:|")
    for gate in GATES:
        lost_real = lost_fake = other_drop = other_keep = runs = 0
        for r in records:
            for i, d in enumerate(r["detections"]):
                checked = gate is not None and d["hog"] < gate
                runs += checked
                dropped = checked and d["cnn"] is None
                if i == 0:
                    if r["group"].startswith("real") or r["group"].startswith("examples"):
                        lost_real += dropped
                    else:
                        lost_fake += dropped
                else:
                    other_drop += dropped
                    other_keep += not dropped
        print(f"| {gate} | {lost_real} | {lost_fake} | {other_drop} | {other_keep} | {runs / len(records):.3f} |")
    secs = [d["seconds"] for r in records for d in r["detections"]]
    print(f"\nCNN verification: median {np.median(secs) * 1000:.0f} ms per detection (one core), {len(secs)} detections")


def contact_sheet(records: list[dict], out: Path, side: int = 96) -> Path | None:
    """Crops of every detection the CNN does not confirm, in rows of 10, with its HOG confidence."""
    tiles = []
    for r in records:
        for i, d in enumerate(r["detections"]):
            if d["cnn"] is None:
                image = load_image(r["file"])
                t, rt, b, lf = d["box"]
                tile = cv2.resize(np.ascontiguousarray(image[t:b, lf:rt]), (side, side))
                tile = cv2.putText(tile.copy(), f"{'L' if i == 0 else 'o'}{d['hog']:.2f}", (2, 12),
                                   cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1)
                tiles.append(tile)
    if not tiles:
        return None
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % 10)
    sheet = np.vstack([np.hstack(tiles[i:i + 10]) for i in range(0, len(tiles), 10)])
    path = out / "dropped.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/dev")
    parser.add_argument("--extra", type=Path, default=Path(__file__).resolve().parents[1] / "examples")
    parser.add_argument("--out", type=Path, default=None, help="Folder for records.json and dropped.jpg.")
    parser.add_argument("--records", type=Path, default=None, help="Summarise saved records instead of measuring.")
    args = parser.parse_args()
    if args.records:
        records = json.loads(args.records.read_text())
    else:
        folders = {f"{kind}/{d.name}": find_images([d]) for kind in ("real", "fake")
                   for d in sorted((args.data / kind).iterdir()) if d.is_dir()}
        if args.extra and args.extra.is_dir():
            folders["examples"] = find_images([args.extra], extensions=["jpg"])  # the photos, not report.png
        records = measure(folders)
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "records.json").write_text(json.dumps(records))
    summarise(records)
    if args.out:
        sheet = contact_sheet(records, args.out)
        if sheet:
            print(f"dropped detections: {sheet}")


if __name__ == "__main__":
    main()

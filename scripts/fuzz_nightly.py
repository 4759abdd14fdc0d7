"""Nightly fuzz run: 10,000+ hostile inputs through `facecheck scan`, with the figures RELIABILITY.md records.

Writes the corpus of tests/hostile.py (every category, plus images that decode to nearly the 120 Mpx
limit) and a folder of many tiny files, scans each with `facecheck scan -r --csv FILE --model DIR` in a
subprocess, and checks: no crash (exit 0 or 1 only, no `internal error`, no `unexpected failure` row),
exactly one row per faceless or broken input and none lost, the expected verdicts (an unreadable file an
`error` row, a valid one never), nothing written among the inputs, and the peak RSS of every run (and of
every near-limit image on its own) under 2 GB. Exit status 0 when every check holds, else 1.

    python scripts/fuzz_nightly.py [--cases 10000] [--tiny 10000] [--seed 0] [--model DIR] [--work DIR]
                                   [--keep] [--json FILE]

Without --model it builds the tiny test bundle through the real code path (tests/conftest.py).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from hostile import load_manifest, unlock  # noqa: E402

RSS_LIMIT_MB = 2048


def _facecheck() -> list[str]:
    exe = shutil.which("facecheck", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-c", "from facecheck.cli import run; run()"]


def _child(code: str) -> None:
    subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(REPO / 'tests')!r}); "
                    f"from pathlib import Path; {code}"], check=True)


def run_scan(args: list[str], stderr_file: Path, timeout: float) -> dict:
    """Run `facecheck scan ARGS`; its exit status, wall time and its own peak RSS (os.wait4)."""
    start = time.monotonic()
    with open(stderr_file, "wb") as err:
        proc = subprocess.Popen(_facecheck() + ["scan", *args], stdout=subprocess.DEVNULL, stderr=err)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"exit": proc.returncode, "seconds": round(time.monotonic() - start, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024)}  # ru_maxrss is in kB on Linux


def snapshot(folder: Path) -> str:
    """A digest of every entry under `folder` (links not followed): names, types, modes, mtimes, bytes."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(os.fsencode(folder)):
        dirnames.sort()
        for path in [dirpath] + [os.path.join(dirpath, n) for n in sorted(dirnames + filenames)]:
            st = os.lstat(path)
            digest.update(path + b"%d %d %d" % (st.st_mode, st.st_mtime_ns, st.st_size))
            if stat.S_ISLNK(st.st_mode):
                digest.update(os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                try:
                    with open(path, "rb") as f:
                        digest.update(f.read())
                except PermissionError:
                    pass
    return digest.hexdigest()


def read_rows(path: Path) -> dict[str, list[dict]]:
    by_file: dict[str, list[dict]] = {}
    if not path.is_file():
        return by_file
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
        for row in csv.DictReader(f):
            by_file.setdefault(row["source_file"], []).append(row)
    return by_file


def check(by_file: dict[str, list[dict]], expected: dict[str, tuple[str, str, str]]) -> dict:
    """Compare rows with the inputs: lost, extra, duplicated rows, crashes in disguise, wrong verdicts."""
    out = Counter()
    per_category: dict[str, Counter] = {}
    problems = []
    for path, (category, variant, expect) in expected.items():
        rows = by_file.get(path, [])
        c = per_category.setdefault(category, Counter())
        c["cases"] += 1
        if not rows:
            out["lost"] += 1
            problems.append(f"lost: {path!r} ({variant})")
            continue
        verdicts = [r["verdict"] for r in rows]
        c[verdicts[0] if verdicts[0] in ("error", "no_face") else "faces"] += 1
        if verdicts[0] in ("error", "no_face") and len(rows) != 1:
            out["duplicated"] += 1
            problems.append(f"{len(rows)} rows: {path!r}")
        if any("unexpected failure" in r["error"] for r in rows):
            out["crashes"] += 1
            c["crashes"] += 1
            problems.append(f"crash: {rows[0]['error']}")
        if expect == "error" and verdicts != ["error"]:
            out["wrong"] += 1
            problems.append(f"should be an error: {path!r} ({variant}) -> {verdicts}")
        if expect == "ok" and "error" in verdicts:
            out["wrong"] += 1
            problems.append(f"readable image lost: {path!r} ({variant}): {rows[0]['error']}")
    out["extra"] = len(set(by_file) - set(expected))
    problems += [f"row for something not an input: {p!r}" for p in sorted(set(by_file) - set(expected))[:20]]
    out["error_rows"] = sum(1 for rows in by_file.values() if rows[0]["verdict"] == "error")
    return {"totals": dict(out), "per_category": {k: dict(v) for k, v in sorted(per_category.items())},
            "problems": problems}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="hostile files in the mixed corpus")
    parser.add_argument("--tiny", type=int, default=10_000, help="files in the folder of tiny images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", type=Path, help="model bundle (default: build the tiny test bundle)")
    parser.add_argument("--work", type=Path, help="folder for the corpus and outputs (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per scan before it counts as hung")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="facecheck-fuzz-"))
    work.mkdir(parents=True, exist_ok=True)
    out = work / "out"
    out.mkdir(exist_ok=True)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    t0 = time.monotonic()
    try:
        # Built in child processes: a child's ru_maxrss starts from its parent's peak at the time of the
        # fork, so this process must stay small for the scans' figures to be their own.
        model = args.model
        if model is None:
            model = work / "model"
            if not model.exists():
                _child(f"from conftest import build_tiny_bundle; build_tiny_bundle(Path({str(model)!r}))")
        corpus, tiny = work / "corpus", work / "tiny"
        if not corpus.exists():
            log(f"writing {args.cases} hostile files (and near-limit images) to {corpus}")
            _child(f"from hostile import make_corpus; "
                   f"make_corpus(Path({str(corpus)!r}), {args.cases}, {args.seed}, big=True)")
        if not tiny.exists():
            log(f"writing {args.tiny} tiny files to {tiny}")
            _child(f"from hostile import make_tiny_folder; "
                   f"make_tiny_folder(Path({str(tiny)!r}), {args.tiny}, {args.seed})")
        generate_s = round(time.monotonic() - t0, 1)
        entries = load_manifest(corpus)
        expected = {os.path.join(str(corpus), e.name): (e.category, e.variant, e.expect) for e in entries if e.is_input}
        tiny_expected = {str(p): ("tiny_files", "tiny image", "ok") for p in sorted(tiny.iterdir())}
        before = {corpus: snapshot(corpus), tiny: snapshot(tiny)}

        runs = {}
        log("scanning the corpus")
        runs["corpus"] = run_scan([str(corpus), "-r", "--csv", str(out / "corpus.csv"), "--model", str(model), "-q"],
                                  out / "corpus.stderr", args.timeout)
        log("scanning the folder of tiny files")
        runs["tiny"] = run_scan([str(tiny), "--csv", str(out / "tiny.csv"), "--model", str(model), "-q"],
                                out / "tiny.stderr", args.timeout)
        big = sorted((corpus / "big").iterdir())
        per_big = {}
        for path in big:
            log(f"scanning {path.name} alone")
            per_big[path.name] = run_scan([str(path), "--csv", str(out / "big.csv"), "--model", str(model), "-q"],
                                          out / "big.stderr", args.timeout)
            per_big[path.name]["variant"] = next(v[1] for k, v in expected.items() if k == str(path))

        results = check(read_rows(out / "corpus.csv"), expected)
        tiny_results = check(read_rows(out / "tiny.csv"), tiny_expected)
        internal = sum("internal error" in (out / f"{k}.stderr").read_text(errors="replace")
                       for k in ("corpus", "tiny"))
        crashed_runs = [k for k, r in runs.items() if r["exit"] not in (0, 1)] + [
            k for k, r in per_big.items() if r["exit"] not in (0, 1)]
        unchanged = all(snapshot(folder) == digest for folder, digest in before.items())
        leftovers = sorted(p.name for p in out.iterdir() if p.name.endswith(".part"))
        peak = max([r["peak_rss_mb"] for r in runs.values()] + [r["peak_rss_mb"] for r in per_big.values()])
        figures = {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, "scripts/fuzz_nightly.py", *sys.argv[1:]]),
            "cases": len(expected) + len(tiny_expected),
            "corpus_cases": len(expected), "tiny_cases": len(tiny_expected),
            "traps_not_inputs": sum(not e.is_input for e in entries),
            "crashes": results["totals"].get("crashes", 0) + internal + len(crashed_runs),
            "rows_lost": results["totals"].get("lost", 0) + tiny_results["totals"].get("lost", 0),
            "extra_or_duplicated_rows": sum(r["totals"].get(k, 0) for r in (results, tiny_results)
                                            for k in ("extra", "duplicated")),
            "wrong_verdicts": results["totals"].get("wrong", 0) + tiny_results["totals"].get("wrong", 0),
            "error_rows": results["totals"].get("error_rows", 0) + tiny_results["totals"].get("error_rows", 0),
            "inputs_unchanged": unchanged, "partial_outputs_left": leftovers,
            "peak_rss_mb": peak, "generate_s": generate_s,
            "runs": runs, "near_limit_images": per_big,
            "per_category": {**results["per_category"], **tiny_results["per_category"]},
            "problems": (results["problems"] + tiny_results["problems"])[:50],
        }
        ok = (figures["crashes"] == 0 and figures["rows_lost"] == 0 and figures["extra_or_duplicated_rows"] == 0
              and figures["wrong_verdicts"] == 0 and unchanged and not leftovers and peak < RSS_LIMIT_MB
              and runs["corpus"]["exit"] == 1 and runs["tiny"]["exit"] == 0)
        figures["passed"] = ok
        report(figures)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        return 0 if ok else 1
    finally:
        if not args.keep and args.work is None:
            unlock(work / "corpus")
            shutil.rmtree(work, ignore_errors=True)


def report(f: dict) -> None:
    print(f"facecheck fuzz run, {f['date']}: {'PASSED' if f['passed'] else 'FAILED'}")
    print(f"cases: {f['cases']} ({f['corpus_cases']} hostile files, {f['tiny_cases']} tiny files; "
          f"plus {f['traps_not_inputs']} non-file traps)")
    print(f"crashes: {f['crashes']}   rows lost: {f['rows_lost']}   extra/duplicated rows: "
          f"{f['extra_or_duplicated_rows']}   wrong verdicts: {f['wrong_verdicts']}   error rows: {f['error_rows']}")
    print(f"inputs unchanged: {f['inputs_unchanged']}   partial outputs left: {f['partial_outputs_left'] or 'none'}")
    print(f"peak RSS: {f['peak_rss_mb']} MB (limit {RSS_LIMIT_MB} MB)   generation: {f['generate_s']} s")
    for name, r in f["runs"].items():
        print(f"  run {name}: exit {r['exit']}, {r['seconds']} s, peak RSS {r['peak_rss_mb']} MB")
    for name, r in f["near_limit_images"].items():
        print(f"  alone {name} ({r['variant']}): exit {r['exit']}, {r['seconds']} s, peak RSS {r['peak_rss_mb']} MB")
    print("per category: cases / error / no_face / faces / crashes")
    for cat, c in f["per_category"].items():
        print(f"  {cat:16s} {c.get('cases', 0):6d} {c.get('error', 0):6d} {c.get('no_face', 0):6d} "
              f"{c.get('faces', 0):6d} {c.get('crashes', 0):6d}")
    for p in f["problems"]:
        print(f"  problem: {p}")


if __name__ == "__main__":
    sys.exit(main())

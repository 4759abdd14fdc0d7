"""Hostile inputs: no crash, exactly one row per input file, nothing written beside the inputs, safe CSV.

CI-sized (a few hundred generated cases, hypothesis with fixed seeds); scripts/fuzz_nightly.py runs the
same corpus generator (tests/hostile.py) at >= 10,000 inputs and measures peak memory.
"""

from __future__ import annotations

import csv
import io
import json
import os
import resource
import stat
import threading
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from hostile import CATEGORIES, JUMBF, REMOTE_URL, make_corpus, network_canary, png_header, tiff_ifds, unlock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from facecheck.api import scan_image, scan_paths
from facecheck.cli import app
from facecheck.config import Config
from facecheck.errors import ImageReadError
from facecheck.output.report import COLUMNS, format_csv
from facecheck.scan import io as fio
from facecheck.scan.exif import PLAUSIBLE_RANGES, read_exposure_tags
from facecheck.scan.io import load_image
from facecheck.scan.metadata import SUMMARIES, read_metadata

N_CASES = 255  # 15 of each category slot; the nightly run makes 10,000+
HYPOTHESIS = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile") / "corpus"
    entries = make_corpus(folder, N_CASES, seed=0)
    yield folder, entries
    unlock(folder)  # so that pytest can delete it


def _snapshot(folder: Path) -> dict:
    """Every entry under `folder`, links not followed: type, mode, mtime and bytes (or link target).

    Folder mtimes are in it too, so even a temporary file created and removed beside the inputs shows.
    """
    root = os.fsencode(folder)
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for path in [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]:
            st_ = os.lstat(path)
            content = None
            if stat.S_ISLNK(st_.st_mode):
                content = os.readlink(path)
            elif stat.S_ISREG(st_.st_mode):
                try:
                    with open(path, "rb") as f:
                        content = f.read()
                except PermissionError:
                    content = st_.st_size
            out[path] = (stat.S_IFMT(st_.st_mode), stat.S_IMODE(st_.st_mode), st_.st_mtime_ns, content)
    return out


def _rows_by_file(text: str) -> dict[str, list[dict]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    assert tuple(next(reader)) == COLUMNS
    by_file: dict[str, list[dict]] = {}
    for cells in reader:
        assert len(cells) == len(COLUMNS), cells
        row = dict(zip(COLUMNS, cells))
        by_file.setdefault(row["source_file"], []).append(row)
    return by_file


def _read_text(path: Path) -> str:
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
        return f.read()


def _check_rows(by_file: dict[str, list[dict]], folder: Path, entries) -> int:
    """One row per faceless or broken input and none for anything else; return the number of error rows."""
    inputs = {os.path.join(str(folder), e.name): e for e in entries if e.is_input}
    assert sorted(set(inputs) - set(by_file)) == []  # no input lost
    assert sorted(set(by_file) - set(inputs)) == []  # no row for something that is not an input
    errors = 0
    for path, rows in by_file.items():
        entry, verdicts = inputs[path], [r["verdict"] for r in rows]
        if verdicts[0] in ("error", "no_face"):
            assert len(rows) == 1, (entry, verdicts)
        else:
            assert [r["face_index"] for r in rows] == [str(i) for i in range(len(rows))]
        if verdicts == ["error"]:
            errors += 1
            assert rows[0]["error"].startswith(path + ": "), rows[0]["error"]
            assert "unexpected failure" not in rows[0]["error"], (entry, rows[0]["error"])
        if entry.expect == "error":
            assert verdicts == ["error"], entry
        elif entry.expect == "ok":
            assert "error" not in verdicts, (entry, rows[0]["error"])
    return errors


# --- the corpus, through the CLI and the API ---------------------------------------------------------


def test_corpus_covers_every_category(corpus):
    folder, entries = corpus
    assert {e.category for e in entries} == set(CATEGORIES)
    assert sum(e.is_input for e in entries) >= N_CASES
    assert json.loads(folder.with_name(folder.name + ".manifest.json").read_text())[0]["name"] == entries[0].name


def test_scan_cli_over_the_corpus(corpus, tiny_model_dir, tmp_path):
    folder, entries = corpus
    before = _snapshot(folder)
    out_csv, out_json = tmp_path / "out.csv", tmp_path / "out.json"
    result = invoke("scan", folder, "-r", "--csv", out_csv, "--json", out_json, "--model", tiny_model_dir)
    assert result.exit_code == 1  # some inputs are unreadable: reported, not fatal
    by_file = _rows_by_file(_read_text(out_csv))
    errors = _check_rows(by_file, folder, entries)
    assert errors >= sum(e.expect == "error" for e in entries)
    with open(out_json, encoding="utf-8", errors="surrogateescape") as f:
        json_rows = json.load(f)
    assert sorted(r["source_file"] for r in json_rows) == sorted(r["source_file"] for v in by_file.values() for r in v)

    # stderr: one escaped line per unreadable file, then the summary; no raw control characters.
    lines = result.stderr.splitlines()
    assert len(lines) == errors + 1 and all(line.startswith("error: ") for line in lines[:-1])
    assert lines[-1] == f"{len(by_file)} file(s) scanned, {errors} failed"
    assert not any(c in result.stderr for c in "\x1b\r\x07\u202e")
    assert _snapshot(folder) == before  # nothing written, renamed or touched among the inputs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "out.json"]  # no .part left
    # The whole test process so far, this scan included, stayed far from 2 GB.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 2 * 1024 * 1024


def test_scan_paths_over_the_corpus(corpus, tiny_model):
    folder, entries = corpus
    results = list(scan_paths([folder], tiny_model, recursive=True, config=Config(n_jobs=2, batch_files=7)))
    assert [r.source_file for r in results] == sorted(r.source_file for r in results)
    _check_rows(_rows_by_file(format_csv(results)), folder, entries)


# --- hypothesis: damaged bytes, absurd EXIF, hostile names ------------------------------------------


@lru_cache(maxsize=None)
def _seed_image(fmt: str) -> bytes:
    rng = np.random.default_rng(7)
    img = Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8))
    buf = io.BytesIO()
    (img.convert("P") if fmt == "GIF" else img).save(buf, format=fmt)
    return buf.getvalue()


def _check_readers(path: Path, model, *, must_decode: bool = False) -> None:
    """Every reader of a file either succeeds or raises ImageReadError naming it; scanning never raises."""
    try:
        arr = load_image(path)
    except ImageReadError as exc:
        assert not must_decode, str(exc)
        assert str(exc).startswith(f"{path}: ")
    else:
        assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3 and arr.size > 0
    meta = read_metadata(path)
    assert meta.summary in SUMMARIES + ("",)
    json.dumps(meta.evidence)  # the evidence is always plain JSON
    tags = read_exposure_tags(path)
    for name, (low, high) in PLAUSIBLE_RANGES.items():
        value = getattr(tags, name)
        assert value is None or low * 0.99 <= value <= high * 1.01
    result = scan_image(path, model)
    assert result.error is None or "unexpected failure" not in result.error
    assert (result.error is None) or not must_decode


@HYPOTHESIS
@given(fmt=st.sampled_from(["JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP"]),
       flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), max_size=12),
       keep=st.floats(0, 1))
def test_damaged_bytes_never_crash(tmp_path_factory, tiny_model, fmt, flips, keep):
    data = bytearray(_seed_image(fmt))
    for where, xor in flips:
        data[int(where * len(data))] ^= xor
    path = tmp_path_factory.mktemp("flip") / f"damaged.{fmt.lower()}"
    path.write_bytes(bytes(data[: max(0, round(keep * len(data)))] if keep < 0.98 else data))
    _check_readers(path, tiny_model)


_EXIF_TYPES = st.sampled_from([1, 2, 3, 4, 5, 7, 9, 10, 11, 12, 99])


@st.composite
def _exif_entries(draw):
    tags = st.sampled_from([0x0112, 0x010F, 0x0110, 0x010E, 0x0131, 0x829A, 0x829D, 0x8827, 0x920A, 0x9201,
                            0x9202, 0x9286, 0x8769, 0x8825, 0xA002, 0xA003])
    entries = []
    for _ in range(draw(st.integers(0, 6))):
        payload = draw(st.one_of(
            st.integers(0, 2**32 - 1).map(lambda v: v.to_bytes(4, "little")),
            st.tuples(st.integers(-(2**31), 2**31 - 1), st.sampled_from([0, 1, -1, 10, 2**31 - 1])).map(
                lambda nd: nd[0].to_bytes(4, "little", signed=True) + nd[1].to_bytes(4, "little", signed=True)),
            st.binary(max_size=300)))
        count = draw(st.one_of(st.integers(0, 8), st.just(0xFFFFFFFF), st.just(len(payload))))
        entries.append((draw(tags), draw(_EXIF_TYPES), count, payload))
    return entries


@HYPOTHESIS
@given(entries=_exif_entries(), fmt=st.sampled_from(["JPEG", "PNG", "WEBP"]), order=st.sampled_from(["<", ">"]))
def test_absurd_exif_never_costs_the_pixels(tmp_path_factory, tiny_model, entries, fmt, order):
    blob = b"Exif\x00\x00" + tiff_ifds([sorted(entries, key=lambda e: e[0])], order=order)
    img = Image.fromarray(np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8))
    path = tmp_path_factory.mktemp("exif") / f"exif.{fmt.lower()}"
    img.save(path, format=fmt, exif=blob[:65000])
    _check_readers(path, tiny_model, must_decode=True)


# Not starting with "." (hidden: globs skip them) or "'" (an escaped formula would read back the same).
_NAME_BYTES = st.binary(min_size=1, max_size=40).filter(
    lambda b: b"/" not in b and b"\x00" not in b and not b.startswith((b".", b"'")))


@settings(max_examples=8, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.tuples(st.sampled_from(["", "=", "+", "-", "@", "\t", "\r", " "]), _NAME_BYTES),
                      min_size=1, max_size=12, unique_by=lambda t: t[0].encode() + t[1]),
       broken=st.lists(st.booleans(), min_size=12, max_size=12))
def test_hostile_names_give_one_escaped_row_each(tmp_path_factory, tiny_model_dir, names, broken):
    """File names from a crafted folder: each file one row, CSV cells never start a formula, names intact."""
    folder = tmp_path_factory.mktemp("names")
    out = tmp_path_factory.mktemp("out") / "out.csv"
    expected = {}
    for (prefix, raw), bad in zip(names, broken):
        name = prefix.encode() + raw + b".png"
        content = b"not an image" if bad else _seed_image("PNG")
        with open(os.path.join(os.fsencode(folder), name), "wb") as f:
            f.write(content)
        expected[os.fsdecode(name)] = bad
    cwd = os.getcwd()
    os.chdir(folder)  # names are reported relative to the working folder, as found by the glob
    try:
        result = invoke("scan", "*.png", "--csv", out, "--model", tiny_model_dir, "-q")
    finally:
        os.chdir(cwd)
    assert result.exit_code == (1 if any(expected.values()) else 0)
    by_file = _rows_by_file(_read_text(out))
    for rows in by_file.values():
        for row in rows:  # text cells; numbers (a negative loglik) are numbers, not formulas
            assert not any(row[c].startswith(_FORMULA) for c in ("source_file", "error", "verdict", "metadata")), row
    unescaped = {(k[1:] if k.startswith("'") and k[1:].startswith(_FORMULA) else k): v for k, v in by_file.items()}
    assert set(unescaped) == set(expected)
    for name, bad in expected.items():
        assert [r["verdict"] for r in unescaped[name]] == (["error"] if bad else ["no_face"])
    assert sum(line.startswith("error: ") for line in result.stderr.splitlines()) == sum(expected.values())


# --- specific hostile files ------------------------------------------------------------------------------


def _in_thread(fn, timeout=60):
    """fn() in a daemon thread, so that a read that blocks fails the test instead of hanging it."""
    out = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as exc:
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "the scan blocked"
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_fifo_and_device_behind_links_are_refused_without_blocking(tmp_path, tiny_model):
    os.mkfifo(tmp_path / "pipe")
    os.symlink("pipe", tmp_path / "pipe.jpg")
    os.symlink("/dev/zero", tmp_path / "zero.png")
    results = _in_thread(lambda: list(scan_paths([tmp_path], tiny_model)))
    fifo, device = "is a FIFO, not a regular file; refused", "is a device, not a regular file; refused"
    assert [(Path(r.source_file).name, r.error.partition(": ")[2]) for r in results] == [
        ("pipe.jpg", fifo), ("zero.png", device)]
    assert [r.metadata.evidence["problems"] for r in results] == [[f"cannot open: {fifo}"], [f"cannot open: {device}"]]
    # Named explicitly or matched by a glob, a FIFO itself is an error row too, not a hang.
    os.mkfifo(tmp_path / "fifo.gif")
    for spec in (tmp_path / "pipe", str(tmp_path / "*.gif")):
        (result,) = _in_thread(lambda: list(scan_paths([spec], tiny_model)))
        assert result.error.endswith("is a FIFO, not a regular file; refused")
    with pytest.raises(ImageReadError, match="is a FIFO"):
        _in_thread(lambda: read_exposure_tags(tmp_path / "pipe.jpg"))


def test_symlink_loops_are_error_rows(tmp_path, tiny_model_dir):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    os.symlink("self.jpg", folder / "self.jpg")
    os.symlink("b.png", folder / "a.png")
    os.symlink("a.png", folder / "b.png")
    os.symlink("..", folder / "sub" / "up")  # a folder loop: never followed
    os.symlink(".", folder / "sub" / "here.jpg")  # a link to a folder, named like an image
    out = tmp_path / "out.csv"
    result = _in_thread(lambda: invoke("scan", folder, "-r", "--csv", out, "--model", tiny_model_dir, "-q"))
    assert result.exit_code == 1
    by_file = _rows_by_file(out.read_text())
    assert {Path(f).name: rows[0]["error"].partition(": ")[2] for f, rows in by_file.items()} == {
        "a.png": "cannot open (Too many levels of symbolic links)",
        "b.png": "cannot open (Too many levels of symbolic links)",
        "self.jpg": "cannot open (Too many levels of symbolic links)",
        "here.jpg": "is a folder, not an image"}


def test_unreadable_file_chmod_000(tmp_path, tiny_model_dir):
    path = tmp_path / "locked.png"
    path.write_bytes(_seed_image("PNG"))
    path.chmod(0)
    try:
        with open(path, "rb"):
            pytest.skip("permissions are not enforced for this user (root): see the test below")
    except PermissionError:
        pass
    result = invoke("scan", tmp_path, "--csv", "--model", tiny_model_dir, "-q")
    assert result.exit_code == 1
    (rows,) = _rows_by_file(result.stdout).values()
    assert rows[0]["error"] == f"{path}: permission denied" and rows[0]["metadata"] == ""


def test_unreadable_file_for_any_user(tmp_path, tiny_model, monkeypatch):
    """Root reads a 0000 file, so the refusal the kernel gives other users is simulated at os.open."""
    locked = tmp_path / "locked.png"
    locked.write_bytes(_seed_image("PNG"))
    (tmp_path / "ok.png").write_bytes(_seed_image("PNG"))
    real_open = os.open

    def refusing_open(path, *args, **kwargs):
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(fio.os, "open", refusing_open)
    results = list(scan_paths([tmp_path], tiny_model))
    assert [(Path(r.source_file).name, r.status) for r in results] == [("locked.png", "error"), ("ok.png", "no_face")]
    assert results[0].error == f"{locked}: permission denied"
    assert results[0].metadata.summary == "" and "cannot open" in results[0].metadata.evidence["problems"][0]


def test_a_folder_that_cannot_be_listed_is_an_error_row(tmp_path, tiny_model, monkeypatch):
    """Its files are unknown, so the folder itself is reported; simulated, since root lists anything."""
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "hidden.png").write_bytes(_seed_image("PNG"))
    (tmp_path / "ok.png").write_bytes(_seed_image("PNG"))
    real_scandir = os.scandir

    def refusing_scandir(path):
        if os.fspath(path) == str(tmp_path / "locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(fio.os, "scandir", refusing_scandir)
    results = list(scan_paths([tmp_path], tiny_model, recursive=True))
    assert [(Path(r.source_file).name, r.status) for r in results] == [("locked", "error"), ("ok.png", "no_face")]


@pytest.mark.parametrize("size", [(1, 1), (20_000, 20), (20, 20_000), (1, 30_000)])
def test_extreme_shapes_are_scanned(tmp_path, tiny_model, size):
    path = tmp_path / "extreme.png"
    Image.new("RGB", size, (120, 80, 40)).save(path)
    assert load_image(path).shape == (size[1], size[0], 3)
    result = scan_image(path, tiny_model)
    assert result.error is None and result.faces == ()


@pytest.mark.parametrize("claim", [(50_000, 50_000), (2**31 - 1, 1), (11_000, 11_000), (0, 0)])
def test_bomb_headers_are_error_rows(tmp_path, tiny_model, claim):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header(*claim))
    result = scan_image(path, tiny_model)
    assert result.error and result.error.startswith(f"{path}: ")
    if claim[0] * claim[1] > Config.max_pixels:
        assert "decompression bomb" in result.error


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "PA", "LA", "CMYK", "I;16", "I", "F", "1", "L"])
def test_large_images_are_converted_in_bands_with_the_same_result(monkeypatch, mode):
    """Banding (which bounds memory on large images) must not change a pixel, or the full-scale of 16-bit."""
    rng = np.random.default_rng(3)
    if mode in ("I;16", "I", "F"):
        dtype = {"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]
        img = Image.fromarray((rng.random((37, 23)) * (300 if mode != "I;16" else 65535)).astype(dtype))
    else:
        img = Image.fromarray(rng.integers(0, 256, (37, 23, 4), dtype=np.uint8), "RGBA").convert(mode)
        if mode == "P":
            img.info["transparency"] = 5
    whole = fio._to_uint8_rgb(img)
    monkeypatch.setattr(fio, "_BAND_PIXELS", 23 * 5)  # bands of 5 rows, and a last one of 2
    assert np.array_equal(fio._to_uint8_rgb(img), whole)


def test_empty_and_truncated_files_say_why(tmp_path):
    (tmp_path / "zero.jpg").write_bytes(b"")
    (tmp_path / "half.png").write_bytes(_seed_image("PNG")[:100])
    with pytest.raises(ImageReadError, match=r"zero.jpg: empty file \(0 bytes\)$"):
        load_image(tmp_path / "zero.jpg")
    with pytest.raises(ImageReadError, match=r"half.png: cannot decode image"):
        load_image(tmp_path / "half.png")


def test_terminal_output_escapes_control_characters_in_names(tmp_path, tiny_model_dir):
    name = "a\x1b[2J\x1b]0;pwned\x07\nerror: fake.jpg: \u202egnp.png"
    (tmp_path / name).write_bytes(b"broken")
    result = invoke("scan", tmp_path, "--csv", "--model", tiny_model_dir, "-q")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "\x1b" not in result.stderr and "\u202e" not in result.stderr
    assert "a\\x1b[2J\\x1b]0;pwned\\x07\\x0aerror: fake.jpg: \\u202egnp.png" in result.stderr
    (rows,) = _rows_by_file(result.stdout).values()  # the data keeps the name as it is
    assert rows[0]["source_file"] == str(tmp_path / name)


def test_carriage_return_in_a_name_keeps_the_csv_row_whole(tmp_path, tiny_model_dir):
    (tmp_path / "a\rb.png").write_bytes(_seed_image("PNG"))
    (tmp_path / "c.png").write_bytes(_seed_image("PNG"))
    out = tmp_path.parent / f"{tmp_path.name}.csv"
    assert invoke("scan", tmp_path, "--csv", out, "--model", tiny_model_dir, "-q").exit_code == 0
    assert sorted(Path(f).name for f in _rows_by_file(_read_text(out))) == ["a\rb.png", "c.png"]


# --- C2PA: JUMBF boxes that lie about their size or contain themselves; a remote manifest ------------------------


@pytest.mark.parametrize("variant, make", JUMBF, ids=[v for v, _ in JUMBF])
def test_hostile_jumbf_is_bounded_and_never_fetches(tmp_path, tiny_model, monkeypatch, variant, make):
    path = tmp_path / "jumbf.jpg"
    path.write_bytes(make(np.random.default_rng(0)))
    before = path.read_bytes()
    with network_canary(monkeypatch) as attempts:
        start = time.perf_counter()
        meta = read_metadata(path)
        elapsed = time.perf_counter() - start
        result = scan_image(path, tiny_model)
    assert attempts == [] and elapsed < 2, (attempts, elapsed)
    assert result.error is None and result.metadata.summary == meta.summary  # the pixels are still scanned
    assert meta.summary in SUMMARIES and json.dumps(meta.evidence, allow_nan=False)
    facts = meta.evidence["provenance"]["c2pa"]
    if variant.startswith("remote"):
        assert (facts["state"], facts["remote_url"]) == ("remote", REMOTE_URL)
        assert meta.evidence["basis"] == "C2PA remote manifest referenced, not fetched"
    else:  # never taken for a manifest that says anything
        assert facts is None or (facts["state"] == "unreadable" and facts["claim_generator"] is None)
    assert path.read_bytes() == before

"""scan --jsonl --resume: complete files are kept, the rest scanned again, one row set per file in the end."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_image
from test_cli import invoke, no_env_model  # noqa: F401 (no_env_model: autouse)
from test_stream import assert_same_rows

from facecheck.model import bundle as weights
from facecheck.output.resume import read_rows
from facecheck.output.stream import HEADER_KEY

SCRIPT = "import sys; from facecheck.cli import run; sys.argv = ['facecheck', *sys.argv[1:]]; run()"


@pytest.fixture
def folder(tmp_path, two_faces_path) -> Path:
    """12 files: 10 faceless images and 2 two-face photos (two rows each)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(10):
        write_image(folder / f"img_{i:02d}.png", size=(48, 40))
    for i in (4, 9):
        shutil.copy(two_faces_path, folder / f"img_{i:02d}b.jpg")
    return folder


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def rows_by_file(path: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in read_rows(path):
        out.setdefault(row["source_file"], []).append(row)
    return out


def resumed_count(stderr: str) -> tuple[int, int]:
    """(files kept, files scanned) from the resume notice."""
    line = next(x for x in stderr.splitlines() if x.startswith("resuming "))
    done, todo = line.split(": ", 1)[1].split(", ")
    return int(done.split()[0]), int(todo.split()[0])


def test_jsonl_rows_equal_json_rows(folder, tiny_model_dir, tmp_path):
    out = tmp_path / "out.jsonl"
    result = invoke("scan", folder, "--model", tiny_model_dir, "-q", "--jsonl", out, "--json", tmp_path / "out.json")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    lines = [json.loads(x) for x in lines_of(out)]
    assert lines[0][HEADER_KEY] == "facecheck-jsonl/1" and "source_file" not in lines[0]
    assert lines[0]["bundle_sha256"] == weights.sha256_file(tiny_model_dir / "manifest.json")
    as_json = json.loads((tmp_path / "out.json").read_text())
    assert [{k: r[k] for k in as_json[0]} for r in lines[1:]] == as_json
    assert len(as_json) == 14


def test_jsonl_to_stdout(folder, tiny_model_dir):
    result = invoke("scan", folder, "--model", tiny_model_dir, "-q", "--jsonl", "-")
    assert result.exit_code == 0
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert HEADER_KEY in lines[0] and len(lines) == 15


def test_resume_keeps_complete_files_and_cuts_a_torn_row(folder, tiny_model_dir, tmp_path):
    full = tmp_path / "full.jsonl"
    assert invoke("scan", folder, "--model", tiny_model_dir, "-q", "--jsonl", full).exit_code == 0
    lines = lines_of(full)
    # Interrupted inside the second row of img_04b.jpg (two faces): its first row must not stay.
    torn = tmp_path / "torn.jsonl"
    index = next(i for i, x in enumerate(lines) if 'img_04b.jpg"' in x and '"face_index": 1' in x)
    torn.write_text("".join(lines[:index]) + lines[index][:40])
    result = invoke("scan", folder, "--model", tiny_model_dir, "--jsonl", torn, "--resume")
    assert result.exit_code == 0, result.stderr
    assert resumed_count(result.stderr) == (5, 7)  # img_00 .. img_04 kept; img_04b (partial) and 6 more scanned
    assert lines_of(torn)[0] == lines[0]
    assert_same_rows(list(read_rows(torn)), list(read_rows(full)))


def test_resume_of_a_finished_scan_scans_nothing(folder, tiny_model_dir, tmp_path):
    out = tmp_path / "out.jsonl"
    assert invoke("scan", folder, "--model", tiny_model_dir, "-q", "--jsonl", out).exit_code == 0
    before = out.read_bytes()
    result = invoke("scan", folder, "--model", tiny_model_dir, "--jsonl", out, "--resume")
    assert result.exit_code == 0 and resumed_count(result.stderr) == (12, 0)
    assert out.read_bytes() == before


def test_changed_files_are_scanned_again(folder, tiny_model_dir, tmp_path, two_faces_path):
    out = tmp_path / "out.jsonl"
    assert invoke("scan", folder, "--model", tiny_model_dir, "-q", "--jsonl", out).exit_code == 0
    before = rows_by_file(out)
    shutil.copy(two_faces_path, folder / "img_02.png")  # new content, new size: now two faces
    st = os.stat(folder / "img_07.png")
    os.utime(folder / "img_07.png", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # only the mtime
    result = invoke("scan", folder, "--model", tiny_model_dir, "--jsonl", out, "--resume")
    assert result.exit_code == 0, result.stderr
    assert resumed_count(result.stderr) == (10, 2)
    after = rows_by_file(out)
    assert list(after) == [k for k in before if not k.endswith(("img_02.png", "img_07.png"))] + [
        str(folder / "img_02.png"), str(folder / "img_07.png")]  # rescanned files go at the end
    assert [r["face_index"] for r in after[str(folder / "img_02.png")]] == [0, 1]
    assert after[str(folder / "img_07.png")][0]["file_mtime_ns"] == st.st_mtime_ns + 1_000_000_000
    assert {k: v for k, v in after.items() if "img_02" not in k and "img_07" not in k} == {
        k: v for k, v in before.items() if "img_02" not in k and "img_07" not in k}


def test_a_file_with_two_row_sets_is_scanned_again_once(folder, tiny_model_dir, tmp_path):
    out = tmp_path / "out.jsonl"
    assert invoke("scan", folder, "--model", tiny_model_dir, "-q", "--jsonl", out).exit_code == 0
    full = rows_by_file(out)
    twice = [x for x in lines_of(out) if 'img_04b.jpg"' in x]
    with open(out, "a", encoding="utf-8") as f:  # e.g. two outputs concatenated
        f.write("".join(twice))
    result = invoke("scan", folder, "--model", tiny_model_dir, "--jsonl", out, "--resume")
    assert result.exit_code == 0 and resumed_count(result.stderr) == (11, 1)
    after = rows_by_file(out)
    assert sorted(after) == sorted(full) and list(after)[-1].endswith("img_04b.jpg")
    assert_same_rows([r for name in full for r in after[name]], [r for rows in full.values() for r in rows])


def test_a_damaged_line_inside_the_file_is_refused(folder, tiny_model_dir, tmp_path):
    out = tmp_path / "out.jsonl"
    assert invoke("scan", folder, "--model", tiny_model_dir, "-q", "--jsonl", out).exit_code == 0
    lines = lines_of(out)
    lines[3] = lines[3][:30] + "\n"
    out.write_text("".join(lines))
    result = invoke("scan", folder, "--model", tiny_model_dir, "--jsonl", out, "--resume")
    assert result.exit_code == 2 and "line 4 is not JSON; the file is damaged" in result.stderr
    assert out.read_text() == "".join(lines)


def test_resume_without_a_file_starts_one(folder, tiny_model_dir, tmp_path):
    out = tmp_path / "new.jsonl"
    result = invoke("scan", folder, "--model", tiny_model_dir, "-q", "--jsonl", out, "--resume")
    assert result.exit_code == 0 and len(rows_by_file(out)) == 12


def test_error_rows_count_as_done_and_keep_exit_1(folder, tiny_model_dir, tmp_path):
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out.jsonl"
    assert invoke("scan", folder, "--model", tiny_model_dir, "-q", "--jsonl", out).exit_code == 1
    result = invoke("scan", folder, "--model", tiny_model_dir, "--jsonl", out, "--resume")
    assert result.exit_code == 1 and resumed_count(result.stderr) == (13, 0)


def test_resume_with_another_bundle_is_refused(folder, tiny_model_dir, fused_model_dir, tmp_path):
    out = tmp_path / "out.jsonl"
    assert invoke("scan", folder, "--model", tiny_model_dir, "-q", "--jsonl", out).exit_code == 0
    before = out.read_bytes()
    result = invoke("scan", folder, "--model", fused_model_dir, "--jsonl", out, "--resume")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: --resume {out}: written with another model bundle")
    assert out.read_bytes() == before


def test_resume_with_other_detection_options_is_refused(folder, tiny_model_dir, tmp_path):
    out = tmp_path / "out.jsonl"
    assert invoke("scan", folder, "--model", tiny_model_dir, "-q", "--jsonl", out).exit_code == 0
    result = invoke("scan", folder, "--model", tiny_model_dir, "--jsonl", out, "--resume", "--min-face", "20")
    assert result.exit_code == 2 and "min_face 40 -> 20" in result.stderr


def test_resume_with_other_c2pa_trust_anchors_is_refused(folder, tiny_model_dir, tmp_path):
    anchors = Path(__file__).resolve().parents[2] / "shared" / "data" / "provenance" / "trust_anchors.pem"
    if not anchors.is_file():
        pytest.skip("../shared/data/provenance is absent")
    out = tmp_path / "out.jsonl"
    assert invoke("scan", folder, "--model", tiny_model_dir, "-q", "--jsonl", out).exit_code == 0
    result = invoke("scan", folder, "--model", tiny_model_dir, "--jsonl", out, "--resume", "--c2pa-trust", anchors)
    assert result.exit_code == 2 and "c2pa_trust None -> " in result.stderr


@pytest.mark.parametrize("args", [("--resume",), ("--resume", "--jsonl", "-"), ("--resume", "--csv")])
def test_resume_without_a_jsonl_file_is_a_usage_error(folder, tiny_model_dir, args):
    result = invoke("scan", folder, "--model", tiny_model_dir, *args)
    assert result.exit_code == 2 and result.stderr.startswith("error: --resume continues")


def test_an_existing_jsonl_is_not_overwritten_without_resume(folder, tiny_model_dir, tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text("precious\n")
    result = invoke("scan", folder, "--model", tiny_model_dir, "--jsonl", out)
    assert result.exit_code == 2 and "add --resume" in result.stderr
    for text in ("precious\n", "precious"):  # with or without its last newline
        out.write_text(text)
        result = invoke("scan", folder, "--model", tiny_model_dir, "--jsonl", out, "--resume")
        assert result.exit_code == 2 and "not a facecheck JSON Lines file" in result.stderr
        assert out.read_text() == text


def test_killed_at_random_points_and_resumed_equals_an_uninterrupted_scan(tmp_path, two_faces_path, tiny_model_dir):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(490):  # tiny and faceless, so that 500 files take a few seconds
        write_image(folder / f"{i:03d}.png", size=(48, 40))
    for i in range(490, 500):  # two faces each: two rows written together
        shutil.copy(two_faces_path, folder / f"{i:03d}.jpg")
    args = [sys.executable, "-c", SCRIPT, "scan", str(folder), "--model", str(tiny_model_dir), "-q", "--jsonl"]
    full = tmp_path / "full.jsonl"
    assert subprocess.run([*args, str(full)], capture_output=True).returncode == 0
    assert len(rows_by_file(full)) == 500

    out = tmp_path / "out.jsonl"
    rng = random.Random(13)
    for target in sorted(rng.sample(range(20, 490), 2)):  # two crashes, at random rows
        proc = subprocess.Popen([*args, str(out), "--resume"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)  # its own group: the kill takes the workers too
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if out.exists() and out.read_bytes().count(b"\n") > target:
                break
            time.sleep(0.005)
        assert proc.poll() is None, "the scan ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert len(rows_by_file(out)) < 500
    done = subprocess.run([*args[:-2], "--jsonl", str(out), "--resume"], capture_output=True, text=True)  # no -q
    assert done.returncode == 0, done.stderr
    kept, scanned = resumed_count(done.stderr)
    assert 0 < scanned < 500 and kept + scanned == 500
    # Row for row, scores to the last digit (the batches that go through the network differ).
    assert out.read_text().splitlines()[0] == full.read_text().splitlines()[0]
    assert_same_rows(list(read_rows(out)), list(read_rows(full)))


def test_scan_help_documents_the_new_options():
    text = " ".join(invoke("scan", "--help").stdout.split())
    for words in ("--jsonl FILE", "--resume", "--dask ADDRESS", "local:N", 'facecheck[dask]', "file_rows"):
        assert words in text, words


def test_sigterm_keeps_the_completed_rows_for_resume(tmp_path, two_faces_path, tiny_model_dir):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(40):  # three batches of up to 16 files
        shutil.copy(two_faces_path, folder / f"{i:03d}.jpg")
    out = tmp_path / "out.jsonl"
    args = [sys.executable, "-c", SCRIPT, "scan", str(folder), "--model", str(tiny_model_dir), "--jsonl", str(out)]
    proc = subprocess.Popen([*args, "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline and not (out.exists() and out.stat().st_size > 10_000):
        time.sleep(0.01)
    assert proc.poll() is None, "the scan ended before it could be interrupted"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert stderr.decode().splitlines()[-1] == (f"interrupted: {out} keeps every completed row (rerun with --resume "
                                                "to continue); no other output file was written")
    kept = len(rows_by_file(out))
    assert 0 < kept < 40
    done = subprocess.run([*args, "--resume"], capture_output=True, text=True)
    assert done.returncode == 0 and resumed_count(done.stderr) == (kept, 40 - kept)
    assert all(len(rows) == 2 for rows in rows_by_file(out).values()) and len(rows_by_file(out)) == 40

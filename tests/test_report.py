"""Rows, CSV (formula escaping, exact numbers), JSON (nulls, metadata evidence, witnesses) and atomic output files."""

from __future__ import annotations

import csv
import io
import json
import os
import stat

import pytest
from rich.console import Console

from facecheck.api import FaceScore, ScanResult
from facecheck.output.report import (
    COLUMNS,
    JSON_KEYS,
    CsvWriter,
    JsonWriter,
    atomic_output,
    format_csv,
    render_table,
    rows,
)
from facecheck.scan.metadata import Metadata

THRESHOLD = -16.477768797106265
CAMERA = Metadata("camera", {"basis": "EXIF Canon EOS R5 with iso", "camera": {"make": "Canon", "iso": 400.0}})
FACE = ScanResult(
    "photos/a.jpg",
    (
        FaceScore(0, (76, 266, 167, 175), 1.2080276646150465, -8.824041440787626, THRESHOLD,
                  -8.824041440787626 - THRESHOLD, "real", {"appearance": -77.17621860473518, "trace": 31.5},
                  0.4125, {"jpeg75": 0.375, "resize0.5": 0.5}),
        FaceScore(1, (335, 216, 426, 126), 0.1594387879214727, -311.47388841435964, THRESHOLD,
                  -311.47388841435964 - THRESHOLD, "ai-generated", {"appearance": -357.1033480636882, "trace": 12.25},
                  0.0),
    ),
    threshold=THRESHOLD,
    metadata=CAMERA,
)
NO_FACE = ScanResult("photos/b.png", threshold=THRESHOLD)
ERROR = ScanResult("photos/c.jpg", error="photos/c.jpg: not an image file facecheck can read", threshold=THRESHOLD,
                   metadata=Metadata("stripped", {"basis": "no camera, provenance, generator or software metadata"}))


def _parse_csv(text: str) -> list[dict]:
    reader = csv.reader(io.StringIO(text))
    assert tuple(next(reader)) == COLUMNS
    return [dict(zip(COLUMNS, row, strict=True)) for row in reader]


def test_columns_are_the_documented_ones():
    assert COLUMNS == ("source_file", "face_index", "top", "right", "bottom", "left", "loglik", "threshold",
                       "margin", "p_real", "verdict", "detector_confidence", "error", "metadata", "p_real_spread")
    assert JSON_KEYS == COLUMNS + ("metadata_evidence", "witnesses", "stability")


def test_rows_of_a_result_with_faces():
    out = rows(FACE)
    assert len(out) == 2 and all(tuple(r) == COLUMNS for r in out)
    assert out[0] == {
        "source_file": "photos/a.jpg", "face_index": 0, "top": 76, "right": 266, "bottom": 167, "left": 175,
        "loglik": -8.824041440787626, "threshold": THRESHOLD, "margin": -8.824041440787626 - THRESHOLD,
        "p_real": 0.4125, "verdict": "real", "detector_confidence": 1.2080276646150465, "error": None,
        "metadata": "camera", "p_real_spread": 0.125,  # max - min of 0.4125, 0.375, 0.5
    }
    assert out[1]["face_index"] == 1 and out[1]["verdict"] == "ai-generated" and out[1]["metadata"] == "camera"
    assert out[1]["p_real"] == 0.0 and out[1]["p_real_spread"] is None  # scanned without --stability


def test_rows_of_no_face_and_error_results():
    (no_face,) = rows(NO_FACE)
    assert no_face["verdict"] == "no_face" and no_face["source_file"] == "photos/b.png"
    assert no_face["threshold"] == THRESHOLD
    assert all(no_face[c] is None for c in COLUMNS if c not in ("source_file", "verdict", "threshold"))
    (error,) = rows(ERROR)
    assert error["verdict"] == "error" and error["error"] == ERROR.error
    assert error["loglik"] is None and error["face_index"] is None
    assert error["metadata"] == "stripped"  # an unreadable image can still say what its tags say


def test_unreadable_metadata_is_an_empty_cell():
    (row,) = rows(ScanResult("x.jpg", error="x.jpg: cannot open", metadata=Metadata("", {"problems": ["cannot open"]})))
    assert row["metadata"] is None
    csv_row = format_csv([ScanResult("x.jpg", error="x.jpg: cannot open")]).splitlines()[1]
    assert csv_row.endswith(",x.jpg: cannot open,,")  # metadata and p_real_spread are empty


def test_csv_header_and_rows():
    parsed = _parse_csv(format_csv([FACE, NO_FACE, ERROR]))
    assert [r["source_file"] for r in parsed] == ["photos/a.jpg", "photos/a.jpg", "photos/b.png", "photos/c.jpg"]
    assert [r["verdict"] for r in parsed] == ["real", "ai-generated", "no_face", "error"]
    assert parsed[2]["loglik"] == "" and parsed[2]["face_index"] == ""
    assert parsed[3]["error"] == ERROR.error
    assert [r["metadata"] for r in parsed] == ["camera", "camera", "", "stripped"]  # the word only, no evidence
    assert "EXIF Canon" not in format_csv([FACE]) and "31.5" not in format_csv([FACE])  # no evidence, no witnesses
    assert format_csv([]) == ",".join(COLUMNS) + "\n"


def test_csv_numbers_are_not_rounded():
    tricky = 0.1 + 0.2  # 0.30000000000000004
    result = ScanResult("x.jpg", (FaceScore(0, (1, 2, 3, 0), 1 / 3, tricky, -1e-17, tricky + 1e-17, "real"),),
                        threshold=-1e-17)
    (row,) = _parse_csv(format_csv([result]))
    assert float(row["loglik"]) == tricky and row["loglik"] == repr(tricky)
    assert float(row["threshold"]) == -1e-17 and float(row["detector_confidence"]) == 1 / 3
    (face,) = _parse_csv(format_csv([FACE]))[:1]
    for key, value in (("loglik", -8.824041440787626), ("margin", FACE.faces[0].margin)):
        assert float(face[key]) == value
    assert row["top"] == "1" and row["left"] == "0"


@pytest.mark.parametrize("name", ["=cmd.jpg", "+sum.jpg", "-2+3.jpg", "@SUM(A1).jpg", "\tx.jpg"])
def test_csv_escapes_cells_a_spreadsheet_would_run(name):
    result = ScanResult(name, error=f"{name}: not an image", threshold=-1.5)
    (row,) = _parse_csv(format_csv([result]))
    assert row["source_file"] == "'" + name
    assert row["error"] == "'" + name + ": not an image"
    assert row["threshold"] == "-1.5"  # numbers are numbers, not escaped text


def test_csv_writer_streams_each_result():
    buf = io.StringIO()
    writer = CsvWriter(buf)
    assert buf.getvalue() == ",".join(COLUMNS) + "\n"
    writer.write(NO_FACE)
    assert len(buf.getvalue().splitlines()) == 2
    writer.write(FACE)
    writer.close()
    assert len(_parse_csv(buf.getvalue())) == 3


def test_json_uses_the_same_keys_and_null_for_missing():
    buf = io.StringIO()
    writer = JsonWriter(buf)
    nan = ScanResult("n.jpg", (FaceScore(0, (1, 2, 3, 0), 0.5, float("nan"), THRESHOLD, float("nan"), "ai-generated",
                                         {"appearance": float("nan")}),), threshold=THRESHOLD)
    for result in (FACE, NO_FACE, ERROR, nan):
        writer.write(result)
    assert buf.getvalue() == ""  # one array, written at close
    writer.close()
    data = json.loads(buf.getvalue())
    assert len(data) == 5 and all(tuple(d) == JSON_KEYS for d in data)
    assert [d["metadata"] for d in data] == ["camera", "camera", None, "stripped", None]
    assert data[0]["metadata_evidence"] == data[1]["metadata_evidence"] == CAMERA.evidence
    assert data[2]["metadata_evidence"] is None and data[3]["metadata_evidence"]["basis"].startswith("no camera")
    assert data[0]["loglik"] == -8.824041440787626 and data[0]["margin"] == FACE.faces[0].margin
    assert data[2]["loglik"] is None and data[2]["face_index"] is None and data[2]["verdict"] == "no_face"
    assert data[3]["error"] == ERROR.error and data[3]["verdict"] == "error"
    assert data[4]["loglik"] is None and data[4]["margin"] is None  # NaN is not valid JSON
    assert data[4]["witnesses"] == {"appearance": None}
    # Each witness's own log-likelihood, per face; none for no_face and error rows.
    assert data[0]["witnesses"] == {"appearance": -77.17621860473518, "trace": 31.5}
    assert data[1]["witnesses"] == {"appearance": -357.1033480636882, "trace": 12.25}
    assert data[2]["witnesses"] is None and data[3]["witnesses"] is None
    assert data[0]["p_real"] == 0.4125 and data[0]["stability"] == {"jpeg75": 0.375, "resize0.5": 0.5}
    assert data[1]["stability"] is None and data[2]["p_real"] is None and data[2]["stability"] is None
    assert "NaN" not in buf.getvalue()


def test_json_of_nothing_is_an_empty_array():
    buf = io.StringIO()
    JsonWriter(buf).close()
    assert json.loads(buf.getvalue()) == []


def test_atomic_output_writes_on_success(tmp_path):
    path = tmp_path / "out.csv"
    with atomic_output(path) as stream:
        stream.write("a,b\n")
        assert not path.exists()  # nothing visible until the block completes
    assert path.read_text() == "a,b\n"
    assert os.listdir(tmp_path) == ["out.csv"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_atomic_output_leaves_nothing_when_the_block_raises(tmp_path, exc):
    path = tmp_path / "out.csv"
    with pytest.raises(exc), atomic_output(path) as stream:
        stream.write("partial\n")
        raise exc()
    assert os.listdir(tmp_path) == []  # no file, no .part leftover


def test_atomic_output_keeps_the_old_file_when_the_block_raises(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("old results\n")
    with pytest.raises(KeyboardInterrupt), atomic_output(path) as stream:
        stream.write("[")
        raise KeyboardInterrupt
    assert path.read_text() == "old results\n"
    assert os.listdir(tmp_path) == ["out.json"]


def test_render_table_shows_every_row():
    console = Console(file=io.StringIO(), width=200, color_system=None)
    render_table([FACE, NO_FACE, ERROR], console)
    text = console.file.getvalue()
    for expected in ("photos/a.jpg", "photos/b.png", "photos/c.jpg", "real", "ai-generated", "no_face", "error",
                     "76,266,167,175", "-8.8", "+7.7", "metadata", "camera", "stripped", "p_real", "41.2%", "0.0%"):
        assert expected in text


def test_atomic_output_keeps_a_non_utf8_file_name_as_its_bytes(tmp_path):
    name = os.fsdecode(b"photos/\xff.jpg")  # how Python sees a Latin-1 name on a UTF-8 system
    path = tmp_path / "out.csv"
    with atomic_output(path) as stream:
        writer = CsvWriter(stream)
        writer.write(ScanResult(name, threshold=THRESHOLD))
    assert b"\nphotos/\xff.jpg,," in path.read_bytes()


@pytest.mark.parametrize("width", [80, 60])
def test_table_on_a_narrow_terminal_keeps_file_verdict_p_real_and_reason(width):
    long_name = "evalset/stylegan2/some_generated_face_000123.png"
    face = ScanResult(long_name, FACE.faces, threshold=THRESHOLD, metadata=CAMERA)
    console = Console(file=io.StringIO(), width=width, color_system=None)
    render_table([face, NO_FACE, ERROR], console)
    text = console.file.getvalue()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    assert "…" not in text  # nothing cut with an ellipsis
    cells = [line.split("│")[1:-1] for line in lines if line.startswith("│")]
    columns = [" ".join(row[i].strip() for row in cells) for i in range(len(cells[0]))]  # wrapped cells rejoined
    for expected in (long_name, "ai-generated", "no_face", "41.2%", "0.0%", "not an image file facecheck can read"):
        assert any(expected.replace(" ", "") in column.replace(" ", "") for column in columns), expected
    assert "box (t,r,b,l)" not in text  # the box goes first


def test_table_keeps_every_column_when_it_fits():
    console = Console(file=io.StringIO(), width=200, color_system=None)
    render_table([FACE], console)
    text = console.file.getvalue()
    assert "box (t,r,b,l)" in text and "note" not in text  # no error: no reason column

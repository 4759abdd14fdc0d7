"""JSON Lines output: the same rows as JSON, plus what resume needs; a torn last line is left out by readers."""

from __future__ import annotations

import io
import json
import os

from test_report import ERROR, FACE, NO_FACE

from facecheck.output.report import JSON_KEYS, JsonWriter
from facecheck.output.resume import is_row, read_rows
from facecheck.output.stream import HEADER_KEY, JSONL_KEYS, JsonlWriter


def _jsonl(results, first_line=None) -> str:
    buf = io.StringIO()
    writer = JsonlWriter(buf, first_line)
    for r in results:
        writer.write(r)
    writer.close()
    return buf.getvalue()


def test_jsonl_rows_are_the_json_rows_plus_resume_keys(tmp_path):
    # The rows name real files, so that their size and mtime are recorded.
    results = []
    for r in (FACE, NO_FACE, ERROR):
        path = tmp_path / os.path.basename(r.source_file)
        path.write_bytes(b"x" * 7)
        results.append(type(r)(str(path), r.faces, r.error, r.threshold, r.metadata))
    buf = io.StringIO()
    writer = JsonWriter(buf)
    for r in results:
        writer.write(r)
    writer.close()
    expected = json.loads(buf.getvalue())

    lines = _jsonl(results).splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == len(expected) == 4
    for row, want in zip(rows, expected):
        assert tuple(row) == JSONL_KEYS
        assert {k: row[k] for k in JSON_KEYS} == want
        path = row["source_file"]
        assert (row["file_size"], row["file_mtime_ns"]) == (7, os.stat(path).st_mtime_ns)
    assert [r["file_rows"] for r in rows] == [2, 2, 1, 1]


def test_a_missing_file_has_null_size_and_mtime():
    row = json.loads(_jsonl([NO_FACE]))
    assert row["file_size"] is None and row["file_mtime_ns"] is None and row["file_rows"] == 1


def test_header_line_first_and_told_apart_from_rows():
    lines = [json.loads(line) for line in _jsonl([NO_FACE], {HEADER_KEY: "facecheck-jsonl/1"}).splitlines()]
    assert [is_row(x) for x in lines] == [False, True]


def test_each_result_is_written_and_flushed_at_once():
    class Recorder(io.StringIO):
        def __init__(self):
            super().__init__()
            self.flushes: list[int] = []

        def flush(self):
            self.flushes.append(len(self.getvalue()))

    buf = Recorder()
    writer = JsonlWriter(buf, None)
    writer.write(FACE)
    writer.write(NO_FACE)
    text = buf.getvalue()
    assert buf.flushes == [text.index("photos/b.png") - len('{"source_file": "'), len(text)]


def test_readers_leave_out_the_header_and_a_torn_last_line(tmp_path):
    path = tmp_path / "out.jsonl"
    text = _jsonl([FACE, NO_FACE], {HEADER_KEY: "facecheck-jsonl/1"})
    path.write_text(text[:-25])  # torn inside the last row
    rows = list(read_rows(path))
    assert [r["source_file"] for r in rows] == ["photos/a.jpg", "photos/a.jpg"]
    path.write_text(text)
    assert [r["source_file"] for r in read_rows(path)] == ["photos/a.jpg", "photos/a.jpg", "photos/b.png"]


def test_non_utf8_names_round_trip(tmp_path):
    name = os.fsdecode(b"photos/caf\xe9.jpg")
    path = tmp_path / "out.jsonl"
    with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="") as f:
        JsonlWriter(f, None).write(type(NO_FACE)(name, threshold=1.0))
    assert b"caf\xe9.jpg" in path.read_bytes()
    assert [r["source_file"] for r in read_rows(path)] == [name]


def assert_same_rows(got: list[dict], want: list[dict]) -> None:
    """Rows equal key by key and in order, numbers to the last digit: each face is scored alone, so the
    other faces of a batch do not move its scores."""
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert list(a) == list(b)
        for key in a:
            if key != "file_mtime_ns":
                assert a[key] == b[key], (a["source_file"], key)

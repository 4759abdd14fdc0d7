"""Continue an interrupted JSONL scan: read what is there (a torn last line tolerated), keep the files whose
rows are complete and unchanged, cut the rest away, and say which files are still to scan."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ..errors import ConfigError

HEADER_KEY = "facecheck_jsonl"  # the key that marks the header line of facecheck JSON Lines
_HEADER_START = b'{"' + HEADER_KEY.encode() + b'"'


def file_state(path: str) -> tuple[int | None, int | None]:
    """(size in bytes, mtime in ns) of `path`, following links; (None, None) if it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None, None
    return st.st_size, st.st_mtime_ns


def is_row(obj) -> bool:
    """Whether a parsed JSONL line is a row (not the header)."""
    return isinstance(obj, dict) and "source_file" in obj


@dataclass
class _Group:
    """The consecutive lines of one file's rows: bytes [start, end), face indices, resume keys of the first row."""

    name: str
    start: int
    end: int
    expected: object
    state: tuple
    error: bool
    indices: list = field(default_factory=list)

    def complete(self) -> bool:
        n = len(self.indices)
        if not isinstance(self.expected, int) or isinstance(self.expected, bool) or n != self.expected:
            return False
        return self.indices == list(range(n)) or (n == 1 and self.indices == [None])


@dataclass(frozen=True)
class ResumePlan:
    """How to cut an existing JSONL back: keep its header and the byte ranges of the kept files' rows.

    `cut_at` is the length to truncate to when the kept rows are a prefix (the usual interruption), else
    None and the file is rewritten from `ranges`. `header_end` is 0 when there is no usable header yet.
    """

    path: Path
    header_end: int
    ranges: tuple[tuple[int, int], ...]
    cut_at: int | None
    kept_names: frozenset
    kept_failed: int


def iter_lines(path: str | os.PathLike) -> Iterator[tuple[int, int, object]]:
    """(start, end, parsed object) of every complete line; a last line without its newline is skipped.

    Raises ConfigError naming the line when a complete line is not JSON (a damaged file).
    """
    with open(path, "rb") as f:
        start = 0
        for n, line in enumerate(f, 1):
            end = start + len(line)
            if not line.endswith(b"\n"):
                return  # torn by a crash: the file it belongs to is scanned again
            try:
                obj = json.loads(line.decode("utf-8", "surrogateescape"))
            except ValueError:
                raise ConfigError(f"{path}: line {n} is not JSON; the file is damaged, or not a facecheck JSON Lines file "
                                  "(move it away to start over)") from None
            yield start, end, obj
            start = end


def read_rows(path: str | os.PathLike) -> Iterator[dict]:
    """The rows of a facecheck JSONL file (the header and a torn last line left out)."""
    for _, _, obj in iter_lines(path):
        if is_row(obj):
            yield obj


def plan_resume(path: Path, first_line: dict, files: list[str]) -> ResumePlan:
    """Read `path` and decide which of `files` keep their rows; the file is not changed.

    A file keeps its rows when they are all there, once, and its size and mtime are those recorded. Rows
    of files that are not among `files` are kept as they are. Raises ConfigError when the file was written
    with another bundle, other detection options or another facecheck version, or is not facecheck's.
    """
    if not path.exists():
        return ResumePlan(path, 0, (), 0, frozenset(), 0)
    lines = iter_lines(path)
    first = next(lines, None)
    if first is None:  # empty, or a header torn before its newline; anything else is not ours to replace
        with open(path, "rb") as f:
            head = f.read(len(_HEADER_START))
        if head != _HEADER_START[:len(head)]:
            _check_header(path, None, first_line)
        return ResumePlan(path, 0, (), 0, frozenset(), 0)
    _check_header(path, first[2], first_line)
    groups: list[_Group] = []
    for start, end, obj in lines:
        if not is_row(obj):
            raise ConfigError(f"{path}: a line at byte {start} is not a row; not a facecheck JSON Lines file")
        last = groups[-1] if groups else None
        if last is None or last.name != obj["source_file"] or len(last.indices) == last.expected:
            last = _Group(obj["source_file"], start, end, obj.get("file_rows"),
                          (obj.get("file_size"), obj.get("file_mtime_ns")), obj.get("verdict") == "error")
            groups.append(last)
        last.end = end
        last.indices.append(obj.get("face_index"))
    wanted = set(files)
    seen: dict[str, int] = {}
    for g in groups:
        seen[g.name] = seen.get(g.name, 0) + 1
    kept = [g for g in groups if seen[g.name] == 1 and g.complete()
            and (g.name not in wanted or file_state(g.name) == g.state)]
    header_end = first[1]
    prefix = len(kept) == sum(1 for _ in _prefix(groups, kept))
    cut_at = (kept[-1].end if kept else header_end) if prefix else None
    return ResumePlan(path, header_end, tuple((g.start, g.end) for g in kept), cut_at,
                      frozenset(g.name for g in kept if g.name in wanted),
                      sum(1 for g in kept if g.error and g.name in wanted))


def _prefix(groups: list[_Group], kept: list[_Group]) -> Iterator[_Group]:
    """The leading groups that are kept (all of them when the kept rows are a prefix of the file)."""
    for g, k in zip(groups, kept):
        if g is not k:
            return
        yield g


def apply_resume(plan: ResumePlan) -> bool:
    """Cut the file back to its header and kept rows; False when it has no header (to be written anew)."""
    if plan.header_end == 0:
        return False
    if plan.cut_at is not None:
        os.truncate(plan.path, plan.cut_at)
        return True
    # Rows to drop lie between kept ones: rewrite the kept bytes beside, then rename over (atomic).
    tmp = plan.path.parent / f".{plan.path.name}.{secrets.token_hex(6)}.part"
    try:
        with open(plan.path, "rb") as src, open(tmp, "xb") as dst:
            dst.write(src.read(plan.header_end))
            for start, end in plan.ranges:
                src.seek(start)
                dst.write(src.read(end - start))
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(tmp, plan.path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True


def _check_header(path: Path, found, expected: dict) -> None:
    """Refuse to continue a file that is not facecheck's or was written under other conditions."""
    if not isinstance(found, dict) or HEADER_KEY not in found:
        raise ConfigError(f"--resume {path}: not a facecheck JSON Lines file (no header line); "
                          "refusing to change it")
    if found.get(HEADER_KEY) != expected[HEADER_KEY]:
        raise ConfigError(f"--resume {path}: format {found.get(HEADER_KEY)!r}, this facecheck writes "
                          f"{expected[HEADER_KEY]!r}; write to a new file")
    if found.get("bundle_sha256") != expected["bundle_sha256"]:
        raise ConfigError(f"--resume {path}: written with another model bundle (manifest sha256 "
                          f"{str(found.get('bundle_sha256'))[:12]}..., this scan's is {expected['bundle_sha256'][:12]}...); "
                          "resume with the bundle that wrote it (--model), or write to a new file")
    if found.get("facecheck_version") != expected["facecheck_version"]:
        raise ConfigError(f"--resume {path}: written by facecheck {found.get('facecheck_version')}, this is "
                          f"{expected['facecheck_version']}; resume with that version, or write to a new file")
    options, mine = found.get("options") or {}, expected["options"]
    changed = [f"{k} {options.get(k)!r} -> {mine[k]!r}" for k in mine if options.get(k) != mine[k]]
    if changed:
        raise ConfigError(f"--resume {path}: written with other detection options ({', '.join(changed)}); "
                          "resume with the same options, or write to a new file")

"""JSON Lines output: a header line, then one row per line, written and flushed file by file.

A crash leaves every completed row on disk and at most one torn last line; `resume.py` continues such a
file. A line is a row when it is an object with a `source_file` key; the header has `facecheck_jsonl`.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

from .. import __version__
from ..config import Config
from ..errors import ConfigError
from ..model.bundle import Model, bundle_sha256
from .report import JSON_KEYS, json_rows
from .results import ScanResult
from .resume import HEADER_KEY, apply_resume, file_state, plan_resume

FORMAT = "facecheck-jsonl/1"
# After the JSON keys, what resume needs: the file's size and mtime when its rows were written, and how
# many rows the file has (a file whose rows are not all there is scanned again).
RESUME_KEYS = ("file_size", "file_mtime_ns", "file_rows")
JSONL_KEYS = JSON_KEYS + RESUME_KEYS


def header(model: Model, config: Config) -> dict:
    """The first line of a JSONL output: format, facecheck version, bundle identity and the options that change rows."""
    return {HEADER_KEY: FORMAT, "facecheck_version": __version__, "bundle_sha256": bundle_sha256(model),
            "options": scan_options(config)}


def scan_options(config: Config) -> dict:
    """The scan options that change rows (detection, verdict band, stability), as recorded in the header."""
    return {"min_face": config.min_face, "upsample": config.upsample, "detect_max_side": config.detect_max_side,
            "max_pixels": config.max_pixels, "pad": config.pad, "verify": config.verify,
            "verify_below": config.verify_below, "false_alarm": config.false_alarm, "uncertain": config.uncertain,
            "stability": config.stability,
            # The trust anchors change the metadata evidence: --resume with others would mix rows.
            "c2pa_trust": None if config.c2pa_trust is None else hashlib.sha256(config.c2pa_trust.encode()).hexdigest()}


def dumps(obj: dict) -> str:
    """One JSONL line (with its newline); non-ASCII kept, so names match the JSON output."""
    return json.dumps(obj, ensure_ascii=False, allow_nan=False) + "\n"


class JsonlWriter:
    """Write each result's rows (keys = JSONL_KEYS) together and flush, so a crash tears at most the last line."""

    def __init__(self, stream: IO[str], first_line: dict | None):
        self._stream = stream
        if first_line is not None:
            stream.write(dumps(first_line))
            stream.flush()

    def write(self, result: ScanResult) -> None:
        """Append the rows of one result, with its file's size, mtime and row count."""
        rows = json_rows(result)
        size, mtime_ns = file_state(result.source_file)
        extra = {"file_size": size, "file_mtime_ns": mtime_ns, "file_rows": len(rows)}
        self._stream.write("".join(dumps({**row, **extra}) for row in rows))
        self._stream.flush()

    def close(self) -> None:
        """Nothing to finish: every row is already written."""


def check_targets(csv_target: str | None, json_target: str | None, jsonl_target: str | None, *, resume: bool) -> None:
    """Refuse outputs that clash: two on stdout, or --resume without a --jsonl FILE or beside --csv/--json."""
    on_stdout = [flag for flag, target in (("--csv", csv_target), ("--json", json_target), ("--jsonl", jsonl_target))
                 if target == "-"]
    if len(on_stdout) > 1:
        raise ConfigError(f"{' and '.join(on_stdout)} cannot both write to stdout; give one of them a FILE")
    if resume and jsonl_target in (None, "-"):
        raise ConfigError("--resume continues a --jsonl FILE; give the file of the interrupted scan")
    if resume and (csv_target or json_target):
        raise ConfigError("--resume continues the --jsonl file only; leave out --csv and --json")


def what_is_kept(jsonl_target: str | None) -> str:
    """What a scan that stops early leaves behind, for its last message."""
    if jsonl_target in (None, "-"):
        return "no output file was written"
    return f"{jsonl_target} keeps every completed row (rerun with --resume to continue); no other output file was written"


@dataclass
class JsonlPlan:
    """What a scan with --jsonl will do: the files still to scan and the rows an interrupted run left.

    `kept` files have complete, unchanged rows in the file already (`kept_failed` of them error rows).
    """

    target: str
    first_line: dict
    todo: list
    kept: int = 0
    kept_failed: int = 0
    resume: object = field(default=None, repr=False)  # a resume.ResumePlan, applied when the file is opened


def plan_jsonl(target: str, *, resume: bool, first_line: dict, files: list) -> JsonlPlan:
    """Decide what to scan for `--jsonl target`; reads an existing file with `resume`, never changes it.

    Raises ConfigError when the file exists without `resume`, or cannot be continued.
    """
    if target == "-":
        return JsonlPlan(target, first_line, list(files))
    if not resume:
        if os.path.lexists(target):
            raise ConfigError(f"--jsonl {target}: exists; add --resume to continue it, or remove it to start over")
        return JsonlPlan(target, first_line, list(files))

    plan = plan_resume(Path(target), first_line, [str(f) for f in files])
    return JsonlPlan(target, first_line, [f for f in files if str(f) not in plan.kept_names],
                     kept=len(plan.kept_names), kept_failed=plan.kept_failed, resume=plan)


@contextmanager
def open_jsonl(plan: JsonlPlan | None, stdout: IO[str]) -> Iterator[JsonlWriter | None]:
    """A JsonlWriter for `plan` (None: no JSONL); a resumed file is first cut back to its complete rows."""
    if plan is None:
        yield None
        return
    if plan.target == "-":
        yield JsonlWriter(stdout, plan.first_line)
        return
    first = plan.first_line
    if plan.resume is not None:

        if apply_resume(plan.resume):
            first = None  # the header is already there
    mode = "a" if first is None else "w"
    # surrogateescape: a file name that is not valid UTF-8 is written back as its own bytes.
    with open(plan.target, mode, encoding="utf-8", errors="surrogateescape", newline="") as stream:
        yield JsonlWriter(stream, first)

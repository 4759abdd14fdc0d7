"""Worker processes die with their parent: whatever kills a scan, a training or an evaluation, nothing it started survives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

psutil = pytest.importorskip("psutil")


@pytest.fixture(scope="module")
def many_photos(tmp_path_factory) -> Path:
    """Enough noise photos (no face) that a command is still busy with its workers when it is killed."""
    folder = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(0)
    for i in range(120):
        Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)).save(folder / f"p{i:03d}.jpg", quality=90)
    return folder


def _command(kind: str, photos: Path, tmp: Path, model: Path) -> list[str]:
    exe = [sys.executable, "-c", "from facecheck.cli import run; run()"]
    if kind == "scan":
        return exe + ["scan", str(photos), "--csv", str(tmp / "out.csv"), "-q", "-j", "2", "--model", str(model)]
    if kind == "evaluate":
        return exe + ["evaluate", "--real", str(photos), "--fake", f"x={photos}", "-q", "-j", "2", "--model", str(model)]
    return exe + ["train", str(photos), "--out", str(tmp / "bundle"), "-q", "-j", "2", "--witnesses", "spectrum"]


@pytest.mark.parametrize("kind", ["scan", "evaluate", "train"])
def test_sigkill_leaves_no_worker_behind(kind, many_photos, tmp_path, tiny_model_dir):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = subprocess.Popen(_command(kind, many_photos, tmp_path, tiny_model_dir), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 120
    workers = []
    while time.monotonic() < deadline and proc.poll() is None:
        workers = [c for c in parent.children(recursive=True) if "popen_loky" in _name(c)]
        if len(workers) >= 2:
            break
        time.sleep(0.1)
    assert proc.poll() is None and len(workers) >= 2, "the command ended before its workers could be seen"
    started = parent.children(recursive=True)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(10)
    alive = [p for p in started if _alive(p)]
    names = [_name(p) for p in alive]
    for p in alive:
        p.kill()
    assert alive == [], names


def _alive(p) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _name(p) -> str:
    try:
        return " ".join(p.cmdline())[:100]
    except psutil.Error:
        return str(p.pid)

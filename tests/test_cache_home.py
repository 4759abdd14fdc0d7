"""Tests never write into the user's cache: the pre-scan cache lives in a temporary folder during the run."""

from __future__ import annotations

import os
from pathlib import Path

from facecheck.train.pipeline import default_cache_dir


def test_the_default_cache_is_a_temporary_folder():
    home_cache = Path(os.path.expanduser("~")) / ".cache" / "facecheck"
    assert default_cache_dir() != home_cache
    assert "xdg_cache" in str(default_cache_dir())

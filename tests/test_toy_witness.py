"""A new witness is one class and one registry entry: this file's toy witness trains, fits, saves, loads and
scans through the CLI with no library file changed."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from test_train_pipeline import photo_folder  # noqa: F401 (a fixture: 70 camera-like photos)

from facecheck.cli import app
from facecheck.witnesses import KINDS
from facecheck.witnesses.base import FixedWitness, PatchSpec


class ToyWitness(FixedWitness):
    """Mean and spread of each colour channel of the face's native-resolution patches."""

    kind = "toy"
    summary = "the mean and spread of each colour channel of the face"
    label = "toy"
    n_features = 6

    def __init__(self, *, spec: PatchSpec = PatchSpec(size=32, grid=2), name: str = "toy"):
        self.spec, self.name = spec, name

    def features(self, inputs: np.ndarray) -> np.ndarray:
        x = inputs.astype(np.float32).reshape(len(inputs), -1, 3)
        return np.concatenate([x.mean(axis=1), x.std(axis=1)], axis=1).astype(np.float32)

    def params(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, spec: PatchSpec, config: dict, name: str) -> "ToyWitness":
        return cls(spec=spec, name=name)


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setitem(KINDS, "toy", (__name__, "ToyWitness"))


def test_a_witness_defined_outside_the_library_trains_saves_loads_and_scans(toy_registered, photo_folder, tmp_path,
                                                                              astronaut_path):
    runner = CliRunner()
    bundle = tmp_path / "toy_bundle"
    result = runner.invoke(app, ["train", str(photo_folder), "--out", str(bundle), "--witnesses", "toy",
                                 "-j", "1", "-q"], env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert result.exit_code == 0, result.output
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert [(e["name"], e["kind"]) for e in manifest["witnesses"]] == [("toy", "toy")]
    result = runner.invoke(app, ["scan", str(astronaut_path), "--model", str(bundle), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows and all(list(r["witnesses"]) == ["toy"] and np.isfinite(r["loglik"]) for r in rows if r["face_index"] is not None)
    info = runner.invoke(app, ["info", "--model", str(bundle)])
    assert "the mean and spread of each colour channel of the face" in info.stdout

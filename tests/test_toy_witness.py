"""A new witness is one class and one registry entry: this file's toy witness trains, fits, saves, loads and
scans through the CLI with no library file changed; and a witness with a new kind of input adds one spec
class and one SPEC_TYPES entry, still with no library file changed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from test_train_pipeline import photo_folder  # noqa: F401 (a fixture: 70 camera-like photos)
from typer.testing import CliRunner

from facecheck.cli import app
from facecheck.model.witnesses import KINDS
from facecheck.model.witnesses.base import FixedWitness, PatchSpec, Witness
from facecheck.scan.inputs import SPEC_TYPES


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


def _train_and_scan(runner, kind, photos, bundle, photo, *options):
    """Train a bundle of one witness of `kind` through the CLI, then scan `photo` with it: (manifest, JSON rows)."""
    result = runner.invoke(app, ["train", str(photos), "--out", str(bundle), "--witnesses", kind, "-j", "1", "-q", *options],
                           env={"XDG_CACHE_HOME": str(bundle.parent / "cache")})
    assert result.exit_code == 0, result.output
    scanned = runner.invoke(app, ["scan", str(photo), "--model", str(bundle), "--json"])
    assert scanned.exit_code == 0, scanned.output
    return json.loads((bundle / "manifest.json").read_text()), json.loads(scanned.stdout)


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setitem(KINDS, "toy", (__name__, "ToyWitness"))


def test_a_witness_defined_outside_the_library_trains_saves_loads_and_scans(toy_registered, photo_folder, tmp_path,
                                                                              astronaut_path):
    runner, bundle = CliRunner(), tmp_path / "toy_bundle"
    manifest, rows = _train_and_scan(runner, "toy", photo_folder, bundle, astronaut_path)
    assert [(e["name"], e["kind"]) for e in manifest["witnesses"]] == [("toy", "toy")]
    assert rows and all(list(r["witnesses"]) == ["toy"] and np.isfinite(r["loglik"]) for r in rows if r["face_index"] is not None)
    info = runner.invoke(app, ["info", "--model", str(bundle)])
    assert "the mean and spread of each colour channel of the face" in info.stdout


@dataclass(frozen=True)
class RowSpec:
    """A new kind of input: `size` native pixels of the row through the middle of the face's box."""

    type: ClassVar[str] = "toy_row"
    size: int = 24

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.size, 3)

    def cut(self, image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        top, right, bottom, left = box
        h, w = image.shape[:2]
        y = min(max(0, (top + bottom) // 2), h - 1)
        xs = np.clip(np.arange(left, left + self.size), 0, w - 1)
        return np.ascontiguousarray(image[y, xs])

    def to_dict(self) -> dict:
        return {"type": self.type, "size": self.size}

    @classmethod
    def from_dict(cls, d: dict) -> "RowSpec":
        return cls(size=int(d["size"]))


class RowWitness(Witness):
    """Mean and spread of each colour channel along the middle row of the face."""

    kind = "toy_row"
    summary = "the colours along the middle row of the face"
    file_suffix = ".json"
    train_options = {"row_size": 24}  # train --witness-option row_size=N

    def __init__(self, *, spec: RowSpec = RowSpec(), name: str = "toy_row"):
        self.spec, self.name = spec, name

    def transform(self, inputs: np.ndarray) -> np.ndarray:
        x = np.asarray(inputs, np.float32).reshape(len(inputs), -1, 3)
        return np.concatenate([x.mean(axis=1), x.std(axis=1)], axis=1).astype(np.float32)

    def config(self) -> dict:
        return {"kind": self.kind, "spec": self.spec.to_dict()}

    def save(self, path) -> None:
        Path(path).write_text(json.dumps(self.spec.to_dict()), encoding="utf-8")

    @classmethod
    def load(cls, path, config: dict, *, name: str = "toy_row", device: str = "cpu") -> "RowWitness":
        from facecheck.errors import WeightsError
        from facecheck.scan.inputs import spec_from_dict

        try:
            spec = spec_from_dict(config["spec"])
        except ValueError as exc:
            raise WeightsError(f"{path}: {exc}") from None
        assert json.loads(Path(path).read_text(encoding="utf-8")) == spec.to_dict()
        return cls(spec=spec, name=name)

    @classmethod
    def training_builder(cls, row_size: int = 24, **options):
        return lambda run: cls(spec=RowSpec(size=row_size))


def test_a_witness_with_a_new_kind_of_input_needs_one_spec_class_and_one_entry(monkeypatch, photo_folder, tmp_path,
                                                                                astronaut_path):
    monkeypatch.setitem(KINDS, "toy_row", (__name__, "RowWitness"))
    monkeypatch.setitem(SPEC_TYPES, "toy_row", RowSpec)
    runner, bundle = CliRunner(), tmp_path / "row_bundle"
    manifest, rows = _train_and_scan(runner, "toy_row", photo_folder, bundle, astronaut_path,
                                     "--witness-option", "row_size=16")  # its own training option, from its class
    assert manifest["witnesses"][0]["config"]["spec"] == {"type": "toy_row", "size": 16}
    faces = [r for r in rows if r["face_index"] is not None]
    assert faces and all(list(r["witnesses"]) == ["toy_row"] and np.isfinite(r["loglik"]) for r in faces)
    # Without its entry, the bundle's input type is unknown: refused with a clear error, not a traceback.
    monkeypatch.delitem(SPEC_TYPES, "toy_row")
    result = runner.invoke(app, ["scan", str(astronaut_path), "--model", str(bundle), "--json"])
    assert result.exit_code == 2 and "toy_row" in result.stderr


def test_a_witness_option_must_belong_to_a_chosen_witness(monkeypatch, tmp_path):
    monkeypatch.setitem(KINDS, "toy_row", (__name__, "RowWitness"))
    runner = CliRunner()
    for options, said in ((["--witness-option", "row_size=16"], "(none)"),  # spectrum has no training option
                          (["--witnesses", "toy_row", "--witness-option", "rows=16"], "(row_size)"),
                          (["--witnesses", "toy_row", "--witness-option", "row_size=big"], "row_size needs a value of type int")):
        args = ["train", str(tmp_path), "--out", str(tmp_path / "b"), *options]
        if "--witnesses" not in options:
            args += ["--witnesses", "spectrum"]
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and said in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr

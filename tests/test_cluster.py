"""scan --dask: a LocalCluster (loopback only) gives the local scan's rows; a file that kills a worker is an error row."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_broken_files, write_image
from test_cli import invoke, no_env_model, parse_csv  # noqa: F401 (no_env_model: autouse)
from test_stream import assert_same_rows

from facecheck.config import Config
from facecheck.output.resume import read_rows

distributed = pytest.importorskip("distributed")


@pytest.fixture
def folder(tmp_path, two_faces_path) -> Path:
    """40 files (more than two batches): faceless images, two-face photos (two rows each) and broken files."""
    folder = tmp_path / "photos"
    make_broken_files(folder)
    for i in range(30):
        write_image(folder / f"img_{i:02d}.png", size=(48, 40))
    for i in range(6):
        shutil.copy(two_faces_path, folder / f"img_{i * 5:02d}b.jpg")
    return folder


def test_local_cluster_gives_the_rows_of_a_local_scan(folder, tiny_model_dir, tmp_path):
    local, cluster = tmp_path / "local.jsonl", tmp_path / "cluster.jsonl"
    result = invoke("scan", folder, "--model", tiny_model_dir, "-q", "--jsonl", local)
    assert result.exit_code == 1  # the broken files
    result = invoke("scan", folder, "--model", tiny_model_dir, "-q", "--jsonl", cluster, "--dask", "local:2")
    assert result.exit_code == 1, result.stderr
    assert sorted(line for line in result.stderr.splitlines() if line.startswith("error: ")) == sorted(
        line for line in invoke("scan", folder, "--model", tiny_model_dir, "-q").stderr.splitlines())
    assert_same_rows(list(read_rows(cluster)), list(read_rows(local)))
    assert len(list(read_rows(local))) == 40 + 6
    assert cluster.read_text().splitlines()[0] == local.read_text().splitlines()[0]  # the header


def test_cluster_output_goes_to_every_writer(folder, tiny_model_dir):
    local = invoke("scan", folder, "--model", tiny_model_dir, "-q", "--csv")
    cluster = invoke("scan", folder, "--model", tiny_model_dir, "-q", "--csv", "--dask", "local:1")
    assert cluster.exit_code == local.exit_code == 1
    assert_same_rows(_numbers(parse_csv(cluster.stdout)), _numbers(parse_csv(local.stdout)))


def _numbers(rows: list[dict]) -> list[dict]:
    """CSV rows with the score cells as floats."""
    return [{k: float(v) if k in ("loglik", "threshold", "margin") and v else v for k, v in row.items()} for row in rows]


@pytest.mark.parametrize("address", ["local:0", "local:two", "scheduler:8786"])
def test_bad_address_is_a_usage_error(folder, tiny_model_dir, address):
    result = invoke("scan", folder, "--model", tiny_model_dir, "--dask", address)
    assert result.exit_code == 2 and result.stderr.startswith(f"error: --dask {address}: ")


def test_unreachable_scheduler_is_a_usage_error(folder, tiny_model_dir):
    import socket

    import dask

    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        result = invoke("scan", folder, "--model", tiny_model_dir, "--jsonl", "-", "--dask", f"tcp://127.0.0.1:{port}")
    assert result.exit_code == 2 and "cannot reach the scheduler" in result.stderr
    assert result.stdout == ""


def _scan_script(hide_dask: bool) -> str:
    """A `facecheck` process that reports, on exit, whether Dask was imported; optionally without Dask installed."""
    hide = "sys.modules['distributed'] = None; sys.modules['dask'] = None; " if hide_dask else ""
    return ("import atexit, sys; " + hide +
            "atexit.register(lambda: sys.stderr.write(f\"dask imported: {sys.modules.get('distributed') is not None}\\n\")); "
            "from facecheck.cli import run; sys.argv = ['facecheck', *sys.argv[1:]]; run()")


def test_without_dask_installed_the_error_gives_the_remedy(folder, tiny_model_dir):
    run = subprocess.run([sys.executable, "-c", _scan_script(True), "scan", str(folder), "--model", str(tiny_model_dir),
                          "--dask", "local:2"], capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.splitlines()[0] == 'error: --dask needs Dask, which is not installed: pip install "facecheck[dask]"'


def test_a_local_scan_does_not_import_dask(folder, tiny_model_dir):
    run = subprocess.run([sys.executable, "-c", _scan_script(False), "scan", str(folder), "--model", str(tiny_model_dir),
                          "-q", "--jsonl", "-"], capture_output=True, text=True)
    assert run.returncode == 1 and run.stderr.splitlines()[-1] == "dask imported: False"


class _KillOnPoison(distributed.WorkerPlugin):
    """Fault injection: the worker process dies (as on a decoder crash) when it starts a task naming 'poison'."""

    def setup(self, worker):
        self.worker = worker

    def transition(self, key, start, finish, **kwargs):
        spec = self.worker.state.tasks[key].run_spec
        if finish == "executing" and "poison" in repr(getattr(spec, "args", spec)):
            os._exit(1)


def test_a_file_that_kills_its_worker_becomes_an_error_row(tmp_path, two_faces_path, tiny_model_dir):
    import cloudpickle
    import dask

    from facecheck import cluster
    from facecheck.model.bundle import load_model

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers need not import this test module
    files = [write_image(tmp_path / f"img_{i:02d}.png", size=(48, 40)) for i in range(20)]
    files[5] = shutil.copy(two_faces_path, tmp_path / "img_05_poison.jpg")
    files[7] = shutil.copy(two_faces_path, tmp_path / "img_07.jpg")

    loaded = load_model(tiny_model_dir)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), cluster._local_client(2) as client:
        client.register_plugin(_KillOnPoison())
        results = list(cluster.scan_files(files, client, tiny_model_dir, loaded, Config(batch_files=8)))
    assert [r.source_file for r in results] == [str(f) for f in files]
    poison = results[5]
    assert poison.error.startswith(f"{files[5]}: the Dask worker scanning this file failed or died (KilledWorker)")
    assert [r.status for r in results if r is not poison] == ["no_face"] * 6 + ["faces"] + ["no_face"] * 12

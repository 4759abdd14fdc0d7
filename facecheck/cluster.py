"""Scan on a Dask cluster: batches of files are tasks, each worker process loads the bundle once, results
come back in input order.

Dask (`dask[distributed]`, the `facecheck[dask]` extra) is imported only here, only for `--dask`.
"""

from __future__ import annotations

import os
import re
from collections import deque
from contextlib import contextmanager
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Callable, ContextManager, Iterator

from .api import score_batch
from .config import Config
from .errors import ConfigError, FacecheckError, WeightsError
from .model.bundle import Model, bundle_sha256, is_shipped, load_model
from .model.verdict import VerdictRule
from .output.results import ScanResult
from .scan.prepare import prepare

REMEDY = 'pip install "facecheck[dask]"'
# Dask reruns a batch whose task raised this many times; a batch whose workers died is tried again
# file by file, so that only the file that kills a worker becomes an error row.
RETRIES = 1
_LOCAL = re.compile(r"local:([1-9][0-9]{0,2})")


def connector(address: str) -> Callable[[], ContextManager]:
    """A function opening a `distributed.Client` for `address`: `local:N` or a scheduler's `tcp://HOST:PORT`.

    Raises ConfigError for a malformed address, or when Dask is not installed (with the remedy).
    """
    local = _LOCAL.fullmatch(address)
    if not local and "://" not in address:
        raise ConfigError(f"--dask {address}: give a scheduler address (tcp://HOST:8786) or local:N (1 to 999 workers)")
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ConfigError(f"--dask needs Dask, which is not installed: {REMEDY}") from None
    if local:
        return lambda: _local_client(int(local[1]))
    return lambda: _remote_client(address)


@contextmanager
def _local_client(n_workers: int):
    """A LocalCluster of `n_workers` single-threaded worker processes, on loopback only, and its client."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


@contextmanager
def _remote_client(address: str):
    """A client of the scheduler at `address`; ConfigError when it cannot be reached."""
    from distributed import Client

    try:
        client = Client(address)  # connect timeout: distributed.comm.timeouts.connect (30 s)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--dask {address}: cannot reach the scheduler ({exc}); is `dask scheduler` running?") from None
    with client:
        yield client


def scan_files(files: list, client, model: str | os.PathLike | None, loaded: Model, config: Config) -> Iterator[ScanResult]:
    """Scan `files` on the cluster of `client`, `config.batch_files` per task, yielding one ScanResult per file in order.

    `loaded` is the client's copy of the bundle: every worker loads its own (`model`, else its own shipped
    one) and must find the same manifest sha256. At most four batches per worker thread are in flight.
    """

    if not files:
        return
    sha = bundle_sha256(loaded)
    threshold = VerdictRule.for_model(loaded, config).threshold  # of the error rows, as the workers' rows have it
    bundle = None if is_shipped(loaded.path) else str(Path(loaded.path).resolve())
    names = [str(f) for f in files]
    batches = iter([names[i:i + config.batch_files] for i in range(0, len(names), config.batch_files)])

    def submit(batch: list[str]):
        return batch, client.submit(_scan_batch, batch, bundle, sha, config, retries=RETRIES, pure=False)

    threads = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
    pending = deque(submit(b) for b in islice(batches, 4 * max(1, threads)))
    while pending:
        batch, future = pending.popleft()
        yield from _results(batch, future, submit, threshold)
        nxt = next(batches, None)
        if nxt is not None:
            pending.append(submit(nxt))


def _results(batch: list[str], future, submit, threshold: float) -> list[ScanResult]:
    """The batch's results; after a failure, each file on its own, and an error row for a file that fails alone."""
    try:
        return future.result()
    except FacecheckError:  # a worker without the bundle, or without the device: the scan stops
        raise
    except Exception as exc:  # KilledWorker, or the task raised after its retries
        if _lost_connection(exc):
            raise
        if len(batch) == 1:
            name = batch[0]
            return [ScanResult(name, error=f"{name}: the Dask worker scanning this file failed or died "
                                           f"({type(exc).__name__}); it may crash the decoder", threshold=threshold)]
        # One file at a time: a file that kills its worker then takes no other file's task down with it.
        return [r for name in batch for r in _results([name], submit([name])[1], submit, threshold)]


def _lost_connection(exc: BaseException) -> bool:
    """Whether a task failed because the client lost the cluster (then the scan stops; resume it later)."""
    from distributed.comm.core import CommClosedError

    return isinstance(exc, (CommClosedError, OSError, TimeoutError)) or type(exc).__name__ == "FutureCancelledError"


def _scan_batch(files: list[str], bundle: str | None, sha: str, config: Config) -> list[ScanResult]:
    """Task run on a worker: prepare then score a batch of files with the worker's copy of the bundle."""
    model = _worker_model(bundle, sha, config.device)
    return score_batch(files, [prepare(f, model.specs, config) for f in files], model, VerdictRule.for_model(model, config))


@lru_cache(maxsize=2)
def _worker_model(bundle: str | None, sha: str, device: str) -> Model:
    """The bundle, loaded once per worker process; WeightsError when it is not the client's (sha256 differs)."""

    model = load_model(bundle, device=device)
    if bundle_sha256(model) != sha:
        raise WeightsError(f"{model.path} on worker {os.uname().nodename}: not the client's model bundle "
                           f"(manifest sha256 {bundle_sha256(model)[:12]}..., client's {sha[:12]}...); "
                           "give every worker the same facecheck version and bundle")
    return model

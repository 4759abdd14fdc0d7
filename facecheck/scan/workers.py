"""How a batch uses the CPUs: joblib's loky worker processes, which prepare the files and exit when the
process that started them dies, and the compute threads (BLAS, torch) of the process that scores meanwhile.

loky keeps idle workers for reuse and they wait on a queue, so a scan killed by SIGKILL, the OOM killer or
a pre-emption used to leave them (and the resource trackers they keep open) running until a reboot. Each
worker now watches its parent: PR_SET_PDEATHSIG where Linux has it, and on every POSIX system a thread
that ends the worker within `WATCH_SECONDS` once its parent's pid is gone.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator

from ..config import Config
from .inputs import InputSpec
from .prepare import Prepared, prepare

WATCH_SECONDS = 0.5


def _exit_with_parent(parent: int) -> None:
    """loky worker initializer: end this process when `parent` is no longer its parent."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before this worker started
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="facecheck-parent-watch", daemon=True).start()


def parallel(n_jobs: int, **kwargs):
    """joblib.Parallel on loky worker processes that die with this process (kwargs: Parallel's)."""
    from joblib import Parallel  # imported here: a one-photo scan never starts workers
    from joblib._parallel_backends import LokyBackend

    backend = LokyBackend(initializer=_exit_with_parent, initargs=(os.getpid(),))
    return Parallel(n_jobs=n_jobs, backend=backend, **kwargs)


def prepare_files(files: list, specs: dict[str, InputSpec], config: Config = Config()) -> Iterator[Prepared]:
    """`prepare` every file for `specs`, in order; in `config.n_jobs` worker processes, which start at once,
    when there are more files than one batch (else here, as the results are read)."""
    if config.n_jobs > 1 and len(files) > config.batch_files:
        from joblib import delayed

        # dlib's detector holds the GIL, so threads run it one at a time (slower than serial, measured):
        # worker processes prepare the files, in order, while this process runs the networks.
        return parallel(config.n_jobs, return_as="generator", batch_size=2)(delayed(prepare)(f, specs, config) for f in files)
    return (prepare(f, specs, config) for f in files)


@contextmanager
def compute_threads(n: int) -> Iterator[None]:
    """Run the block with `n` threads for numpy's BLAS and, where torch is loaded, torch (restored after).

    While worker processes keep the cores busy, a thread pool waits for cores it cannot get: on two busy
    cores the appearance CNN took 0.37-1.1 s per face with two torch threads and 0.017 s with one (measured).
    """
    if n < 1:
        yield
        return
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(n)
    try:
        with threadpool_limits(n, user_api="blas"):
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(before)


@lru_cache(maxsize=1)
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()  # finding the libraries takes about 1 ms; limiting with it, 20 us


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block with numpy's BLAS on one thread: float32 products then sum in one order, so a face's
    features do not depend on how many threads the caller allows (1 and 2 threads differed by 5e-7, measured)."""
    with _controller().limit(limits=1, user_api="blas"):
        yield

"""Worker processes: joblib's loky pool, whose workers exit when the process that started them dies.

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

from joblib import Parallel
from joblib._parallel_backends import LokyBackend

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


def parallel(n_jobs: int, **kwargs) -> Parallel:
    """joblib.Parallel on loky worker processes that die with this process (kwargs: Parallel's)."""
    backend = LokyBackend(initializer=_exit_with_parent, initargs=(os.getpid(),))
    return Parallel(n_jobs=n_jobs, backend=backend, **kwargs)

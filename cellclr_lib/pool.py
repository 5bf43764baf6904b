"""Ordered, bounded parallel map over worker processes that never outlive the command, however it ends.

One helper for every parallel step (``prep``, ``synth``, the handcrafted baseline), with one meaning of
``workers``: the number of processes doing the work. ``workers <= 1`` runs in this process, without a pool.

Why a helper rather than ``multiprocessing.Pool``: ``Pool`` waits for ever when a worker dies mid-task and can
hang in ``terminate()`` after Ctrl-C, and ``ProcessPoolExecutor.map`` submits every task at once (a whole
memory-mapped store pickled into the queue). Here:

* **Bounded and ordered.** At most ``in_flight`` tasks are pending; results come back in input order.
* **Ctrl-C and SIGTERM** are handled by the main process only: workers ignore both (a terminal sends SIGINT to
  the whole process group), so the main process decides, kills every worker (SIGKILL) and reaps it before the
  exception propagates. No zombie, no orphan, no waiting for a task to finish.
* **SIGKILL of the main process.** Workers ask the kernel for ``PR_SET_PDEATHSIG`` = SIGKILL (Linux), and
  check after asking that their parent is still the one that started them (it may have died before).
* A worker that dies (OOM killer) surfaces as :class:`~concurrent.futures.process.BrokenProcessPool`, never
  as a hang.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

_PR_SET_PDEATHSIG = 1


def _worker_init(parent: int) -> None:
    """Runs first in every worker: leave interrupts to the parent, die with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)


class WorkerPool:
    """``with WorkerPool(workers) as pool: for r in pool.map(fn, items): ...`` — see the module docstring."""

    def __init__(self, workers: int, in_flight: int | None = None) -> None:
        self.workers = int(workers)
        self.in_flight = in_flight or 2 * self.workers
        self._executor: ProcessPoolExecutor | None = None
        if self.workers > 1:
            self._executor = ProcessPoolExecutor(
                self.workers, initializer=_worker_init, initargs=(os.getpid(),)
            )

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        """``fn`` over ``items``, results in order; at most ``in_flight`` tasks submitted ahead."""
        if self._executor is None:
            yield from map(fn, items)
            return
        pending: deque = deque()
        for item in items:
            pending.append(self._executor.submit(fn, item))
            if len(pending) >= self.in_flight:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(ok=exc_type is None)

    def close(self, ok: bool = True) -> None:
        """Shut down: wait for the workers after success, kill and reap them at once after any failure."""
        if self._executor is None:
            return
        executor, self._executor = self._executor, None
        if not ok:
            # ProcessPoolExecutor has no public kill before Python 3.14 (terminate_workers): use its table.
            for process in list(getattr(executor, "_processes", {}).values()):
                with contextlib.suppress(OSError, ValueError):
                    process.kill()
        executor.shutdown(wait=True, cancel_futures=True)

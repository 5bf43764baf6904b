"""Ordered, bounded parallel map over worker processes that never outlive the command, however it ends.

One helper for every parallel step (``prep``, ``synth``, the handcrafted baseline), with one meaning of
``workers``: the number of processes doing the work. ``workers <= 1`` runs in this process, without a pool.

Why not ``multiprocessing.Pool`` or ``ProcessPoolExecutor``: both move tasks and results through queues served
by background threads, and both can block for ever when a worker dies mid-transfer — ``Pool`` waits for a
result that never comes, ``ProcessPoolExecutor``'s shutdown joins a thread stuck in ``recv`` of a half-sent
result (a killed worker's crops) or in ``send`` to a pipe nobody reads. That is the Ctrl-C hang of issue #11.
Here there are no threads: each worker has its own pipe, and the main process alone decides.

* **Ordered and bounded.** A task goes to an *idle* worker only (one that is waiting in ``recv``), so neither
  side can block the other on a full pipe; at most ``in_flight`` results wait to be yielded in input order.
* **Ctrl-C** is handled by the main process only: workers ignore SIGINT (a terminal sends it to the whole
  process group), and on any exception the main process kills (SIGKILL) and reaps every worker before the
  exception propagates. No zombie, no orphan, no waiting for a task to finish. SIGTERM keeps its default in
  workers (it ends them), so even a pool left open at interpreter exit is ended by ``multiprocessing``.
* **SIGKILL of the main process.** Workers ask the kernel for ``PR_SET_PDEATHSIG`` = SIGKILL (Linux), and exit
  if their parent is already gone by then; elsewhere they exit when their pipe reaches end of file.
* **A worker that dies** (the OOM killer) is an error naming it, never a hang: its pipe reaches end of file.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection, wait
from typing import Any

from cellclr_lib.errors import DataError

_PR_SET_PDEATHSIG = 1


def _worker(conn: Connection, parent: int) -> None:
    """A worker's life: leave Ctrl-C to the parent, die with it, run tasks until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler inherited through fork
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        fn, item = task
        try:
            result = ("ok", fn(item))
        except Exception as err:  # sent back and raised in the parent
            result = ("error", err)
        try:
            conn.send(result)
        except Exception as err:  # e.g. an unpicklable exception: send what it said
            conn.send(("error", RuntimeError(f"{type(err).__name__}: {err}")))


class WorkerPool:
    """``with WorkerPool(workers) as pool: for r in pool.map(fn, items): ...`` — see the module docstring."""

    def __init__(self, workers: int, in_flight: int | None = None) -> None:
        self.workers = int(workers)
        self.in_flight = max(in_flight or 2 * self.workers, self.workers)
        self._procs: list[multiprocessing.process.BaseProcess] = []
        self._conns: list[Connection] = []
        self._busy: dict[int, int] = {}  # worker -> index of the task it holds
        if self.workers <= 1:
            return
        try:
            self._start()
        except BaseException:
            self.close(ok=False)
            raise

    def _start(self) -> None:
        context = multiprocessing.get_context()
        for _ in range(self.workers):
            mine, theirs = context.Pipe(duplex=True)
            proc = context.Process(target=_worker, args=(theirs, os.getpid()), daemon=True)
            self._conns.append(mine)
            proc.start()
            self._procs.append(proc)
            theirs.close()  # only the worker holds its end: its death reads as end of file here

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        """``fn`` over ``items`` in worker processes; results in input order.

        Leaving the loop early is allowed: the tasks still running are waited for and their results dropped.
        """
        if not self._procs:
            yield from map(fn, items)
            return
        try:
            yield from self._ordered(fn, enumerate(items))
        except GeneratorExit:
            while self._busy:
                self._collect({})
            raise

    def _ordered(self, fn: Callable[[Any], Any], tasks: Iterator[tuple[int, Any]]) -> Iterator[Any]:
        done: dict[int, tuple[str, Any]] = {}
        submitted = yielded = 0
        exhausted = False
        while True:
            idle = [w for w in range(self.workers) if w not in self._busy]
            while idle and not exhausted and submitted - yielded < self.in_flight:
                task = next(tasks, None)
                if task is None:
                    exhausted = True
                    break
                worker = idle.pop()
                self._conns[worker].send((fn, task[1]))
                self._busy[worker] = task[0]
                submitted += 1
            while yielded in done:
                status, value = done.pop(yielded)
                yielded += 1
                if status == "error":
                    raise value
                yield value
            if exhausted and yielded == submitted:
                return
            if self._busy and yielded not in done:
                self._collect(done)

    def _collect(self, done: dict[int, tuple[str, Any]]) -> None:
        """Wait for at least one busy worker to answer (or die) and file its result under its task's index."""
        ready = wait([self._conns[w] for w in self._busy] + [self._procs[w].sentinel for w in self._busy])
        for worker in list(self._busy):
            conn = self._conns[worker]
            if conn in ready or self._procs[worker].sentinel in ready:
                try:
                    done[self._busy.pop(worker)] = conn.recv()
                except (EOFError, OSError):
                    raise DataError(
                        f"worker process {self._procs[worker].pid} died while working "
                        f"(exit code {self._procs[worker].exitcode}; out of memory?)",
                        fix="rerun with fewer --workers: finished steps are kept",
                    ) from None

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(ok=exc_type is None)

    def close(self, ok: bool = True) -> None:
        """Stop the workers: ask idle ones to leave after success, kill them at once otherwise; reap all."""
        graceful = ok and not self._busy
        for proc, conn in zip(self._procs, self._conns, strict=False):
            if graceful:
                with contextlib.suppress(OSError):
                    conn.send(None)
            else:
                proc.kill()
        for proc in self._procs:
            proc.join()
        for conn in self._conns:
            conn.close()
        self._procs, self._conns, self._busy = [], [], {}

"""The one worker pool (:mod:`cellclr_lib.pool`): order, bounds, errors, dead workers and clean shutdown."""

from __future__ import annotations

import os
import time

import pytest

from cellclr_lib.errors import DataError
from cellclr_lib.pool import WorkerPool

pytestmark = pytest.mark.timeout(60)


def _square_slowly_first(x: int) -> tuple[int, int]:
    """Early items take longest, so results arrive out of order and must be put back in order."""
    time.sleep(0.05 if x < 2 else 0)
    return x * x, os.getpid()


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError(f"bad item {x}")
    return x


def _die(x: int) -> int:
    os._exit(3)


def _pid(x: int) -> int:
    return os.getpid()


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_results_come_back_in_order(workers):
    with WorkerPool(workers) as pool:
        results = list(pool.map(_square_slowly_first, range(20)))
    assert [r for r, _ in results] == [x * x for x in range(20)]
    pids = {pid for _, pid in results}
    assert (pids == {os.getpid()}) == (workers <= 1)  # workers <= 1: this process, no pool
    assert workers <= 1 or len(pids) > 1


def test_a_task_error_is_raised_in_the_caller_and_workers_are_reaped():
    pool = WorkerPool(2)
    procs = list(pool._procs)
    with pytest.raises(ValueError, match="bad item 3"), pool:
        list(pool.map(_fail_on_three, range(10)))
    assert all(p.exitcode is not None for p in procs)


def test_a_dead_worker_is_an_error_not_a_hang():
    with pytest.raises(DataError, match="died while working"), WorkerPool(2) as pool:
        list(pool.map(_die, range(4)))


def test_the_pool_is_reusable_and_items_are_consumed_lazily():
    consumed = []

    def items():
        for i in range(100):
            consumed.append(i)
            yield i

    with WorkerPool(2, in_flight=4) as pool:
        first = next(iter(pool.map(_pid, items())))
        assert len(consumed) <= 5  # bounded: not the whole input at once
        assert list(pool.map(_square_slowly_first, [4, 5]))[1][0] == 25
    assert first != os.getpid()


def test_closing_after_success_lets_workers_exit_on_their_own():
    pool = WorkerPool(2)
    procs = list(pool._procs)
    with pool:
        assert len(list(pool.map(_pid, range(6)))) == 6
    assert [p.exitcode for p in procs] == [0, 0]

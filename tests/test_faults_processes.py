"""Fault injection, processes: one writer per folder, and interrupts that leave no process behind.

Commands run as real subprocesses in their own session, and signals go to the whole process group the way a
terminal sends Ctrl-C. The process table (``/proc``) is then checked: no worker may outlive the command, as an
orphan or as a zombie. The test process makes itself a child subreaper for these tests, so an orphaned worker
is re-parented to it (visible and reapable here) whatever PID 1 of the machine does. Kill points vary by
waiting for the workers to exist and then a little longer; nothing asserts a duration.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_train import make_store

from cellclr_lib import cli
from cellclr_lib.data.synth import generate
from cellclr_lib.lock import folder_lock, lock_path

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and uses prctl"),
]

CELLCLR = [sys.executable, "-m", "cellclr_lib.cli"]
_PR_SET_CHILD_SUBREAPER = 36
#: generous bound on how long a dying command may take: only a hang exceeds it
HANG = 90


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny stand-in: 93 fields, enough for ``prep --workers 2`` to run several seconds."""
    return generate(tmp_path_factory.mktemp("synth") / "raw", preset="tiny", workers=2, progress=False)


@pytest.fixture
def subreaper() -> Iterator[None]:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1)
    try:
        yield
    finally:
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 0)
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass


def _group(pgid: int) -> dict[int, str]:
    """pid -> state letter of every process in the process group ``pgid``."""
    found = {}
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                found[int(stat_file.parent.name)] = fields[0]
    return found


def _start(argv: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [*CELLCLR, *argv],
        start_new_session=True,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for_workers(proc: subprocess.Popen, n: int = 2) -> list[int]:
    """Block until ``proc`` has ``n`` live children in its group (its pool is up); their pids."""
    deadline = time.monotonic() + HANG
    while time.monotonic() < deadline:
        workers = [pid for pid, state in _group(proc.pid).items() if pid != proc.pid and state != "Z"]
        if len(workers) >= n:
            return workers
        assert proc.poll() is None, f"exited before its workers started: {proc.communicate()}"
        time.sleep(0.05)
    raise AssertionError("the worker pool never started")


def _assert_group_gone(pgid: int, *, wait: bool) -> None:
    """No process of the group is left alive (an orphan); zombies re-parented to us are reaped."""
    deadline = time.monotonic() + (HANG if wait else 0)
    while True:
        for pid, state in _group(pgid).items():
            if state == "Z":
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
        left = _group(pgid)
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    assert left == {}, f"processes left behind: {left}"


# ----------------------------------------------------------------------------------------- interrupts


@pytest.mark.parametrize("delay", [0.0, 0.5, 1.5])
def test_ctrl_c_stops_prep_workers_at_any_point(delay, raw, tmp_path, subreaper):
    proc = _start(["prep", "--data", str(raw), "--out", str(tmp_path / "st"), "--workers", "2", "--quiet"])
    _wait_for_workers(proc)
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C: the whole foreground group
    out, err = proc.communicate(timeout=HANG)
    _assert_group_gone(proc.pid, wait=False)  # killed and reaped before the command exited
    assert proc.returncode == 130, err
    assert "interrupted; finished steps are kept" in err and "Traceback" not in err
    assert not list((tmp_path / "st").rglob(".*.tmp-*")), "temporaries of the interrupted write left"


@pytest.mark.parametrize("target", ["group", "parent"])
def test_sigterm_stops_prep_with_143(target, raw, tmp_path, subreaper):
    proc = _start(["prep", "--data", str(raw), "--out", str(tmp_path / "st"), "--workers", "2", "--quiet"])
    _wait_for_workers(proc)
    if target == "group":
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        os.kill(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=HANG)
    _assert_group_gone(proc.pid, wait=False)
    assert proc.returncode == 143, err
    assert "terminated; finished steps are kept" in err


def test_ctrl_c_stops_synth_workers(tmp_path, subreaper):
    proc = _start(["synth", "--out", str(tmp_path / "syn"), "--workers", "2"])
    _wait_for_workers(proc)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=HANG)
    _assert_group_gone(proc.pid, wait=False)
    assert proc.returncode == 130, err


@pytest.mark.parametrize("command", ["synth", "prep"])
def test_sigkill_of_the_parent_takes_its_workers_along(command, raw, tmp_path, subreaper):
    argv = {
        "synth": ["synth", "--out", str(tmp_path / "syn"), "--workers", "2"],
        "prep": ["prep", "--data", str(raw), "--out", str(tmp_path / "st"), "--workers", "2", "--quiet"],
    }[command]
    proc = _start(argv)
    workers = _wait_for_workers(proc)
    os.kill(proc.pid, signal.SIGKILL)  # no cleanup can run: the workers must notice on their own
    proc.communicate(timeout=HANG)
    _assert_group_gone(proc.pid, wait=True)
    assert all(not Path(f"/proc/{pid}").exists() for pid in workers)


def test_interrupted_prep_resumes_after_ctrl_c(raw, tmp_path, subreaper):
    out = tmp_path / "st"
    proc = _start(["prep", "--data", str(raw), "--out", str(out), "--workers", "2", "--quiet"])
    _wait_for_workers(proc)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)
    proc.communicate(timeout=HANG)
    _assert_group_gone(proc.pid, wait=False)
    done = subprocess.run(
        [*CELLCLR, "prep", "--data", str(raw), "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "crop store" in done.stdout


# ------------------------------------------------------------------------------------------------ locks


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("store") / "s", {"Week1_1": 24})


@pytest.mark.parametrize("command", ["synth", "download", "prep", "train", "embed", "baseline"])
def test_every_folder_writer_refuses_a_second_writer(command, store, tmp_path, capsys):
    out = tmp_path / "out"
    argv = {
        "synth": ["synth", "--out", str(out)],
        "download": ["download", "--out", str(out), "--metadata-only", "--base-url", "http://127.0.0.1:9/"],
        "prep": ["prep", "--data", str(tmp_path), "--out", str(out)],
        "train": ["train", "--store", str(store), "--out", str(out)],
        "embed": ["embed", "--checkpoint", "c.pt", "--store", str(store), "--out", str(out)],
        "baseline": ["baseline", "random", "--store", str(store), "--out", str(out)],
    }[command]
    with folder_lock(tmp_path / "x" / ".." / "out", command="the test"):  # another spelling of the folder
        assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"{out}: another cellclr run is writing this folder (PID {os.getpid()}: the test)" in err
    assert not out.exists()


def test_a_second_process_is_told_the_holders_pid_and_a_dead_holder_is_taken_over(store, tmp_path, capsys):
    out = tmp_path / "run"
    script = "import sys, time\nfrom cellclr_lib.lock import folder_lock\nwith folder_lock(sys.argv[1], 'cellclr train'):\n    print('held', flush=True)\n    time.sleep(600)\n"
    holder = subprocess.Popen([sys.executable, "-c", script, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        argv = ["train", "--store", str(store), "--out", str(out)]
        argv += ["--epochs", "1", "--batch-size", "8", "--size", "12", "--no-progress", "--device", "cpu"]
        assert cli.main(argv) == 2
        assert f"writing this folder (PID {holder.pid}: cellclr train)" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    assert f"PID {holder.pid}" in lock_path(out).read_text()  # the dead holder's lock file is still there
    assert cli.main(argv) == 0  # and is taken over
    assert (out / "checkpoints/last.pt").is_file()


def test_two_concurrent_preps_one_runs_one_is_refused(raw, tmp_path):
    argv = ["prep", "--data", str(raw), "--out", str(tmp_path / "st"), "--quiet"]
    first = _start(argv)
    deadline = time.monotonic() + HANG
    while not lock_path(tmp_path / "st").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    second = _start(argv)
    results = [p.communicate(timeout=300) for p in (first, second)]
    assert sorted([first.returncode, second.returncode]) == [0, 2], results
    refused = results[[first.returncode, second.returncode].index(2)][1]
    assert "another cellclr run is writing this folder" in refused and "Traceback" not in refused


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Enough cells for the handcrafted baseline and training to run a few seconds."""
    return make_store(tmp_path_factory.mktemp("big") / "s", {"Week1_1": 1500, "Week2_2": 1500}, size=32)


def test_ctrl_c_stops_the_handcrafted_baseline_workers(big_store, tmp_path, subreaper):
    out = tmp_path / "fs"
    proc = _start(["baseline", "handcrafted", "--store", str(big_store), "--out", str(out), "--workers", "2"])
    _wait_for_workers(proc)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=HANG)
    _assert_group_gone(proc.pid, wait=False)
    assert proc.returncode == 130, err
    assert not (out / "features.json").exists()  # nothing claims to be complete


def test_ctrl_c_during_training_keeps_the_last_checkpoint_and_no_temporary(big_store, tmp_path):
    run = tmp_path / "run"
    argv = [
        *["train", "--store", str(big_store), "--out", str(run)],
        *["--epochs", "50", "--batch-size", "32", "--max-cells", "64", "--size", "16"],
        *["--no-progress", "--device", "cpu", "--checkpoint-every", "0"],
    ]
    proc = _start(argv)
    deadline = time.monotonic() + HANG
    while not (run / "checkpoints/last.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=HANG)
    assert proc.returncode == 130, err
    assert _group(proc.pid) == {}
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["last.pt"]
    resumed = subprocess.run(
        [*CELLCLR, *argv, "--resume", "--epochs", "50", "--stop-after-epochs", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr

"""Progress bars show in terminals and interactive notebooks, and stay out of captured output."""

from __future__ import annotations

import sys

import pytest

from cellclr_lib import progress


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A terminal on standard error and no switch set: the case where a bar is wanted."""
    monkeypatch.delenv(progress.DISABLE_VARIABLE, raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    return monkeypatch


def test_a_terminal_gets_a_bar(watched: pytest.MonkeyPatch) -> None:
    with progress.progress_bar(range(3), file=sys.stdout) as bar:
        assert not bar.disable
        assert list(bar) == [0, 1, 2]


def test_the_caller_and_the_environment_switch_bars_off(watched: pytest.MonkeyPatch) -> None:
    assert progress.progress_bar(range(3), disable=True).disable
    watched.setenv(progress.DISABLE_VARIABLE, "1")
    assert progress.progress_bar(range(3)).disable
    watched.setenv(progress.DISABLE_VARIABLE, "0")
    assert not progress.progress_bar(range(3), file=sys.stdout).disable


def test_captured_output_gets_no_bar_but_a_notebook_kernel_does(watched: pytest.MonkeyPatch) -> None:
    watched.setattr(sys.stderr, "isatty", lambda: False)
    assert not progress.in_jupyter_kernel()
    assert progress.progress_bar(range(3)).disable, "a log file or a pipe: nobody watches"
    watched.setattr(progress, "in_jupyter_kernel", lambda: True)
    bar = progress.progress_bar(range(3), file=sys.stdout)
    assert not bar.disable, "interactive Jupyter shows progress"
    bar.close()


def test_the_library_creates_bars_only_through_the_helper() -> None:
    from cellclr_book.runner import ROOT

    offenders = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "cellclr_lib").rglob("*.py")
        if path.name != "progress.py" and "tqdm(" in path.read_text().replace("progress_bar(", "")
    ]
    assert offenders == []

"""One exception type for every user-facing failure.

The CLI catches :class:`CellclrError` and prints its message without a traceback (unless ``--debug``), so
every message must say *which file* (or option) is wrong and *how to fix it*. The exit status tells scripts
what kind of failure it was: 2 for a wrong command line (:class:`UsageError`, and plain
:class:`CellclrError` for compatibility), 1 for bad data (:class:`DataError`), 130/143 for Ctrl-C/SIGTERM.
"""

from __future__ import annotations

from pathlib import Path


class CellclrError(Exception):
    """A problem the user can fix: bad input, a missing file, an interrupted step.

    ``exit_code`` is what the CLI returns: 2 (usage) unless a subclass says otherwise; :class:`DataError`
    (corrupt or inconsistent data, a full disk) returns 1.
    """

    exit_code = 2

    def __init__(self, message: str, *, path: str | Path | None = None, fix: str | None = None) -> None:
        parts = [f"{path}: {message}" if path is not None else message]
        if fix:
            parts.append(f"Fix: {fix}")
        super().__init__("\n".join(parts))
        self.path = Path(path) if path is not None else None
        self.fix = fix


def require(checks: list[tuple[bool, str]], *, fix: str, prefix: str = "") -> None:
    """Raise :class:`CellclrError` for the first failed ``(condition, message)``: one rule for config checks."""
    for ok, message in checks:
        if not ok:
            raise CellclrError(prefix + message, fix=fix)


class UsageError(CellclrError):
    """A wrong option or argument: the command line must change (exit status 2, like argparse's own errors)."""

    exit_code = 2


class DataError(CellclrError):
    """Input or output data that is corrupt, inconsistent or cannot be written (exit status 1)."""

    exit_code = 1


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so every ``except KeyboardInterrupt``/``finally`` cleanup runs (exit 143)."""

"""One exception type for every user-facing failure.

The CLI catches :class:`CellclrError` and prints its message without a traceback, so every message must say
*which file* (or option) is wrong and *how to fix it*.
"""

from __future__ import annotations

from pathlib import Path


class CellclrError(Exception):
    """A problem the user can fix: bad input, a missing file, an interrupted step."""

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

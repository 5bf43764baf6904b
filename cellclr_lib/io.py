"""Atomic file writes: a file either holds its complete new content or its old one, never a torn half.

Every artefact (CSV, parquet, JSON, checkpoints, arrays) is written to a temporary sibling and moved into place
with :func:`os.replace`, which is atomic on POSIX and Windows within one file system. A run killed mid-write
therefore leaves only a stray ``*.tmp-*`` file, which the next run ignores and overwrites.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from cellclr_lib.errors import CellclrError


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success move it over ``target``, on error delete it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.tmp-", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(target: str | Path, text: str) -> Path:
    """Write ``text`` to ``target`` atomically and return the path."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def write_json_atomic(target: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented, key-sorted JSON (stable diffs between runs)."""
    return write_text_atomic(target, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_table_atomic(target: str | Path, table: pd.DataFrame) -> Path:
    """Write a DataFrame as parquet (``.parquet``) or CSV (anything else), atomically, without the index."""
    target = Path(target)
    with atomic_path(target) as tmp:
        if target.suffix == ".parquet":
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False)
    return target


def sync_generated_block(page: str | Path, start: str, end: str, body: str, *, write: bool = False) -> bool:
    """Whether the text between the ``start`` and ``end`` marker lines of ``page`` is ``body``; rewrite if ``write``.

    Book pages show numbers the library computes (tables, plate lists): a test calls this without ``write`` so
    a page cannot drift from the code, and a maintainer calls it with ``write=True`` to regenerate it.
    """
    page = Path(page)
    text = page.read_text(encoding="utf-8")
    before, found_start, rest = text.partition(start)
    _, found_end, after = rest.partition(end)
    if not found_start or not found_end:
        raise CellclrError(f"markers {start!r} … {end!r} not found", path=page, fix="restore them")
    fresh = f"{before}{start}\n{body}\n{end}{after}"
    if write and fresh != text:
        write_text_atomic(page, fresh)
    return fresh == text


def _json_default(obj: Any) -> Any:
    """Make numpy scalars, arrays and paths JSON-serialisable."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serialisable")

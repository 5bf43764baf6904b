"""Atomic file writes: a file either holds its complete new content or its old one, never a torn half.

Every artefact (CSV, parquet, JSON, checkpoints, arrays) is written to a temporary sibling and moved into place
with :func:`os.replace`, which is atomic on POSIX and Windows within one file system. A run killed mid-write
therefore leaves only a stray ``.<name>.tmp-<pid>-*`` file; the next write of the same file removes it once
the process named in it is gone. The finished file gets the permissions a plain ``open`` would give it
(``0666`` less the umask), not ``mkstemp``'s private ``0600``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from cellclr_lib.errors import CellclrError, DataError


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success move it over ``target``, on error delete it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_orphan_temporaries(target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_orphan_temporaries(target: str | Path) -> list[Path]:
    """Delete ``target``'s temporary siblings whose writing process no longer exists (killed mid-write).

    Temporaries of a live process are kept: it may still be writing them.
    """
    target = Path(target)
    removed = []
    for tmp in target.parent.glob(f".{target.name}.tmp-*"):
        pid = tmp.name.rsplit(".tmp-", 1)[1].split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists (possibly another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        pass
    return True


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (``/proc``: no race with threads)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        status = Path("/proc/self/status").read_text().splitlines()
        return int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def read_json(path: str | Path, *, fix: str) -> Any:
    """Parse a JSON file this library wrote, or raise :class:`DataError` naming it (truncated, edited, binary)."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f"corrupt JSON ({err})", path=path, fix=fix) from err


def confined_path(root: str | Path, relative: str, *, source: str | Path) -> Path:
    """``root / relative``, refused unless it stays inside ``root`` (no ``..``, absolute path or symlink out).

    For paths read from files we did not write (a downloaded CSV, a zip): a hostile or broken mirror must not
    make us write outside the folder the user chose. ``source`` names the file the path came from.
    """
    parts = Path(relative).parts
    root_real = Path(root).resolve()
    if not relative or Path(relative).is_absolute() or ".." in parts or "\\" in relative:
        raise DataError(
            f"refusing the path {relative!r}: it is absolute or climbs out of {root}",
            path=source,
            fix="use the BBBC021 metadata as the Broad distributes it (relative folder and file names)",
        )
    candidate = root_real.joinpath(*parts)
    if not candidate.resolve().is_relative_to(root_real):
        raise DataError(
            f"refusing the path {relative!r}: a symbolic link leads it out of {root}",
            path=source,
            fix=f"remove the symbolic link under {root} or choose another --out",
        )
    return Path(root) / relative


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

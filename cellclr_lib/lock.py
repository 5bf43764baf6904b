"""One writer per output folder: an advisory lock held for the whole run of a command that writes a folder.

Two ``cellclr train`` into one ``--out`` interleave their metrics and overwrite each other's checkpoints; two
``cellclr prep`` delete each other's shards. Every command that writes a folder therefore takes
:func:`folder_lock` first, and a second one stops at once with a message naming the folder and the holder.

Mechanism: ``fcntl.flock`` on a small file *beside* the folder (``.<name>.cellclr-lock`` in its parent), not in
it, so the folder's contents stay exactly what the command writes (resume checks look at them). The kernel
releases the lock when its holder dies however it dies (SIGKILL, power loss of a local disk), so a stale lock
never blocks anyone and needs no PID heuristics: the next run simply takes it over. The holder's PID is written
into the file only to tell the user who holds it. ``flock`` is local-only on some network file systems; there
it degrades to no lock, which is what there was before.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from cellclr_lib.errors import UsageError


def lock_path(folder: str | Path) -> Path:
    """The lock file of ``folder``: a hidden sibling, one per resolved folder (``a/../b`` and ``b`` share it)."""
    folder = Path(folder).resolve()
    return folder.parent / f".{folder.name}.cellclr-lock"


@contextlib.contextmanager
def folder_lock(folder: str | Path, command: str = "cellclr") -> Iterator[Path]:
    """Hold the writer's lock of ``folder`` for the duration of the block.

    Raises :class:`UsageError` naming the folder and the holder's PID when another process holds it.
    """
    path = lock_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "an unknown process"
            raise UsageError(
                f"another cellclr run is writing this folder ({holder})",
                path=folder,
                fix="wait for it to finish (or stop it), or choose another --out",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"PID {os.getpid()}: {command}".encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock

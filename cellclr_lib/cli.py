"""The cellclr command line: one subcommand per step of the pipeline.

Each subcommand lives in the module that does the work, which exposes two functions:
``add_arguments(parser)`` and ``main(args) -> int``. Modules are imported only when their command runs, so
``cellclr evaluate`` never imports torch and ``cellclr --help`` is instant. The notebooks call the very same
library functions that these ``main`` functions call: nothing is implemented twice.

One error path: every expected failure is a :class:`~cellclr_lib.errors.CellclrError` (or an ``OSError``
such as a full disk) and ends in one message naming the file or option and the fix, exit status 2 for usage
and 1 for data (``--debug`` adds the traceback); Ctrl-C exits 130 and SIGTERM 143, after the same cleanup.
A command that writes a folder holds that folder's lock (:mod:`cellclr_lib.lock`) for its whole run.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from types import FrameType

from cellclr_lib import __version__
from cellclr_lib.errors import CellclrError, Terminated
from cellclr_lib.lock import folder_lock

#: subcommand -> (module implementing it, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("cellclr_lib.data.synth", "write the synthetic BBBC021 stand-in in BBBC021's on-disk format"),
    "download": ("cellclr_lib.data.download", "download BBBC021 metadata and plate zips (resumable)"),
    "prep": ("cellclr_lib.data.prep", "illumination-correct fields, detect nuclei and build a crop store"),
    "train": ("cellclr_lib.train", "train a SimCLR encoder on a crop store (CPU, one GPU or torchrun DDP)"),
    "embed": ("cellclr_lib.embed", "embed every crop of a store with a trained checkpoint"),
    "baseline": ("cellclr_lib.baselines", "compute per-cell features of a baseline method"),
    "evaluate": ("cellclr_lib.evaluate", "NSC / NSCB / drop 1-NN MoA evaluation of profiles"),
    "compare": ("cellclr_lib.compare", "evaluate several feature sets and normalisations in one table"),
    "run-notebooks": ("cellclr_book.runner", "execute every notebook with papermill under a profile"),
}
#: commands whose ``--out`` is a folder they write: its lock is held for the whole run
WRITES_OUT_FOLDER = frozenset({"synth", "download", "prep", "train", "embed", "baseline"})
_DEBUG_HELP = "show the full traceback of an error (for bug reports)"
#: errno -> (what happened, how to fix it) for the OS errors a user can fix
_OS_FIXES = {
    errno.ENOSPC: (
        "no space left on the device",
        "free disk space or choose an --out on another disk, then rerun",
    ),
    errno.EDQUOT: ("disk quota exceeded", "free space within your quota, then rerun"),
    errno.EACCES: (
        "permission denied",
        "check the permissions of this file or folder, or choose another path",
    ),
    errno.EPERM: (
        "operation not permitted",
        "check the permissions of this file or folder, or choose another path",
    ),
    errno.EROFS: ("read-only file system", "choose an --out on a writable disk"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Build the parser; only ``command``'s module is imported to add its options."""
    parser = argparse.ArgumentParser(prog="cellclr", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"cellclr {__version__}")
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        sub_parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=_DEBUG_HELP)
        if name == command:
            importlib.import_module(module_name).add_arguments(sub_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cellclr`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    try:
        args = build_parser(command if command in COMMANDS else None).parse_args(argv)
    except SystemExit as done:  # --help, --version, or a wrong option (argparse printed why): 0 or 2
        return int(done.code or 0)
    module = importlib.import_module(COMMANDS[args.command][0])
    name = f"cellclr {args.command}"
    try:
        with _sigterm_as_interrupt(), _output_lock(args):
            return int(module.main(args) or 0)
    except CellclrError as err:
        return _fail(args, f"{name}: error: {err}", err.exit_code)
    except OSError as err:
        return _fail(args, f"{name}: error: {_os_message(err)}", 1)
    except Terminated:
        return _fail(args, f"{name}: terminated; finished steps are kept, rerun to resume", 143)
    except KeyboardInterrupt:
        return _fail(args, f"{name}: interrupted; finished steps are kept, rerun to resume", 130)


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    """Print one message (the traceback first under ``--debug``) and return the exit status."""
    if getattr(args, "debug", False):
        traceback.print_exc()
    print(message, file=sys.stderr)
    return code


def _os_message(err: OSError) -> str:
    """``FILE: what happened`` plus the fix, for an OS error such as a full disk or a denied permission."""
    what, fix = _OS_FIXES.get(err.errno, (err.strerror or str(err), "rerun with --debug for details"))
    where = f"{err.filename}: " if err.filename else ""
    return f"{where}{what}\nFix: {fix}"


@contextlib.contextmanager
def _output_lock(args: argparse.Namespace) -> Iterator[None]:
    """Hold the lock of the folder the command writes, if it writes one."""
    if args.command not in WRITES_OUT_FOLDER:
        yield
        return
    with folder_lock(args.out, command=f"cellclr {args.command}"):
        yield


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` (a KeyboardInterrupt), so it gets Ctrl-C's cleanup."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    raise SystemExit(main())

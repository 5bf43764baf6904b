"""The cellclr command line: one subcommand per step of the pipeline.

Each subcommand lives in the module that does the work, which exposes two functions:
``add_arguments(parser)`` and ``main(args) -> int``. Modules are imported only when their command runs, so
``cellclr evaluate`` never imports torch and ``cellclr --help`` is instant. The notebooks call the very same
library functions that these ``main`` functions call: nothing is implemented twice.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from cellclr_lib import __version__
from cellclr_lib.errors import CellclrError

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
    "run-notebooks": ("cellclr_lib.notebook_runner", "execute every notebook with papermill under a profile"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Build the parser; only ``command``'s module is imported to add its options."""
    parser = argparse.ArgumentParser(prog="cellclr", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"cellclr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            importlib.import_module(module_name).add_arguments(sub_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cellclr`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command if command in COMMANDS else None).parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.main(args) or 0)
    except CellclrError as err:
        print(f"cellclr {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"cellclr {args.command}: interrupted; finished steps are kept, rerun to resume", file=sys.stderr
        )
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

"""Option types for argparse: a wrong value is refused while parsing, with exit status 2, naming the option.

``--max-cells 0`` or ``--device bogus`` used to be accepted and fail minutes later with a traceback (or worse,
run and do nothing). Passed as ``type=`` these make argparse print ``argument --max-cells: ...`` and exit 2
before any work starts.
"""

from __future__ import annotations

import argparse
import re

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


def _number(kind: type, text: str) -> int | float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
        ) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _bounded(kind: type, text: str, bound: int, strict: bool) -> int | float:
    """``text`` as a finite ``kind`` that is ≥ ``bound`` (> ``bound`` when ``strict``), else refused.

    One check behind the four public types, so their messages read alike: ``must be ≥ 1, got 0``.
    """
    value = _number(kind, text)
    if value < bound or (strict and value == bound):
        raise argparse.ArgumentTypeError(f"must be {'>' if strict else '≥'} {bound}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An integer ≥ 1."""
    return int(_bounded(int, text, 1, strict=False))


def nonnegative_int(text: str) -> int:
    """An integer ≥ 0."""
    return int(_bounded(int, text, 0, strict=False))


def positive_float(text: str) -> float:
    """A finite number > 0."""
    return float(_bounded(float, text, 0, strict=True))


def nonnegative_float(text: str) -> float:
    """A finite number ≥ 0."""
    return float(_bounded(float, text, 0, strict=False))


def device(text: str) -> str:
    """A torch device name: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    if not _DEVICE.match(text):
        raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda, cuda:N or mps, got {text!r}")
    return text

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


def positive_int(text: str) -> int:
    """An integer ≥ 1."""
    value = _number(int, text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {value}")
    return int(value)


def nonnegative_int(text: str) -> int:
    """An integer ≥ 0."""
    value = _number(int, text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be ≥ 0, got {value}")
    return int(value)


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _number(float, text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return float(value)


def nonnegative_float(text: str) -> float:
    """A finite number ≥ 0."""
    value = _number(float, text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be ≥ 0, got {value}")
    return float(value)


def device(text: str) -> str:
    """A torch device name: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    if not _DEVICE.match(text):
        raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda, cuda:N or mps, got {text!r}")
    return text

"""Fixtures shared by several test modules."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_standin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``tiny`` synthetic stand-in (seed 0), generated once per session: tests only read it."""
    from cellclr_lib.data import synth

    root = tmp_path_factory.mktemp("synth") / "tiny"
    return Path(synth.generate(root, preset="tiny", seed=0, workers=2, progress=False))

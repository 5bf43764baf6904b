"""Fixtures shared by several test modules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny_standin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``tiny`` synthetic stand-in (seed 0), generated once per session: tests only read it."""
    from cellclr_lib.data import synth

    root = tmp_path_factory.mktemp("synth") / "tiny"
    return Path(synth.generate(root, preset="tiny", seed=0, workers=2, progress=False))


@pytest.fixture(scope="session")
def render_dmso() -> Callable[..., tuple]:
    """Render one DMSO field of a panel, without vignetting: ``render(shape, seed, panel="bbbc021")`` returns
    the ``(C, H, W)`` raw image, its cells and their rasterisation (owner, ρ of the cell, ρ of the nucleus)."""
    from cellclr_lib.data import synthetic_render as render

    def draw(shape: tuple[int, int], seed: int, panel: str = "bbbc021") -> tuple:
        rng = np.random.default_rng(seed)
        well = dict.fromkeys(render.DMSO, 1.0)
        cells = render.draw_cells(render.place_cells(shape, well, rng), well, rng)
        background = (700.0,) * len(render.PANELS[panel])
        camera = render.Acquisition(background=background, vignetting=0.0, blur=1.0, read_noise=6.0)
        return render.render_field(shape, cells, camera, rng, panel), cells, render.rasterise(shape, cells)

    return draw

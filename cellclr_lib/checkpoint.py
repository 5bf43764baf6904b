"""Training checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint is one ``torch.save`` dictionary written atomically (a crash mid-save leaves the previous
file intact): ``model`` (the unwrapped :class:`~cellclr_lib.models.SimCLRModel` state), ``optimizer``,
``scheduler``, ``scaler``, ``rng`` (one entry per rank: Python, NumPy, torch CPU, CUDA and the augmentation generator),
``epoch`` (the next epoch to run), ``step`` (optimiser steps done), and ``model_config`` (what
:func:`cellclr_lib.embed.load_encoder` needs to rebuild the encoder: ``arch``, ``small_input``,
``projection_dim``, ``input_size``).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cellclr_lib.errors import CellclrError
from cellclr_lib.io import atomic_path

LAST = "last.pt"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, with a clear error when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise CellclrError(
            "checkpoint not found", path=path, fix="pass a run's checkpoints/last.pt (or epoch_*.pt)"
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # torch raises many types for a corrupt or foreign file
        raise CellclrError(
            f"cannot read checkpoint ({err})", path=path, fix="use another checkpoint of the run"
        ) from err
    if not isinstance(state, dict) or "model" not in state or "model_config" not in state:
        raise CellclrError(
            "not a cellclr training checkpoint", path=path, fix="pass a file written by `cellclr train`"
        )
    return state


def rng_state(generator: torch.Generator | None) -> dict[str, Any]:
    """Every random state that the training loop draws from."""
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),  # noqa: NPY002 — the global state third-party code may draw from
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "augment": generator.get_state() if generator is not None else None,
    }


def set_rng_state(state: dict[str, Any], generator: torch.Generator | None) -> None:
    """Restore the states saved by :func:`rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None and state["augment"] is not None:
        generator.set_state(state["augment"])

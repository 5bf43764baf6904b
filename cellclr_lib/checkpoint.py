"""Training checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint is one ``torch.save`` dictionary written atomically (a crash mid-save leaves the previous
file intact): ``model`` (the unwrapped :class:`~cellclr_lib.models.SimCLRModel` state), ``optimizer``,
``scheduler``, ``scaler``, ``rng`` (one entry per rank: Python, NumPy, torch CPU, CUDA and the augmentation generator),
``epoch`` (the next epoch to run), ``step`` (optimiser steps done), and ``model_config`` (what
:func:`cellclr_lib.embed.load_encoder` needs to rebuild the encoder: ``arch``, ``small_input``,
``projection_dim``, ``input_size``).

Safety, and why:

* **No code runs on load.** Checkpoints are read with ``torch.load(weights_only=True)``, which unpickles only
  tensors and plain containers: a checkpoint from elsewhere cannot execute anything. So everything saved is a
  tensor, a number, a string or a list/tuple/dict of them — the NumPy RNG state is stored as a tensor.
* **Flipped bits are detected.** ``checksum`` is a SHA-256 over the whole content (every key, number and
  tensor byte, in a fixed order), computed before saving and verified after loading. ``torch.load`` does not
  check the CRCs of its zip records, so without it a damaged file loads silently with absurd weights.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cellclr_lib.errors import DataError, UsageError
from cellclr_lib.io import atomic_path

LAST = "last.pt"
FORMAT = "cellclr-checkpoint-2"
_FIX = "use another checkpoint of the run (checkpoints/epoch_*.pt), or retrain"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (tensors and plain containers only) with its checksum to ``path`` atomically."""
    path = Path(path)
    content = {**state, "format": FORMAT}
    content["checksum"] = content_digest(content)
    with atomic_path(path) as tmp:
        try:
            torch.save(content, tmp)
        except RuntimeError as err:  # torch reports a failed write (a full disk) as a RuntimeError
            raise DataError(
                f"cannot write the checkpoint (is the disk full?): {str(err).strip().splitlines()[-1]}",
                path=path,
                fix="free disk space (or choose an --out on another disk) and rerun with --resume: the "
                "previous checkpoint is intact",
            ) from err
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`: no code execution, checksum verified."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(
            "checkpoint not found", path=path, fix="pass a run's checkpoints/last.pt (or epoch_*.pt)"
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for a corrupt, foreign or unsafe file
        reason = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
        raise DataError(
            f"cannot read checkpoint safely (corrupt, not written by this cellclr version, or holding code "
            f"objects, which are never loaded): {reason}",
            path=path,
            fix=_FIX,
        ) from err
    if not isinstance(state, dict) or "model" not in state or "model_config" not in state:
        raise DataError(
            "not a cellclr training checkpoint", path=path, fix="pass a file written by `cellclr train`"
        )
    checksum = state.pop("checksum", None)
    if checksum is None or state.get("format") != FORMAT:
        raise DataError("checkpoint has no checksum (written by an older cellclr)", path=path, fix=_FIX)
    if content_digest(state) != checksum:
        raise DataError("checkpoint is corrupt: its checksum does not match its content", path=path, fix=_FIX)
    return state


def content_digest(obj: Any) -> str:
    """SHA-256 over a structure of dicts, lists, tuples, scalars and tensors (types, keys, shapes and bytes)."""
    digest = hashlib.sha256()
    _feed(digest, obj)
    return digest.hexdigest()


def _feed(digest: Any, obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        tensor = obj.detach().cpu().contiguous().reshape(-1)
        digest.update(f"T{tensor.dtype}{tuple(obj.shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy() if tensor.numel() else b"")
    elif isinstance(obj, dict):
        digest.update(f"D{len(obj)}|".encode())
        for key in sorted(obj, key=repr):
            _feed(digest, key)
            _feed(digest, obj[key])
    elif isinstance(obj, (list, tuple)):
        digest.update(f"{type(obj).__name__[0]}{len(obj)}|".encode())
        for item in obj:
            _feed(digest, item)
    else:
        digest.update(f"S{type(obj).__name__}:{obj!r}|".encode())


def rng_state(generator: torch.Generator | None) -> dict[str, Any]:
    """Every random state that the training loop draws from, as tensors and plain values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 — the global state others draw from
    return {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "augment": generator.get_state() if generator is not None else None,
    }


def set_rng_state(state: dict[str, Any], generator: torch.Generator | None) -> None:
    """Restore the states saved by :func:`rng_state`."""
    random.setstate(state["python"])
    saved = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            saved["kind"],
            saved["keys"].numpy().astype(np.uint32),
            saved["pos"],
            saved["has_gauss"],
            saved["cached"],
        )
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None and state["augment"] is not None:
        generator.set_state(state["augment"])

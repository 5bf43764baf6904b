"""Per-cell embeddings ``h`` of a trained SimCLR encoder, written as a feature set.

No augmentation: each crop is converted to float in ``[0, 1]`` and, when the store's crop size differs
from the training view size, resized to it (antialiased bilinear), then passed through the encoder in
``torch.inference_mode`` and evaluation mode (BatchNorm uses its running statistics). The projection head is
dropped: downstream profiles use the representation ``h`` (SimCLR's finding, and the paper's protocol).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cellclr_lib import options
from cellclr_lib.checkpoint import load_checkpoint
from cellclr_lib.devices import resolve_device
from cellclr_lib.errors import CellclrError, DataError
from cellclr_lib.features import FeatureSet, write_feature_set
from cellclr_lib.models import build_encoder
from cellclr_lib.progress import progress_bar


def embed_crops(
    encoder: nn.Module,
    crops: np.ndarray | torch.Tensor | object,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    *,
    size: int | None = None,
    dtype: str | np.dtype = "float32",
    progress: bool = True,
) -> np.ndarray:
    """Apply ``encoder`` to uint8 crops ``(N, C, S, S)`` (an array, a memory map or a ``CropStore``).

    Crops become float in ``[0, 1]`` on ``device``, resized to ``size`` if given and different from ``S``.
    Returns an ``(N, D)`` array of ``dtype``. Reused by the random-weights and ImageNet baselines.
    """
    crops = getattr(crops, "crops", crops)  # a CropStore
    dev = resolve_device(device)
    encoder = encoder.to(dev).eval()
    channels_last = dev.type == "cuda"
    if channels_last:
        encoder = encoder.to(memory_format=torch.channels_last)
    parts = []
    with torch.inference_mode():
        for start in progress_bar(
            range(0, len(crops), batch_size), desc="embedding", unit="batch", disable=not progress
        ):
            chunk = crops[start : start + batch_size]
            if isinstance(chunk, np.ndarray):
                chunk = torch.from_numpy(np.array(chunk))  # a writable copy: store memmaps are read-only
            x = chunk.to(dev, non_blocking=True).float().div_(255)
            if size is not None and size != x.shape[-1]:
                x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            parts.append(encoder(x).float().cpu().numpy().astype(dtype, copy=False))
    if not parts:
        raise DataError("no crops to embed", fix="check that the crop store is not empty")
    return np.concatenate(parts)


def load_encoder(checkpoint: str | Path) -> tuple[nn.Module, dict]:
    """The encoder of a training checkpoint (weights loaded, head dropped) and its ``model_config``."""
    state = load_checkpoint(checkpoint)
    cfg = state["model_config"]
    encoder, _ = build_encoder(
        cfg["arch"], pretrained=False, small_input=cfg["small_input"], in_channels=cfg.get("in_channels", 3)
    )
    prefix = "encoder."
    try:
        encoder.load_state_dict(
            {k[len(prefix) :]: v for k, v in state["model"].items() if k.startswith(prefix)}
        )
    except RuntimeError as err:  # another architecture's weights under this model_config
        raise DataError(
            f"its weights do not fit a {cfg['arch']} encoder ({str(err).splitlines()[0]})",
            path=checkpoint,
            fix="pass a checkpoint written by `cellclr train` of this version, unmodified",
        ) from err
    return encoder, {**cfg, "epoch": state.get("epoch"), "step": state.get("step")}


def embed_store(
    checkpoint: str | Path,
    store: str | Path,
    out: str | Path,
    *,
    batch_size: int = 256,
    device: str | None = None,
    dtype: str = "float32",
    progress: bool = True,
) -> Path:
    """Embed every crop of ``store`` with ``checkpoint``'s encoder; write the feature set to ``out``."""
    from cellclr_lib.data.store import CropStore

    if dtype not in ("float16", "float32"):
        raise CellclrError(
            f"dtype must be float16 or float32, got {dtype!r}", fix="use --dtype float16 or float32"
        )
    encoder, cfg = load_encoder(checkpoint)
    crop_store = CropStore.open(store)
    features = embed_crops(
        encoder,
        crop_store.crops,
        batch_size,
        device,
        size=cfg.get("input_size"),
        dtype=dtype,
        progress=progress,
    )
    info = {
        "method": "simclr",
        "checkpoint": str(Path(checkpoint).resolve()),
        "store": str(Path(store).resolve()),
        **cfg,
    }
    return write_feature_set(out, FeatureSet(features=features, cells=crop_store.cells, info=info))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``cellclr embed``."""
    parser.add_argument(
        "--checkpoint", required=True, help="training checkpoint (RUN/checkpoints/last.pt or epoch_*.pt)"
    )
    parser.add_argument("--store", required=True, help="crop store directory written by `cellclr prep`")
    parser.add_argument(
        "--out", required=True, help="output feature-set directory (read by `cellclr evaluate`)"
    )
    parser.add_argument(
        "--batch-size", type=options.positive_int, default=256, help="crops per forward pass (default: 256)"
    )
    parser.add_argument(
        "--device", type=options.device, default=None, help="cpu, cuda or cuda:N (default: CUDA if available)"
    )
    parser.add_argument(
        "--dtype",
        choices=("float16", "float32"),
        default="float32",
        help="stored feature dtype (default: float32)",
    )


def main(args: argparse.Namespace) -> int:
    """``cellclr embed``."""
    out = embed_store(
        args.checkpoint,
        args.store,
        args.out,
        batch_size=args.batch_size,
        device=args.device,
        dtype=args.dtype,
    )
    print(f"embeddings written to {out}")
    return 0

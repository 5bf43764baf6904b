"""One rule for choosing the compute device, so the CLI, notebooks and baselines agree."""

from __future__ import annotations

import torch

from cellclr_lib.errors import UsageError


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as given; ``None`` or ``"auto"`` mean CUDA when available, else CPU."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return check_available(torch.device(device))


def check_available(device: torch.device) -> torch.device:
    """``device`` if this machine has it, else a :class:`UsageError` (not torch's assertion deep in a run)."""
    if device.type == "cuda" and (
        not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()
    ):
        raise UsageError(
            f"device {device} is not available on this machine ({torch.cuda.device_count()} CUDA device(s))",
            fix="pass --device cpu, or leave --device out to use CUDA only when it is there",
        )
    return device

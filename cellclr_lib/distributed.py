"""Multi-process (DDP) plumbing: process-group set-up from ``torchrun``'s environment, and a gather that
keeps gradients.

``torchrun --nproc_per_node N -m cellclr_lib.train ...`` starts N processes with ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and ``MASTER_ADDR/PORT`` in their environment; :func:`init_from_env` joins them into one
process group (NCCL on GPUs, gloo on CPU). Without those variables everything runs as a single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from cellclr_lib.devices import check_available


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` of ``world_size`` processes, and the device it should use."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Rank 0 writes files and shows progress bars."""
        return self.rank == 0


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def init_from_env(device: str | None = None) -> DistInfo:
    """Join the process group described by torchrun's environment variables (if any) and pick the device.

    ``device=None`` means CUDA when available (``cuda:LOCAL_RANK`` under torchrun), else CPU.
    """
    use_cuda = torch.cuda.is_available() if device in (None, "auto") else str(device).startswith("cuda")
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) <= 1:
        dev = torch.device(device if device not in (None, "auto") else ("cuda" if use_cuda else "cpu"))
        return DistInfo(device=check_available(dev))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    dev = torch.device(f"cuda:{local_rank}") if use_cuda else torch.device("cpu")
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, dev)


def current() -> tuple[int, int]:
    """``(rank, world_size)`` of this process; ``(0, 1)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _GatherWithGrad(torch.autograd.Function):
    """All-gather along dim 0 whose backward routes every rank's gradient back to the tensor's owner.

    Forward: ``y = [x₀; x₁; …; x_{W−1}]`` (every rank gets the same ``y``). Each rank ``r`` then computes its
    own loss ``L_r(y)``. The gradient of ``Σ_r L_r`` with respect to ``x_k`` is ``Σ_r ∂L_r/∂y[k]``: an
    all-reduce (sum) of the incoming gradients, sliced to this rank's rows. (A plain
    ``dist.all_gather`` has no backward at all: other ranks' rows would be constants.)
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: ANN001 — autograd's signature
        rank, world = dist.get_rank(), dist.get_world_size()
        ctx.rank, ctx.rows = rank, x.shape[0]
        parts = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` (same shape on every rank) from all ranks in rank order, differentiably.

    Returns ``x`` unchanged outside a multi-process group. With DDP averaging gradients over ranks, the
    parameters receive the gradient of the mean of the per-rank losses.
    """
    return _GatherWithGrad.apply(x) if is_distributed() else x


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if is_distributed():
        dist.barrier()


def gather_objects(obj: object) -> list[object]:
    """Every rank's ``obj`` (picklable), in rank order, on every rank; ``[obj]`` in a single process."""
    if not is_distributed():
        return [obj]
    objects: list[object] = [None] * dist.get_world_size()
    dist.all_gather_object(objects, obj)
    return objects


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """Mean of a (detached) tensor over ranks, for logging; identity in a single process."""
    if not is_distributed():
        return value
    value = value.detach().clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / dist.get_world_size()

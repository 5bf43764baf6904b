from __future__ import annotations

import math
import os
import socket
import tempfile
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from cellclr_lib.losses import NTXentLoss, nt_xent


def reference_nt_xent(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> tuple[float, float]:
    """SimCLR's loss written out anchor by anchor, in float64."""
    z = torch.cat([z1, z2]).double()
    z = z / z.norm(dim=1, keepdim=True)
    n2 = len(z)
    total, hits = 0.0, 0
    for i in range(n2):
        pos = (i + n2 // 2) % n2
        sims = {k: float(z[i] @ z[k]) / tau for k in range(n2) if k != i}
        total += -(sims[pos] - math.log(sum(math.exp(s) for s in sims.values())))
        hits += max(sims, key=sims.get) == pos
    return total / n2, hits / n2


@pytest.mark.parametrize("tau", [0.1, 0.5, 2.0])
def test_matches_reference_formula(tau: float) -> None:
    g = torch.Generator().manual_seed(int(tau * 10))
    z1 = torch.randn(6, 5, generator=g)
    z2 = z1 + 0.8 * torch.randn(6, 5, generator=g)
    loss, acc = nt_xent(z1, z2, tau)
    ref_loss, ref_acc = reference_nt_xent(z1, z2, tau)
    assert loss.item() == pytest.approx(ref_loss, rel=1e-5)
    assert acc.item() == pytest.approx(ref_acc)
    assert NTXentLoss(tau)(z1, z2)[0].item() == pytest.approx(ref_loss, rel=1e-5)


def test_temperature_behaviour() -> None:
    # perfect positives, orthogonal negatives: lower temperature → sharper softmax → lower loss
    z = torch.eye(4)
    losses = [nt_xent(z, z, tau)[0].item() for tau in (0.05, 0.1, 1.0, 100.0)]
    assert losses == sorted(losses)
    assert losses[0] < 1e-6
    # very high temperature: every candidate looks alike → a uniform (2N − 1)-way guess
    assert losses[-1] == pytest.approx(math.log(2 * 4 - 1), rel=1e-2)
    assert nt_xent(z, z, 0.1)[1].item() == 1.0
    with pytest.raises(ValueError, match="temperature"):
        nt_xent(z, z, 0.0)


def test_input_scale_does_not_matter_and_bf16_is_computed_in_float32() -> None:
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(8, 16, generator=g), torch.randn(8, 16, generator=g)
    loss = nt_xent(z1, z2)[0]
    assert nt_xent(3 * z1, 0.5 * z2)[0].item() == pytest.approx(loss.item(), rel=1e-5)
    low = nt_xent(z1.bfloat16(), z2.bfloat16())[0]
    assert low.dtype == torch.float32
    assert low.item() == pytest.approx(loss.item(), rel=2e-2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, z1: torch.Tensor, z2: torch.Tensor, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    n = len(z1) // world
    a = z1[rank * n : (rank + 1) * n].clone().requires_grad_(True)
    b = z2[rank * n : (rank + 1) * n].clone().requires_grad_(True)
    loss, acc = nt_xent(a, b, 0.2)
    loss.backward()
    torch.save({"loss": loss.detach(), "acc": acc, "ga": a.grad, "gb": b.grad}, Path(out) / f"{rank}.pt")
    dist.destroy_process_group()


def test_two_process_gather_equals_full_batch() -> None:
    world = 2
    g = torch.Generator().manual_seed(1)
    z1 = torch.randn(8, 6, generator=g)
    z2 = z1 + torch.randn(8, 6, generator=g)
    full1, full2 = z1.clone().requires_grad_(True), z2.clone().requires_grad_(True)
    full_loss, full_acc = nt_xent(full1, full2, 0.2)
    full_loss.backward()
    with tempfile.TemporaryDirectory() as out:
        os.environ.pop("WORLD_SIZE", None)
        mp.spawn(_worker, args=(world, _free_port(), z1, z2, out), nprocs=world, join=True)
        parts = [torch.load(Path(out) / f"{r}.pt") for r in range(world)]
    # the mean of the per-rank losses is the full-batch loss
    assert torch.stack([p["loss"] for p in parts]).mean().item() == pytest.approx(full_loss.item(), rel=1e-6)
    assert torch.stack([p["acc"] for p in parts]).mean().item() == pytest.approx(full_acc.item())
    # each rank's rows receive the gradient of the *sum* of the rank losses = world × d(full loss)
    grad1 = torch.cat([p["ga"] for p in parts]) / world
    grad2 = torch.cat([p["gb"] for p in parts]) / world
    torch.testing.assert_close(grad1, full1.grad, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(grad2, full2.grad, rtol=1e-5, atol=1e-7)

"""NT-Xent, the normalised-temperature cross-entropy of SimCLR, with negatives from every DDP rank.

Two views of ``N`` cells give ``2N`` projections ``z``. With cosine similarity
``s(a, b) = aᵀb / (‖a‖‖b‖)``, temperature ``τ`` and ``p(i)`` the other view of the same cell, the loss of
anchor ``i`` is

    ℓ_i = −log [ exp(s(z_i, z_p(i)) / τ) / Σ_{k ≠ i} exp(s(z_i, z_k) / τ) ]

i.e. a ``(2N − 1)``-way classification: find the positive among the other ``2N − 1`` projections, of which
``2N − 2`` are negatives (both views of the other cells). The loss is the mean of ``ℓ_i`` over all ``2N``
anchors. A small ``τ`` (the paper: 0.1) sharpens the softmax and weights hard negatives more.

Under ``torch.distributed`` each rank holds its own ``n`` cells; the candidates ``k`` are the ``2·W·n``
projections of all ``W`` ranks (gathered with :func:`cellclr_lib.distributed.gather_with_grad`), the anchors
are the rank's own ``2n``, and the mean over ranks of the per-rank losses is the loss of the full batch.

The **contrastive top-1 accuracy** — the fraction of anchors whose most similar candidate is their
positive — is a cheap training-time check that the task is neither trivial nor impossible.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cellclr_lib.distributed import current, gather_with_grad


def nt_xent(
    z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor]:
    """NT-Xent loss and contrastive top-1 accuracy of two views ``z1, z2`` of shape ``(n, d)``.

    Row ``i`` of ``z1`` and row ``i`` of ``z2`` are a positive pair. Computed in float32 whatever the input
    dtype (the ``1/τ`` scaling of bf16 similarities loses too much precision). Returns ``(loss, accuracy)``;
    the accuracy is detached.
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(
            f"expected two (n, d) tensors of the same shape, got {tuple(z1.shape)}, {tuple(z2.shape)}"
        )
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    n = z1.shape[0]
    rank, world = current()
    z1 = F.normalize(z1.float(), dim=1)
    z2 = F.normalize(z2.float(), dim=1)
    candidates = torch.cat([gather_with_grad(z1), gather_with_grad(z2)])  # (2Wn, d): all views 1, all views 2
    anchors = torch.cat([z1, z2])  # (2n, d)
    logits = anchors @ candidates.T / temperature
    local = torch.arange(n, device=z1.device) + rank * n  # global row of this rank's cells among the W·n
    self_index = torch.cat([local, local + world * n])
    positive = torch.cat([local + world * n, local])
    rows = torch.arange(2 * n, device=z1.device)
    logits[rows, self_index] = float("-inf")
    loss = F.cross_entropy(logits, positive)
    accuracy = (logits.detach().argmax(dim=1) == positive).float().mean()
    return loss, accuracy


class NTXentLoss(nn.Module):
    """Module form of :func:`nt_xent`: ``NTXentLoss(0.1)(z1, z2) -> (loss, accuracy)``."""

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        self.temperature = temperature

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return nt_xent(z1, z2, self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"

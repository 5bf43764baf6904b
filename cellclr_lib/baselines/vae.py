r"""A small convolutional variational autoencoder (VAE): the generative unsupervised baseline.

Lafarge et al. (2019) profiled BBBC021 with a VAE's latent code (NSC 90 %). This is a deliberately small
version of that idea, quick enough for a CPU at 64 px: per-cell features are the posterior means
:math:`\mu(x)`.

Model. An encoder :math:`q_\phi(z \mid x) = \mathcal{N}(\mu_\phi(x), \operatorname{diag}\sigma^2_\phi(x))`
(stride-2 convolutions → linear heads for :math:`\mu` and :math:`\log\sigma^2`), a prior
:math:`p(z) = \mathcal{N}(0, I)` and a decoder :math:`p_\theta(x \mid z)` (linear → stride-2 transposed
convolutions → one logit per pixel and channel; the log-likelihood is the binary cross-entropy of the
intensities in [0, 1], the usual Bernoulli surrogate for grey values — it lacks the continuous Bernoulli's
normalising constant, which changes the loss's value but hardly the learnt code).

Objective. Training maximises the (β-weighted) evidence lower bound, per image

.. math::

    \mathcal{L}(x) = \mathbb{E}_{q_\phi(z\mid x)}[\log p_\theta(x \mid z)]
                     - \beta\, \mathrm{KL}(q_\phi(z \mid x)\,\|\,p(z)),
    \qquad
    \mathrm{KL} = -\tfrac12 \sum_j \left(1 + \log\sigma_j^2 - \mu_j^2 - \sigma_j^2\right),

with the expectation estimated by one sample drawn with the reparameterisation
:math:`z = \mu + \sigma \odot \varepsilon`, :math:`\varepsilon \sim \mathcal{N}(0, I)`, which makes the
sample differentiable in :math:`\phi`. We minimise :math:`-\mathcal{L}` averaged over the minibatch, the
reconstruction term summed over pixels. β = 1 is the plain VAE; β > 1 trades reconstruction for a more
factorised code (β-VAE, Higgins et al. 2017).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from cellclr_lib.baselines.keywords import resolved_options
from cellclr_lib.baselines.training import Schedule, embedded_feature_set, fit, training_rows
from cellclr_lib.features import FeatureSet

DEFAULT_SIZE = 64
WIDTHS = (32, 64, 128, 256)


class ConvVAE(nn.Module):
    """Convolutional VAE for ``(B, 3, size, size)`` inputs in [0, 1]; ``size`` must be a multiple of 16."""

    def __init__(self, latent_dim: int = 64, size: int = DEFAULT_SIZE, in_channels: int = 3) -> None:
        super().__init__()
        down = 2 ** len(WIDTHS)
        if size % down:
            raise ValueError(f"VAE input size must be a multiple of {down}, got {size}")
        self.latent_dim, self.size = latent_dim, size
        self.bottleneck = (WIDTHS[-1], size // down, size // down)
        flat = int(np.prod(self.bottleneck))
        encoder: list[nn.Module] = []
        for c_in, c_out in zip((in_channels, *WIDTHS[:-1]), WIDTHS, strict=True):
            encoder += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        self.encoder = nn.Sequential(*encoder, nn.Flatten())
        self.to_mu = nn.Linear(flat, latent_dim)
        self.to_logvar = nn.Linear(flat, latent_dim)
        decoder: list[nn.Module] = [nn.Linear(latent_dim, flat), nn.Unflatten(1, self.bottleneck)]
        for c_in, c_out in zip(WIDTHS[::-1], (*WIDTHS[-2::-1], in_channels), strict=True):
            decoder += [nn.LeakyReLU(0.2), nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)]
        self.decoder = nn.Sequential(*decoder)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior parameters ``(μ, log σ²)``, each ``(B, latent_dim)``."""
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Per-pixel logits of the reconstruction, ``(B, 3, size, size)``."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(logits, μ, log σ²)`` with one reparameterised sample ``z = μ + σ·ε``."""
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.decode(z), mu, logvar


def vae_loss(model: ConvVAE, x: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Negative β-ELBO per image (see the module docstring), averaged over the batch."""
    logits, mu, logvar = model(x)
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return (reconstruction + beta * kl) / len(x)


def train_vae(
    crops: np.ndarray,
    *,
    latent_dim: int = 64,
    beta: float = 1.0,
    size: int | None = DEFAULT_SIZE,
    epochs: int = 5,
    batch_size: int = 128,
    lr: float = 1e-3,
    device: str | None = None,
    seed: int = 0,
    train_cells: int | None = None,
    progress: bool = True,
) -> tuple[ConvVAE, list[float]]:
    """Train a :class:`ConvVAE` on uint8 crops ``(N, C, S, S)`` (resized to ``size``; ``None`` = S).

    ``train_cells`` trains on a seeded random subset of that many crops. Returns the model (in eval mode)
    and the loss of every step.
    """
    size = size or int(crops.shape[-1])
    torch.manual_seed(seed)
    model = ConvVAE(latent_dim=latent_dim, size=size, in_channels=int(crops.shape[1]))
    schedule = Schedule(epochs=epochs, batch_size=batch_size, lr=lr, device=device, seed=seed, size=size)
    rows = training_rows(len(crops), train_cells, seed)

    def loss_fn(m: nn.Module, x: torch.Tensor, _rows: np.ndarray) -> torch.Tensor:
        return vae_loss(m, x, beta)

    losses = fit(model, loss_fn, crops, schedule, indices=rows, desc="VAE", progress=progress)
    return model, losses


def vae_feature_set(crops: np.ndarray, cells: pd.DataFrame, **options: Any) -> FeatureSet:
    """Train a VAE on the crops (:func:`train_vae`) and describe every crop by its posterior mean μ.

    ``options`` are :func:`train_vae`'s keywords (``latent_dim``, ``beta``, ``size``, ``epochs``, …), declared
    there once.
    """
    options = resolved_options(train_vae, options)
    options["size"] = options["size"] or int(crops.shape[-1])
    model, losses = train_vae(crops, **options)
    # what the VAE was trained with, recorded as it ran (features.json says what ran)
    recorded = ("latent_dim", "beta", "epochs", "batch_size", "lr", "seed", "train_cells")
    info = {
        "method": "vae",
        "parameters": {**{name: options[name] for name in recorded}, "crop_size": options["size"]},
        "loss_first": losses[0],
        "loss_last": losses[-1],
    }
    posterior_mean = nn.Sequential(model.encoder, model.to_mu)  # x -> μ(x)
    return embedded_feature_set(posterior_mean, model, crops, cells, options, info)

"""The SimCLR network: a ResNet encoder ``f`` giving the representation ``h``, and a projection head ``g``.

SimCLR trains ``z = g(f(x))`` with the contrastive loss but evaluates ``h = f(x)``: the head absorbs the
invariances the loss asks for, so ``h`` keeps more information about the cell (Chen et al. 2020, §4.2).

**Small inputs.** torchvision's ResNet stem (7×7 stride-2 convolution, then 3×3 stride-2 max-pool) divides
the side by 4 before the first block: a 64-px crop reaches the last stage at 2×2 px. For small crops
(``small_input=True``, the CIFAR variant of SimCLR) the stem becomes a 3×3 stride-1 convolution with no
max-pool, so the last stage sees 8×8 px at 64 px input — at the price of 16× more activations per image.
The default keeps the original stem, as the paper did (ResNet-50 from ImageNet on 96-px crops): measured on
2 CPU cores at 64 px, ResNet-18 trains at 176 images/s with it, 36 with a 3×3 stride-1 stem plus max-pool
and 10 with the CIFAR stem — and with ImageNet weights the stem's learned filters would be thrown away.
Turn ``small_input`` on for small crops on a GPU.

**Any number of channels.** The first convolution takes ``in_channels`` inputs (Cell Painting has five). With
ImageNet weights and ``in_channels ≠ 3`` its RGB filters are adapted the way timm's ``adapt_input_conv``
does: one channel gets their sum; more channels get the RGB filters repeated cyclically and scaled by
``3 / C``, so a flat input gives the first-layer response of a flat RGB image (exactly for one channel or a
multiple of three, nearly otherwise) — the rest of the pretrained network sees activations of the scale it
was trained on.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import torch
import torchvision
from torch import nn

from cellclr_lib.errors import CellclrError

ARCHS = ("resnet18", "resnet34", "resnet50")


def build_encoder(
    arch: str = "resnet18", *, pretrained: bool = False, small_input: bool = False, in_channels: int = 3
) -> tuple[nn.Module, int]:
    """A ResNet without its classifier, returning the pooled representation ``h``, and ``h``'s dimension.

    Args:
        arch: ``resnet18`` (512-d), ``resnet34`` (512-d) or ``resnet50`` (2048-d, the paper's).
        pretrained: start from torchvision's ImageNet weights. They are read from the torch hub cache
            (``$TORCH_HOME/hub/checkpoints``) or downloaded; when neither works (offline), a ``UserWarning``
            says so and the weights stay random — training can still proceed.
        small_input: replace the stem by a 3×3 stride-1 convolution without max-pool (see the module
            docstring); off by default.
        in_channels: channels of the input crops (BBBC021: 3); see the module docstring.
    """
    if arch not in ARCHS:
        raise CellclrError(f"unknown encoder architecture {arch!r}", fix=f"use one of {', '.join(ARCHS)}")
    net = getattr(torchvision.models, arch)(weights=None)
    if pretrained:
        _load_imagenet(net, arch)
    if small_input:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    elif in_channels != 3:
        net.conv1 = adapt_first_conv(net.conv1, in_channels)
    dim = net.fc.in_features
    net.fc = nn.Identity()
    return net, dim


def _load_imagenet(net: nn.Module, arch: str) -> None:
    """Load ImageNet weights in place; warn (not fail) when they are neither cached nor downloadable.

    torch.hub announces a download on standard output with the cache's absolute path; that line is held back
    (an executed notebook would publish the machine's home folder), the warning below says what happened.
    """
    weights = torchvision.models.get_model_weights(arch).DEFAULT
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            state = weights.get_state_dict(progress=False, check_hash=False)
    except Exception as err:  # offline: URLError, socket errors, ... all mean the same to the user
        warnings.warn(
            f"ImageNet weights for {arch} are not cached and could not be downloaded ({err}); "
            "using random initialisation. To use them, run once with internet access (torchvision caches "
            "them in $TORCH_HOME/hub/checkpoints) or copy the file there.",
            ImageNetWeightsUnavailable,
            stacklevel=3,
        )
        return
    net.load_state_dict(state)


def adapt_first_conv(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """``conv`` (3 input channels) for ``in_channels`` inputs, its filters adapted as timm does (see above)."""
    if in_channels < 1:
        raise CellclrError(f"an encoder needs at least one input channel, got {in_channels}")
    weight = conv.weight.detach()
    if in_channels == 1:
        weight = weight.sum(dim=1, keepdim=True)
    else:
        repeats = -(-in_channels // weight.shape[1])
        weight = weight.repeat(1, repeats, 1, 1)[:, :in_channels] * (weight.shape[1] / in_channels)
    new = nn.Conv2d(
        in_channels,
        conv.out_channels,
        kernel_size=conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        bias=conv.bias is not None,
    )
    with torch.no_grad():
        new.weight.copy_(weight)
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    return new


class ImageNetWeightsUnavailable(UserWarning):
    """ImageNet weights could not be loaded (offline, not cached): the encoder keeps its random weights."""


class ProjectionHead(nn.Module):
    """``g(h) = W₂ · ReLU(W₁ · h)``: Linear(dim → hidden), ReLU, Linear(hidden → out).

    The paper uses 2048 → 2048 → 256 on ResNet-50; scaled to the backbone that is 512 → 512 → 128 for
    ResNet-18 (``hidden_dim`` defaults to ``in_dim``).
    """

    def __init__(self, in_dim: int, out_dim: int = 128, hidden_dim: int | None = None) -> None:
        super().__init__()
        hidden_dim = hidden_dim or in_dim
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim)
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


class SimCLRModel(nn.Module):
    """Encoder plus projection head: ``forward(x) -> (h, z)``; ``h`` is the representation used downstream."""

    def __init__(self, encoder: nn.Module, dim: int, projection_dim: int = 128) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = ProjectionHead(dim, projection_dim)
        self.dim, self.projection_dim = dim, projection_dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return h, self.head(h)


def build_model(
    arch: str = "resnet18",
    *,
    pretrained: bool = False,
    small_input: bool = False,
    projection_dim: int | None = None,
    in_channels: int = 3,
) -> SimCLRModel:
    """The SimCLR model of ``arch``; ``projection_dim`` defaults to 128 (512-d encoders) or 256 (2048-d)."""
    encoder, dim = build_encoder(
        arch, pretrained=pretrained, small_input=small_input, in_channels=in_channels
    )
    return SimCLRModel(encoder, dim, projection_dim or (256 if dim >= 2048 else 128))

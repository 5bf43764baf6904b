"""Untrained-encoder baselines: the SimCLR encoder with random weights, and with ImageNet weights.

Both answer "how much of the result is the architecture (or generic natural-image features) rather than
contrastive training on cells?":

* ``random`` — :func:`cellclr_lib.models.build_encoder` with ``pretrained=False`` (seeded), embedded exactly
  as SimCLR checkpoints are (:func:`cellclr_lib.embed.embed_crops`). Random convolutional features are a
  surprisingly strong floor for 1-NN matching.
* ``imagenet`` — the same encoder initialised from ImageNet weights and not trained further (the paper's
  SimCLR starts from these). The weights come from torchvision's download cache; without them (offline and
  never downloaded) :func:`imagenet_feature_set` raises :class:`PretrainedWeightsUnavailable` instead of
  silently returning random features, and ``cellclr baseline imagenet`` prints why and exits 0 writing
  nothing.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import torch

from cellclr_lib.baselines.keywords import resolved_options
from cellclr_lib.errors import CellclrError
from cellclr_lib.features import FeatureSet


class PretrainedWeightsUnavailable(CellclrError):
    """ImageNet weights could not be loaded (offline and not cached): the ``imagenet`` baseline is skipped."""


def encoder_features(
    crops: np.ndarray,
    *,
    arch: str = "resnet18",
    pretrained: bool = False,
    small_input: bool = False,
    size: int | None = None,
    batch_size: int = 256,
    device: str | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Embed uint8 crops ``(N, C, S, S)`` with an untrained (``pretrained=False``) or ImageNet encoder.

    ``small_input`` is :func:`~cellclr_lib.models.build_encoder`'s (off: the original stem). ``size`` resizes crops first (antialiased
    bilinear; ``None`` keeps S). Raises :class:`PretrainedWeightsUnavailable` when ``pretrained`` weights
    cannot be loaded.
    """
    from cellclr_lib.models import ImageNetWeightsUnavailable, build_encoder

    torch.manual_seed(seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        encoder, _ = build_encoder(
            arch, pretrained=pretrained, small_input=small_input, in_channels=int(crops.shape[1])
        )
    for warning in caught:  # offline, build_encoder warns and keeps random weights: not this baseline
        if pretrained and issubclass(warning.category, ImageNetWeightsUnavailable):
            reason = str(warning.message).replace("using random initialisation", "so the baseline is skipped")
            raise PretrainedWeightsUnavailable(reason)  # it says why and how to fix it
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    from cellclr_lib.embed import embed_crops  # the embedding loop SimCLR checkpoints go through

    return embed_crops(encoder, crops, batch_size, device, size=size)


def random_feature_set(crops: np.ndarray, cells: pd.DataFrame, **options: Any) -> FeatureSet:
    """Features of the encoder with random (seeded) weights.

    ``options`` are :func:`encoder_features`' keywords (``arch``, ``small_input``, ``size``, ``batch_size``,
    ``device``, ``seed``), declared there once.
    """
    recorded = ("arch", "small_input", "crop_size", "seed")
    return _encoder_feature_set("random", crops, cells, options, {"pretrained": False}, recorded)


def imagenet_feature_set(crops: np.ndarray, cells: pd.DataFrame, **options: Any) -> FeatureSet:
    """Features of the ImageNet-initialised encoder; raises :class:`PretrainedWeightsUnavailable` offline.

    ``options`` are :func:`encoder_features`' keywords but ``seed`` (nothing is random here).
    """
    recorded = ("arch", "small_input", "crop_size")
    return _encoder_feature_set("imagenet", crops, cells, options, {"pretrained": True, "seed": 0}, recorded)


def _encoder_feature_set(
    method: str,
    crops: np.ndarray,
    cells: pd.DataFrame,
    options: dict[str, Any],
    fixed: dict[str, Any],
    recorded: tuple[str, ...],
) -> FeatureSet:
    """Both baselines at once: they differ only in the options ``fixed`` for them and those recorded."""
    taken = sorted(set(options) & set(fixed))
    if taken:
        raise TypeError(f"{method}_feature_set() got unexpected keyword arguments: {', '.join(taken)}")
    options = resolved_options(encoder_features, {**options, **fixed})
    features = encoder_features(crops, **options)
    options["crop_size"] = options["size"] or int(crops.shape[-1])
    info = {"method": method, "parameters": {name: options[name] for name in recorded}}
    return FeatureSet(features=features, cells=cells.reset_index(drop=True), info=info)

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from cellclr_lib.errors import CellclrError
from cellclr_lib.models import ProjectionHead, SimCLRModel, build_encoder, build_model


def test_small_input_stem_keeps_resolution() -> None:
    encoder, dim = build_encoder("resnet18", small_input=True)
    assert dim == 512
    assert encoder.conv1.kernel_size == (3, 3) and encoder.conv1.stride == (1, 1)
    assert isinstance(encoder.maxpool, nn.Identity)
    encoder.eval()
    x = torch.rand(2, 3, 32, 32)
    assert encoder(x).shape == (2, 512)
    # the last stage sees 32 / 8 = 4 px (the ImageNet stem would leave 1 px)
    seen = []
    encoder.layer4.register_forward_hook(lambda m, i, o: seen.append(o.shape[-1]))
    encoder(x)
    assert seen == [4]


def test_imagenet_stem_kept_on_request_and_resnet50_dim() -> None:
    encoder, dim = build_encoder("resnet50", small_input=False)
    assert dim == 2048
    assert encoder.conv1.kernel_size == (7, 7) and not isinstance(encoder.maxpool, nn.Identity)
    with pytest.raises(CellclrError, match="unknown encoder"):
        build_encoder("vgg16")


def test_pretrained_offline_warns_and_falls_back(monkeypatch: pytest.MonkeyPatch, tmp_path, capsys) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # empty cache; this machine has no internet
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match="random initialisation"):
        encoder, dim = build_encoder("resnet18", pretrained=True)
    assert str(tmp_path) not in capsys.readouterr().out, "torch.hub's line naming the cache path is held back"
    assert dim == 512
    assert encoder.conv1.kernel_size == (7, 7)  # pretrained keeps the ImageNet stem by default
    assert torch.isfinite(encoder.eval()(torch.rand(1, 3, 64, 64))).all()


def test_simclr_model_returns_representation_and_projection() -> None:
    model = build_model("resnet18")
    assert isinstance(model, SimCLRModel) and model.projection_dim == 128
    h, z = model.eval()(torch.rand(3, 3, 16, 16))
    assert h.shape == (3, 512) and z.shape == (3, 128)
    torch.testing.assert_close(z, model.head(h))
    head = ProjectionHead(2048, 256)
    assert [m.weight.shape for m in head.net if isinstance(m, nn.Linear)] == [(2048, 2048), (256, 2048)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning without pretrained weights
        assert build_model("resnet50", small_input=True).projection_dim == 256

"""Batched augmentations: shapes, per-sample randomness, reproducibility, exact geometry, per-channel jitter."""

from __future__ import annotations

import matplotlib
import pytest
import torch

from cellclr_lib import augment
from cellclr_lib.augment import PRESETS, AugmentConfig, Augmenter, preset, reference_transform
from cellclr_lib.errors import CellclrError
from cellclr_lib.plots.augment import augmentation_gallery

matplotlib.use("Agg")

SIZE = 64
# Everything off: the identity pipeline, switched on piece by piece in the tests below.
IDENTITY = AugmentConfig(size=SIZE, crop_scale=None, hflip_p=0.0, jitter_p=0.0, blur_p=0.0)


def crops(n: int = 8, size: int = SIZE, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", PRESETS)
def test_presets_keep_shape_dtype_range_and_device(name):
    x = crops(6, size=80)
    views = Augmenter(name, size=SIZE)(x, seeded())
    assert views.shape == (6, 3, SIZE, SIZE)
    assert views.dtype == torch.float32
    assert views.device == x.device
    assert views.min() >= 0.0 and views.max() <= 1.0
    assert not torch.equal(views, Augmenter(IDENTITY)(x[:, :, :SIZE, :SIZE]))


def test_uint8_input_equals_float_input():
    x8 = (crops() * 255).to(torch.uint8)
    augmenter = Augmenter("microscopy", size=SIZE)
    assert torch.allclose(augmenter(x8, seeded(3)), augmenter(x8.float() / 255, seeded(3)), atol=1e-5)


def test_identical_samples_get_different_views():
    x = crops(1).expand(4, -1, -1, -1).contiguous()
    for name in PRESETS:
        views = Augmenter(name, size=SIZE)(x, seeded())
        distances = torch.cdist(views.flatten(1), views.flatten(1))
        assert (distances + torch.eye(4) > 1e-3).all(), name


def test_same_seed_same_views_other_seed_other_views():
    x = crops()
    augmenter = Augmenter("paper_final", size=SIZE)
    assert torch.equal(augmenter(x, seeded(7)), augmenter(x, seeded(7)))
    assert not torch.allclose(augmenter(x, seeded(7)), augmenter(x, seeded(8)))
    first, second = augmenter.two_views(x, seeded(7))
    assert torch.equal(first, augmenter(x, seeded(7)))
    assert not torch.allclose(first, second)


def test_identity_config_returns_input_and_never_modifies_it():
    x = crops()
    kept = x.clone()
    assert torch.allclose(Augmenter(IDENTITY)(x), x, atol=1e-5)
    Augmenter("microscopy", size=SIZE)(x, seeded())
    assert torch.equal(x, kept)


@pytest.mark.parametrize(("field", "dims"), [("hflip_p", (-1,)), ("vflip_p", (-2,))])
def test_flips_are_exact(field, dims):
    x = crops()
    config = AugmentConfig(**{**IDENTITY.__dict__, field: 1.0})
    assert torch.allclose(Augmenter(config)(x), x.flip(dims), atol=1e-5)


def test_rot90_gives_exact_quarter_turns_and_all_of_them():
    x = crops(32)
    views = Augmenter(AugmentConfig(**{**IDENTITY.__dict__, "rot90": True}))(x, seeded())
    turns = []
    for view, image in zip(views, x, strict=True):
        matches = [
            k for k in range(4) if torch.allclose(view, torch.rot90(image, k, dims=(-2, -1)), atol=1e-5)
        ]
        assert len(matches) == 1
        turns.append(matches[0])
    assert set(turns) == {0, 1, 2, 3}


def test_crop_scale_sets_the_field_of_view():
    # Channel 0 holds the column coordinate: a crop of area 1/4 and ratio 1 spans half the columns.
    ramp = torch.linspace(0, 1, 128).expand(128, 128)
    x = torch.stack([ramp, ramp.T, ramp], 0).expand(16, -1, -1, -1).contiguous()
    config = AugmentConfig(**{**IDENTITY.__dict__, "crop_scale": (0.25, 0.25), "crop_ratio": (1.0, 1.0)})
    views = Augmenter(config)(x, seeded())
    spans = views[:, 0].amax(dim=(1, 2)) - views[:, 0].amin(dim=(1, 2))
    assert torch.allclose(spans, torch.full_like(spans, 0.5), atol=0.02)
    assert views[:, 0, 0, 0].unique().numel() > 8  # and the crops sit at different places


def test_intensity_jitter_acts_per_channel():
    x = torch.full((64, 3, SIZE, SIZE), 0.4)
    config = AugmentConfig(**{**IDENTITY.__dict__, "jitter_p": 1.0, "brightness": 0.5, "contrast": 0.5})
    views = Augmenter(config)(x, seeded())
    factors = views.mean(dim=(2, 3)) / 0.4  # contrast leaves a flat image flat: only brightness shows
    assert torch.allclose(views.std(dim=(2, 3)), torch.zeros(64, 3), atol=1e-6)
    assert ((factors >= 0.5 - 1e-5) & (factors <= 1.5 + 1e-5)).all()
    assert (factors.std(dim=1) > 0.01).float().mean() > 0.9  # channels of one sample differ
    # Contrast pivots around each channel's own mean, which stays where brightness put it.
    x = crops(64)
    views = Augmenter(AugmentConfig(**{**config.__dict__, "brightness": 0.0}))(x, seeded())
    assert torch.allclose(views.mean(dim=(2, 3)), x.mean(dim=(2, 3)), atol=0.02)
    spread = views.std(dim=(2, 3)) / x.std(dim=(2, 3))
    assert (spread.std(dim=1) > 0.01).float().mean() > 0.9


def test_elastic_moves_pixels_smoothly_only_when_on():
    x = crops(8)
    assert torch.allclose(Augmenter(IDENTITY)(x, seeded()), x, atol=1e-5)
    config = AugmentConfig(
        **{**IDENTITY.__dict__, "elastic_p": 1.0, "elastic_alpha": 2.0, "elastic_sigma": 6.0}
    )
    ramp = torch.linspace(0, 1, SIZE).expand(SIZE, SIZE)
    grid = torch.stack([ramp, ramp.T, ramp], 0).expand(8, -1, -1, -1).contiguous()
    shift_px = (Augmenter(config)(grid, seeded())[:, :2] - grid[:, :2]) * (SIZE - 1)
    interior = shift_px[..., 8:-8, 8:-8]  # away from the reflecting border
    rms = interior.pow(2).mean().sqrt()
    assert 1.0 < rms < 3.5  # about the requested 2 px
    assert interior.diff(dim=-1).abs().mean() < 0.5  # smooth: neighbours move together


def test_blur_and_noise_change_local_statistics():
    x = crops(16)
    blurred = Augmenter(AugmentConfig(**{**IDENTITY.__dict__, "blur_p": 1.0, "blur_sigma": (1.5, 2.0)}))(x)
    assert (blurred.std(dim=(2, 3)) < 0.5 * x.std(dim=(2, 3))).all()
    assert torch.allclose(blurred.mean(dim=(2, 3)), x.mean(dim=(2, 3)), atol=0.01)
    flat = torch.full((16, 3, SIZE, SIZE), 0.5)
    config = AugmentConfig(**{**IDENTITY.__dict__, "noise_p": 1.0, "noise_std": (0.02, 0.05)})
    std = Augmenter(config)(flat, seeded()).std(dim=(1, 2, 3))
    assert ((std > 0.018) & (std < 0.052)).all()
    assert std.std() > 1e-3  # each sample its own noise level


def test_cpu_generator_drives_batches_on_any_device():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    x = crops().to(device)
    views = Augmenter("microscopy", size=SIZE)(x, seeded(1))
    assert views.device == x.device
    assert torch.equal(views, Augmenter("microscopy", size=SIZE)(x, seeded(1)))


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(CellclrError, match="preset"):
        preset("simclr")
    with pytest.raises(CellclrError, match=r"\(B, C, H, W\)"):
        Augmenter("microscopy")(torch.rand(3, 32, 32))
    with pytest.raises(CellclrError, match="dtype"):
        Augmenter("microscopy")(torch.zeros(2, 3, 32, 32, dtype=torch.int64))
    with pytest.raises(CellclrError, match="odd"):
        AugmentConfig(blur_kernel=8)


@pytest.mark.parametrize("name", PRESETS)
def test_reference_transform_makes_float_views(name):
    image = (crops(1, size=80)[0] * 255).to(torch.uint8)
    view = reference_transform(name, size=SIZE)(image)
    assert view.shape == (3, SIZE, SIZE)
    assert view.dtype == torch.float32
    assert view.min() >= 0.0 and view.max() <= 1.0


def test_gallery_has_original_plus_k_views_per_cell():
    x = (crops(3) * 255).to(torch.uint8).numpy()
    fig = augmentation_gallery(x, Augmenter("microscopy", size=SIZE), k=4, seed=0)
    assert len(fig.axes) == 3 * 5
    assert fig.axes[0].get_title() == "original"
    first = fig.axes[0].images[0].get_array()
    assert first.shape == (SIZE, SIZE, 3)
    assert abs(first[..., 2].mean() - x[0, 0].mean() / 255) < 1e-6  # DAPI drawn in blue


def test_cpu_chunks_continue_one_random_stream(monkeypatch):
    monkeypatch.setattr(augment, "_CPU_CHUNK_BYTES", 3 * 3 * SIZE * SIZE * 4)  # chunks of 3 samples
    x = crops(8)
    augmenter = Augmenter("microscopy", size=SIZE)
    views = augmenter(x, seeded(5))
    assert views.shape == (8, 3, SIZE, SIZE)
    assert torch.equal(views, augmenter(x, seeded(5)))
    assert torch.equal(views[:3], augmenter(x[:3], seeded(5)))  # the first chunk is the batch of 3


def test_operations_gallery_shows_each_operation_alone() -> None:
    from cellclr_lib.plots.augment import operations_gallery, single_operations

    crop = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    operations = single_operations(32)
    fig = operations_gallery(crop, k=3)
    assert len(fig.axes) == len(operations) * 4
    assert [ax.get_ylabel() for ax in fig.axes[::4]] == list(operations)
    flips_only = Augmenter(operations["flips + 90° rotations"])(crop[None].expand(8, -1, -1, -1))
    expected = crop.float() / 255
    for view in flips_only:  # every view is a rotation/flip of the crop: same pixels, same sum
        assert torch.isclose(view.sum(), expected.sum(), rtol=1e-5)

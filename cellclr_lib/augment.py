"""Batched, on-device augmentations for SimCLR on three-channel fluorescence crops.

SimCLR learns by telling apart two random *views* of the same cell from views of other cells, so the views are
the recipe: whatever the augmentations change, the representation learns to ignore. The paper's code augments
one image at a time on the CPU (torchvision / albumentations); here every operation acts on a whole batch
``(B, C, H, W)`` of floats in ``[0, 1]`` on whatever device the batch lives on, and each sample still draws its
own random parameters.

Pipeline, in order (each step optional, configured by :class:`AugmentConfig`):

1. **Geometry in one resampling.** Random resized crop, horizontal/vertical flips, 90° rotations, an optional
   random affine ("affine jitter") and an optional elastic field are composed into one sampling grid per sample
   and applied with a single bilinear :func:`torch.nn.functional.grid_sample` (reflection padding). With output
   pixel centres ``u ∈ [-1, 1]²`` the input position sampled is

   ``x = c + D · R · F · J · (u + d(u))``

   where ``D = diag(a, b)`` are the crop's half-extents, ``c`` its centre (normalised coordinates), ``R`` a
   rotation by ``k·90°``, ``F = diag(±1, ±1)`` the flips, ``J`` the affine jitter and ``d`` the elastic
   displacement. One resampling instead of four keeps images sharp and is fast (measured in
   ``benchmarks/bench_augment.py``; it beat kornia's per-op pipeline, which resamples per op).
2. **Per-channel intensity jitter.** DAPI, Tubulin and Actin are independent stains imaged separately, so
   each channel gets its own brightness factor ``β_c`` and contrast factor ``γ_c``:
   ``y_c = γ_c · β_c x_c + (1 − γ_c) · mean(β_c x_c)`` (torchvision's definitions, with the contrast pivot
   being the channel's own mean instead of the RGB luminance, and one clamp at the end instead of one per
   factor). Saturation and hue are **not** offered: they
   are RGB notions — saturation blends each channel towards the luminance (leaking one stain into the others)
   and hue rotates intensity *between* channels (relabelling stains) — neither is a nuisance the microscope
   produces.
3. **Gaussian blur** with a per-sample ``σ`` (a 1-D kernel ``∝ exp(−t²/2σ²)``, ``t ∈ [−k//2, k//2]``, applied
   separably with reflect padding, as torchvision does).
4. **Gaussian noise** ``x + s·ε``, ``ε ~ N(0, 1)``, with a per-sample ``s``; finally clamp to ``[0, 1]``.

Randomness comes from an optional :class:`torch.Generator`: the same seed, batch size and device give the
same views (large CPU batches are processed in fixed-size chunks, one after another, from the same stream). Parameters are drawn on the generator's device and moved to the batch's device, so a CPU generator works
for CUDA batches too (with ``generator=None`` they are drawn with the global RNG on the batch's device).

Presets (:data:`PRESETS`): ``paper_early`` and ``paper_final`` follow the authors' code; ``microscopy`` is our
recommendation. See :func:`preset` for the exact mapping of each.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from cellclr_lib.errors import CellclrError

PRESETS = ("paper_early", "paper_final", "microscopy")

_CROP_TRIES = 10  # torchvision's RandomResizedCrop makes 10 attempts before its fallback
# On CPU, large batches are augmented in chunks of about this many output bytes: tensors above glibc's mmap
# threshold (32 MiB) get fresh pages on every allocation, and page faults then cost more than the arithmetic
# (measured: 1.2-1.7x faster for 512 crops of 96 px). GPUs take the whole batch at once.
_CPU_CHUNK_BYTES = 16 * 2**20


@dataclass(frozen=True)
class AugmentConfig:
    """Parameters of the batched pipeline; a probability of 0 (or ``None`` range) switches a step off.

    Attributes:
        size: output side length in pixels (views are square).
        crop_scale: range of the crop's area as a fraction of the input area; ``None`` keeps the whole image
            (only resized to ``size``).
        crop_ratio: range of the crop's aspect ratio (width / height), sampled log-uniformly.
        hflip_p, vflip_p: probability of a horizontal / vertical flip.
        rot90: rotate each view by a uniformly chosen multiple of 90°.
        affine_jitter: maximum displacement of three control points (at ±2/3 of the half-width from the
            centre) as a fraction of the view's half-width; the affine map fitted through them shears, scales
            and rotates the view (the paper's albumentations ``ElasticTransform`` did this with
            ``alpha_affine``). 0 = off.
        affine_p: probability of the affine jitter.
        elastic_p: probability of an elastic deformation.
        elastic_alpha: RMS displacement of the elastic field per axis, in output pixels.
        elastic_sigma: correlation length (Gaussian smoothing σ) of the elastic field, in output pixels.
        jitter_p: probability of the per-channel intensity jitter.
        brightness, contrast: factor ranges ``[max(0, 1 − v), 1 + v]`` drawn independently per channel.
        blur_p: probability of a Gaussian blur; blur_kernel: its (odd) size; blur_sigma: range of σ (pixels).
        noise_p: probability of additive Gaussian noise; noise_std: range of its standard deviation.
    """

    size: int = 96
    crop_scale: tuple[float, float] | None = (0.08, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    hflip_p: float = 0.5
    vflip_p: float = 0.0
    rot90: bool = False
    affine_jitter: float = 0.0
    affine_p: float = 1.0
    elastic_p: float = 0.0
    elastic_alpha: float = 1.0
    elastic_sigma: float = 6.0
    jitter_p: float = 0.8
    brightness: float = 0.8
    contrast: float = 0.8
    blur_p: float = 0.5
    blur_kernel: int = 9
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    noise_p: float = 0.0
    noise_std: tuple[float, float] = (0.0, 0.03)

    def __post_init__(self) -> None:
        if self.size < 1:
            raise CellclrError(f"augmentation size must be positive, got {self.size}", fix="use e.g. size=96")
        if self.blur_kernel % 2 != 1:
            raise CellclrError(
                f"blur_kernel must be odd, got {self.blur_kernel}", fix="use an odd size such as 9"
            )
        if self.crop_scale is not None and not 0 < self.crop_scale[0] <= self.crop_scale[1] <= 1:
            raise CellclrError(
                f"crop_scale must satisfy 0 < low <= high <= 1, got {self.crop_scale}", fix="e.g. (0.08, 1.0)"
            )


def preset(name: str, size: int = 96) -> AugmentConfig:
    """Named configurations.

    * ``paper_early`` — the authors' first recipe (the SimCLR defaults): RandomResizedCrop(size, scale
      0.08–1), horizontal flip, ColorJitter(0.8, 0.8, 0.8, 0.2) with p = 0.8, Gaussian blur k = 9,
      σ ∈ [0.1, 2], p = 0.5. Mapping of the jitter: brightness 0.8 and contrast 0.8 become *per-channel*
      brightness/contrast with the same ranges; saturation 0.8 and hue 0.2 are dropped (see the module
      docstring: they mix stains). SimCLR's RandomGrayscale(p = 0.2) is commented out in the authors' code
      and absent here.
    * ``paper_final`` — the authors' last code (albumentations): RandomResizedCrop(scale 0.08–1), horizontal
      flip, ``ElasticTransform()`` with albumentations' defaults (p = 0.5, alpha = 1, sigma = 50,
      alpha_affine = 50), ``ColorJitter(p=0.8)`` with its defaults (brightness = contrast = 0.2; saturation and
      hue dropped as above), blur k = 9, σ ∈ [0.1, 2], p = 0.5. Honest mapping of the "elastic" step: with
      sigma = 50 px and alpha = 1 its elastic field moves pixels by ≈ 0.003 px — a no-op — while
      alpha_affine = 50 moves three control points (32 px from the centre of a 96-px view) by up to ±50 px:
      a strong random affine. We keep that affine (``affine_jitter = 50/48``, ``affine_p = 0.5``) and add a
      mild, visible elastic field (1 px RMS, σ = 6 px, p = 0.5) so that the step does what its name says.
    * ``microscopy`` — our recommendation: cells have no preferred orientation and crops are centred on a
      nucleus, so a milder crop (scale 0.35–1) that keeps most of the cell, both flips, 90° rotations,
      per-channel brightness/contrast jitter (0.4, p = 0.8), blur (σ ∈ [0.1, 1.5], p = 0.5) and mild camera
      noise (std ≤ 0.03, p = 0.5). No elastic, no affine jitter.
    """
    if name == "paper_early":
        return AugmentConfig(size=size)
    if name == "paper_final":
        return AugmentConfig(
            size=size,
            affine_jitter=50 / 48,
            affine_p=0.5,
            elastic_p=0.5,
            elastic_alpha=1.0,
            elastic_sigma=6.0,
            brightness=0.2,
            contrast=0.2,
        )
    if name == "microscopy":
        return AugmentConfig(
            size=size,
            crop_scale=(0.35, 1.0),
            vflip_p=0.5,
            rot90=True,
            brightness=0.4,
            contrast=0.4,
            blur_sigma=(0.1, 1.5),
            noise_p=0.5,
            noise_std=(0.0, 0.03),
        )
    raise CellclrError(f"unknown augmentation preset {name!r}", fix=f"use one of {', '.join(PRESETS)}")


class Augmenter:
    """Callable batch augmenter: ``Augmenter("microscopy")(batch, generator) -> views``.

    Accepts a float batch in ``[0, 1]`` (or uint8, converted by ``/255``) of shape ``(B, C, H, W)`` on any device
    and returns float views of shape ``(B, C, size, size)`` on the same device, each sample augmented with its
    own random parameters.
    """

    def __init__(self, config: AugmentConfig | str = "microscopy", *, size: int | None = None) -> None:
        cfg = preset(config) if isinstance(config, str) else config
        self.config = replace(cfg, size=size) if size is not None else cfg

    def __repr__(self) -> str:
        return f"Augmenter({self.config!r})"

    def __call__(self, batch: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        _check_batch(batch)
        if batch.device.type == "cpu":
            step = max(1, _CPU_CHUNK_BYTES // (batch.shape[1] * self.config.size**2 * 4))
            if len(batch) > step:
                return torch.cat([self._augment(part, generator) for part in batch.split(step)])
        return self._augment(batch, generator)

    def _augment(self, batch: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        x, gain = _as_float_batch(batch)
        cfg = self.config
        draw = _Draw(generator, x.device, x.shape[0])
        x = _geometry(x, cfg, draw)  # resampling is linear in intensity, so uint8 scaling can wait
        if cfg.jitter_p > 0:
            x = _intensity_jitter(x, cfg, draw, gain)
        elif gain != 1:
            x.mul_(gain)
        if cfg.blur_p > 0:
            x = _blur(x, cfg, draw)
        if cfg.noise_p > 0:
            x = _noise(x, cfg, draw)
        return x.clamp_(0, 1)  # blur and bilinear sampling can overshoot by rounding

    def two_views(
        self, batch: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Two independently augmented views of every sample (the positive pairs of SimCLR)."""
        return self(batch, generator), self(batch, generator)


class _Draw:
    """Random draws for one batch: on the generator's device, then moved to the batch's device."""

    def __init__(self, generator: torch.Generator | None, device: torch.device, batch: int) -> None:
        self.generator = generator
        self.source = generator.device if generator is not None else device
        self.device = device
        self.batch = batch

    def uniform(self, low: float, high: float, *shape: int) -> torch.Tensor:
        u = torch.rand((self.batch, *shape), generator=self.generator, device=self.source)
        return (low + (high - low) * u).to(self.device)

    def bernoulli(self, p: float, *shape: int) -> torch.Tensor:
        return self.uniform(0.0, 1.0, *shape) < p

    def normal(self, *shape: int, rows: int | None = None) -> torch.Tensor:
        size = (self.batch if rows is None else rows, *shape)
        return torch.randn(size, generator=self.generator, device=self.source).to(self.device)

    def integers(self, high: int, *shape: int) -> torch.Tensor:
        i = torch.randint(high, (self.batch, *shape), generator=self.generator, device=self.source)
        return i.to(self.device)


def _check_batch(batch: torch.Tensor) -> None:
    if not isinstance(batch, torch.Tensor) or batch.ndim != 4:
        shape = tuple(batch.shape) if isinstance(batch, torch.Tensor) else type(batch).__name__
        raise CellclrError(
            f"augmentations expect a tensor batch of shape (B, C, H, W), got {shape}",
            fix="stack crops into one tensor; add a batch axis with x[None] for a single image",
        )
    if batch.dtype != torch.uint8 and not batch.is_floating_point():
        raise CellclrError(
            f"augmentations expect float in [0, 1] or uint8 images, got dtype {batch.dtype}",
            fix="convert with batch.float() / 255 (8-bit) or scale to [0, 1] first",
        )


def _as_float_batch(batch: torch.Tensor) -> tuple[torch.Tensor, float]:
    """The batch as floats and the gain that maps it to ``[0, 1]`` (``1/255`` for uint8, applied later)."""
    return (batch.float(), 1 / 255) if batch.dtype == torch.uint8 else (batch, 1.0)


def _crop_boxes(
    cfg: AugmentConfig, draw: _Draw, height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Half-extents ``(a, b)`` and centres ``(cx, cy)`` of random resized crops in normalised coordinates.

    Like torchvision: area fraction ``s ~ U(scale)``, aspect ``r ~ logU(ratio)``, ``w = √(s·A·r)``,
    ``h = √(s·A/r)``; 10 vectorised attempts, the first that fits is used, else the whole image. Positions are
    continuous (torchvision rounds to whole pixels).
    """
    if cfg.crop_scale is None:
        half = torch.ones(draw.batch, 2, device=draw.device)
        return half, torch.zeros_like(half)
    area = draw.uniform(*cfg.crop_scale, _CROP_TRIES) * (height * width)
    log_ratio = draw.uniform(math.log(cfg.crop_ratio[0]), math.log(cfg.crop_ratio[1]), _CROP_TRIES)
    w = torch.sqrt(area * torch.exp(log_ratio)) / width
    h = torch.sqrt(area * torch.exp(-log_ratio)) / height
    fits = (w <= 1) & (h <= 1)
    first = torch.argmax(fits.int(), dim=1, keepdim=True)
    any_fit = fits.any(dim=1)
    w = torch.where(any_fit, w.gather(1, first).squeeze(1), torch.ones_like(any_fit, dtype=w.dtype))
    h = torch.where(any_fit, h.gather(1, first).squeeze(1), torch.ones_like(any_fit, dtype=h.dtype))
    half = torch.stack([w, h], dim=1)
    centre = (1 - half) * draw.uniform(-1.0, 1.0, 2)
    return half, centre


def _linear_part(cfg: AugmentConfig, draw: _Draw, half: torch.Tensor) -> torch.Tensor:
    """The ``(B, 2, 2)`` matrix ``D · R · F · J`` of the sampling map (see the module docstring)."""
    b = draw.batch
    flips = torch.ones(b, 2, device=draw.device)
    if cfg.hflip_p > 0:
        flips[:, 0] = torch.where(draw.bernoulli(cfg.hflip_p), -1.0, 1.0)
    if cfg.vflip_p > 0:
        flips[:, 1] = torch.where(draw.bernoulli(cfg.vflip_p), -1.0, 1.0)
    m = torch.diag_embed(flips)
    if cfg.rot90:
        k = draw.integers(4)
        cos = torch.tensor([1.0, 0.0, -1.0, 0.0], device=draw.device)[k]
        sin = torch.tensor([0.0, 1.0, 0.0, -1.0], device=draw.device)[k]
        rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
        m = rot @ m
    if cfg.affine_jitter > 0:
        m = m @ _affine_jitter(cfg.affine_jitter, cfg.affine_p, draw)
    return torch.diag_embed(half) @ m


def _affine_jitter(amount: float, p: float, draw: _Draw) -> torch.Tensor:
    """Linear part of the affine map taking three control points to randomly displaced copies.

    Points ``p = (±2/3, ±2/3)`` (a third of the side from the centre, as albumentations places them); each
    coordinate moves by ``U(−amount, amount)`` (by 0 for samples outside the ``p`` subset: the identity).
    The exact affine through three point pairs solves ``[p 1] · Mᵀ = p'``. The map's translation is dropped:
    the crop already places the view.
    """
    s = 2 / 3
    src = torch.tensor([[s, s], [s, -s], [-s, -s]], device=draw.device)
    on = draw.bernoulli(p)[:, None, None]
    dst = src + torch.where(on, draw.uniform(-amount, amount, 3, 2), 0.0)
    src_h = torch.cat([src, torch.ones(3, 1, device=draw.device)], dim=1).expand(draw.batch, 3, 3)
    solution = torch.linalg.solve(src_h, dst)  # (B, 3, 2): rows = linear part transposed, then translation
    return solution[:, :2, :].transpose(1, 2)


def _gaussian_kernels(sigma: torch.Tensor, size: int) -> torch.Tensor:
    """Normalised 1-D Gaussian kernels, one row per σ: ``k(t) ∝ exp(−t² / 2σ²)``."""
    t = torch.arange(size, device=sigma.device, dtype=sigma.dtype) - size // 2
    k = torch.exp(-(t**2) / (2 * sigma[:, None] ** 2))
    return k / k.sum(dim=1, keepdim=True)


def _separable_blur(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Blur every image of ``x (N, C, H, W)`` with its own 1-D kernel ``kernels (N, k)`` along both axes.

    One grouped convolution per axis over all ``N·C`` planes; reflect padding like torchvision.
    """
    n, c, h, w = x.shape
    size = kernels.shape[1]
    weights = kernels.repeat_interleave(c, dim=0)[:, None, None, :]
    planes = F.pad(x.reshape(1, n * c, h, w), (size // 2,) * 4, mode="reflect")
    planes = F.conv2d(planes, weights, groups=n * c)
    planes = F.conv2d(planes, weights.transpose(2, 3), groups=n * c)
    return planes.reshape(n, c, h, w)


def _elastic_field(cfg: AugmentConfig, draw: _Draw) -> torch.Tensor:
    """Smooth random displacements ``(B, S, S, 2)`` in normalised output coordinates (zero where disabled).

    Unit white Gaussian noise smoothed by a normalised kernel ``k`` has standard deviation ``√(Σ k²)``; for
    the separable 2-D Gaussian ``k = k₁ ⊗ k₁`` that is ``Σ k₁²``. Dividing by it makes ``elastic_alpha`` the
    RMS displacement per axis in pixels. For speed the field is drawn at a coarser resolution
    (factor ``f ≈ σ/2``, smoothing ``σ/f``) and upsampled bilinearly; the field is smooth on that scale, so
    little is lost.
    """
    size = cfg.size
    factor = max(1, int(cfg.elastic_sigma // 2))
    coarse = math.ceil(size / factor)
    sigma = cfg.elastic_sigma / factor
    ksize = 2 * math.ceil(3 * sigma) + 1
    while ksize // 2 >= coarse:  # reflect padding needs the kernel radius below the image size
        ksize -= 2
    kernel = _gaussian_kernels(torch.tensor([sigma], device=draw.device), ksize)
    noise = draw.normal(2, coarse, coarse).reshape(2 * draw.batch, 1, coarse, coarse)
    field = _separable_blur(noise, kernel.expand(2 * draw.batch, -1))
    field = field.reshape(draw.batch, 2, coarse, coarse) / kernel.pow(2).sum()
    field = F.interpolate(field, size=(size, size), mode="bilinear", align_corners=False)
    on = draw.bernoulli(cfg.elastic_p).to(field.dtype)
    scale = cfg.elastic_alpha * 2 / size  # pixels → normalised units
    return (field * (on * scale)[:, None, None, None]).permute(0, 2, 3, 1)


def _geometry(x: torch.Tensor, cfg: AugmentConfig, draw: _Draw) -> torch.Tensor:
    """Crop, flips, rotations, affine jitter and elastic field as one ``grid_sample``.

    The affine part is separable in the output column ``u_x`` and row ``u_y``:
    ``c + L·u = (c + L[:, 0]·u_x) + L[:, 1]·u_y``, so the grid is one broadcast sum of a per-column and a
    per-row term (several times faster on CPU than :func:`torch.nn.functional.affine_grid`'s batched matmul).
    The elastic field enters as ``L·d`` (two broadcast multiply-adds), the same map ``c + L·(u + d)``.
    """
    half, centre = _crop_boxes(cfg, draw, x.shape[2], x.shape[3])
    linear = _linear_part(cfg, draw, half).to(x.dtype)
    u = (torch.arange(cfg.size, device=x.device, dtype=x.dtype) * 2 + 1) / cfg.size - 1  # pixel centres
    columns = centre.to(x.dtype)[:, None, :] + u[None, :, None] * linear[:, None, :, 0]  # (B, S, 2)
    rows = u[None, :, None] * linear[:, None, :, 1]  # (B, S, 2)
    grid = columns[:, None, :, :] + rows[:, :, None, :]  # (B, S_rows, S_cols, 2) as (x, y)
    if cfg.elastic_p > 0 and cfg.elastic_alpha > 0:
        d = _elastic_field(cfg, draw).to(x.dtype)
        grid = grid + d[..., :1] * linear[:, None, None, :, 0] + d[..., 1:] * linear[:, None, None, :, 1]
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _intensity_jitter(x: torch.Tensor, cfg: AugmentConfig, draw: _Draw, gain: float) -> torch.Tensor:
    """Per-channel brightness then contrast (torchvision's formulas, per stain), on a ``jitter_p`` subset.

    Brightness ``β`` and contrast ``γ`` fold into one affine map per channel,
    ``y = γβ·g·x + (1 − γ)·β·g·mean(x)``, computed in a single pass (``g`` rescales uint8 input to ``[0, 1]``).
    Unlike torchvision, values are clamped once at the end rather than after each factor.
    """
    c = x.shape[1]
    on = draw.bernoulli(cfg.jitter_p)[:, None]
    bright = draw.uniform(max(0.0, 1 - cfg.brightness), 1 + cfg.brightness, c)
    contrast = draw.uniform(max(0.0, 1 - cfg.contrast), 1 + cfg.contrast, c)
    bright = torch.where(on, bright, 1.0).to(x.dtype)[:, :, None, None] * gain
    contrast = torch.where(on, contrast, 1.0).to(x.dtype)[:, :, None, None]
    offset = (1 - contrast) * bright * x.mean(dim=(2, 3), keepdim=True)
    return x.mul_(contrast * bright).add_(offset).clamp_(0, 1)  # in place: x is our own resampled copy


def _blur(x: torch.Tensor, cfg: AugmentConfig, draw: _Draw) -> torch.Tensor:
    """Gaussian blur with a per-sample σ, computed only for the ``blur_p`` subset (half the work at p = 0.5)."""
    on = draw.bernoulli(cfg.blur_p)
    sigma = draw.uniform(*cfg.blur_sigma).to(x.dtype)
    chosen = on.nonzero().squeeze(1)
    if len(chosen):
        blurred = _separable_blur(
            x.index_select(0, chosen), _gaussian_kernels(sigma[chosen], cfg.blur_kernel)
        )
        x.index_copy_(0, chosen, blurred)
    return x


def _noise(x: torch.Tensor, cfg: AugmentConfig, draw: _Draw) -> torch.Tensor:
    """Additive Gaussian noise with a per-sample standard deviation, drawn only for the ``noise_p`` subset."""
    on = draw.bernoulli(cfg.noise_p)
    std = draw.uniform(*cfg.noise_std).to(x.dtype)
    chosen = on.nonzero().squeeze(1)
    noise = draw.normal(*x.shape[1:], rows=len(chosen)).to(x.dtype)
    x.index_add_(0, chosen, noise.mul_(std[chosen, None, None, None]))
    return x


def reference_transform(name: str, size: int = 96) -> Callable[[torch.Tensor], torch.Tensor]:
    """Per-image torchvision (v2) pipeline of a preset, like the paper's code: for benchmarks and comparison.

    Takes one ``uint8`` tensor ``(C, H, W)`` and returns a float view in ``[0, 1]``. It uses torchvision's RGB
    ``ColorJitter`` (what the paper did), not the per-channel jitter of :class:`Augmenter`; ``paper_final``
    uses torchvision's ``RandomAffine`` + ``ElasticTransform`` in place of albumentations'.
    """
    from torchvision.transforms import v2

    cfg = preset(name, size)
    steps = [v2.RandomResizedCrop(size, scale=cfg.crop_scale, ratio=cfg.crop_ratio, antialias=True)]
    steps.append(v2.RandomHorizontalFlip(cfg.hflip_p))
    if cfg.vflip_p > 0:
        steps.append(v2.RandomVerticalFlip(cfg.vflip_p))
    if cfg.rot90:
        steps.append(v2.RandomChoice([v2.RandomRotation((angle, angle)) for angle in (0, 90, 180, 270)]))
    if cfg.affine_jitter > 0:
        steps.append(v2.RandomAffine(degrees=30, scale=(0.7, 1.3), shear=20))
    if cfg.elastic_p > 0:
        steps.append(
            v2.RandomApply([v2.ElasticTransform(alpha=50.0, sigma=cfg.elastic_sigma)], p=cfg.elastic_p)
        )
    if name == "paper_early":
        jitter = v2.ColorJitter(0.8, 0.8, 0.8, 0.2)
    else:
        jitter = v2.ColorJitter(brightness=cfg.brightness, contrast=cfg.contrast)
    steps.append(v2.RandomApply([jitter], p=cfg.jitter_p))
    steps.append(v2.RandomApply([v2.GaussianBlur(cfg.blur_kernel, cfg.blur_sigma)], p=cfg.blur_p))
    steps.append(v2.ToDtype(torch.float32, scale=True))
    if cfg.noise_p > 0:
        steps.append(v2.RandomApply([v2.GaussianNoise(sigma=cfg.noise_std[1])], p=cfg.noise_p))
    return v2.Compose(steps)

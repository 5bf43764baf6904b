"""Throughput of the batched augmentations against the paper-style per-image torchvision pipeline.

Both run in this process on the same random uint8 crops (``N × 3 × S × S``), taking turns; each timing is
repeated and the best run is kept (the machine may be shared). The ratio column is speed relative to the
per-image pipeline. Also times kornia's ``AugmentationSequential`` with the equivalent ops of
``paper_early``, the library alternative considered for :mod:`cellclr_lib.augment`.

    python benchmarks/bench_augment.py --n 512 --size 96 --repeats 5
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch

from cellclr_lib.augment import PRESETS, Augmenter, preset, reference_transform
from cellclr_lib.timing import best_seconds


def kornia_paper_early(size: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """kornia's per-op batched pipeline with the ``paper_early`` ops (RGB jitter, as kornia offers)."""
    import kornia.augmentation as K

    cfg = preset("paper_early", size)
    return K.AugmentationSequential(
        K.RandomResizedCrop((size, size), scale=cfg.crop_scale, ratio=cfg.crop_ratio),
        K.RandomHorizontalFlip(p=cfg.hflip_p),
        K.ColorJitter(0.8, 0.8, 0.8, 0.2, p=cfg.jitter_p),
        K.RandomGaussianBlur((cfg.blur_kernel, cfg.blur_kernel), cfg.blur_sigma, p=cfg.blur_p),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=512, help="number of crops per timed run")
    parser.add_argument("--size", type=int, default=96, help="crop side length in pixels (input and output)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per pipeline; the best is kept")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    parser.add_argument("--device", default="cpu", help="device for the batched pipelines (e.g. cuda)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    crops = torch.randint(0, 256, (args.n, 3, args.size, args.size), dtype=torch.uint8)
    batch = crops.to(args.device)
    print(
        f"{args.n} crops of 3×{args.size}×{args.size}, {torch.get_num_threads()} threads, best of {args.repeats}"
    )
    print(f"{'pipeline':<34}{'images/s':>12}{'ratio':>10}")
    for name in PRESETS:
        reference = reference_transform(name, args.size)
        augmenter = Augmenter(name, size=args.size)
        generator = torch.Generator(device=args.device).manual_seed(0)
        runs = {
            "torchvision per image": lambda r=reference: [r(c) for c in crops],
            "batched (cellclr)": lambda a=augmenter, g=generator: a(batch, g),
        }
        if name == "paper_early":
            pipeline = kornia_paper_early(args.size).to(args.device)
            runs["batched (kornia)"] = lambda k=pipeline: k(batch.float() / 255)
        seconds = best_seconds(runs, args.repeats)
        reference_s = seconds["torchvision per image"]
        for label, s in seconds.items():
            print(f"{name + ' ' + label:<34}{args.n / s:>12.0f}{reference_s / s:>10.2f}")


if __name__ == "__main__":
    main()

"""Colours and orders shared by every figure: 12 distinguishable colours for BBBC021's 12 MoAs, numeric order.

Matplotlib's default cycle has 10 colours, so two of the 12 MoAs repeated the colours of others; and string
order puts Week10 between Week1 and Week2. Both made legends misleading.
"""

from __future__ import annotations

from collections.abc import Iterable

from cellclr_lib.data.metadata import natural_order

#: matplotlib's tab10, then black and a yellow that the others do not approach: 12 categories, no repeat.
PALETTE_12 = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#000000",
    "#e6c300",
)


def category_colors(labels: Iterable[str]) -> dict[str, str]:
    """A colour per distinct label in natural order; distinct up to 12 labels, then the palette repeats."""
    return {label: PALETTE_12[i % len(PALETTE_12)] for i, label in enumerate(natural_order(labels))}

"""The figures' shared conventions and the numbers they draw: palette, week order, chance levels, eligibility."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from cellclr_lib.data.metadata import natural_order
from cellclr_lib.losses import NTXentLoss
from cellclr_lib.plots.palette import PALETTE_12, category_colors
from cellclr_lib.plots.protocol import eligibility_figure, normalization_toy_figure
from cellclr_lib.plots.training import chance_levels, training_curves


def test_weeks_sort_by_number_and_twelve_moas_get_twelve_colours() -> None:
    assert natural_order(["Week10", "Week2", "Week1", "Week2"]) == ["Week1", "Week2", "Week10"]
    moas = [f"MoA {chr(65 + i)}" for i in range(12)]
    colors = category_colors(moas)
    assert len(set(colors.values())) == 12 == len(set(PALETTE_12))
    assert list(colors) == moas


def test_chance_levels_are_what_the_loss_gives_an_encoder_that_knows_nothing() -> None:
    batch = 16
    same = torch.ones(batch, 8)  # every view identical: all similarities equal
    loss, _ = NTXentLoss(temperature=0.5)(same, same)
    assert math.isclose(loss.item(), chance_levels(batch)["loss"], rel_tol=1e-5)
    assert chance_levels(batch)["accuracy"] == 1 / 31


def test_training_curves_draw_the_chance_lines() -> None:
    metrics = pd.DataFrame(
        {"step": [1, 2], "epoch": [1, 1], "loss": [5.0, 4.0], "accuracy": [0.1, 0.2], "lr": [1e-3, 1e-3]}
    )
    axes = training_curves(metrics, batch_size=64).axes
    assert [len(ax.get_lines()) for ax in axes] == [2, 2, 1]
    assert axes[0].get_lines()[1].get_ydata()[0] == chance_levels(64)["loss"]


def test_eligibility_figure_marks_each_scored_query_once() -> None:
    meta = pd.DataFrame(
        {
            "compound": ["a", "a", "b"],
            "concentration": [1.0, 2.0, 1.0],
            "moa": ["x", "x", "y"],
            "batches": ["W1"] * 3,
        }
    )
    eligible = {"nsc": np.array([[0, 0, 1], [0, 0, 1], [1, 1, 0]], dtype=bool)}
    ax = eligibility_figure(meta, eligible, {"nsc": np.array([2, 2, -1])}).axes[0]
    assert len(ax.get_lines()) == 2, "one marker per query with a neighbour, none for the unscored one"


def test_normalization_toy_figure_draws_one_ellipse_per_week_and_panel() -> None:
    meta = pd.DataFrame(
        {"batch": ["Week2"] * 5 + ["Week10"] * 5, "is_control": [True] * 4 + [False] + [True] * 4 + [False]}
    )
    xy = np.random.default_rng(0).normal(size=(10, 2))
    fig = normalization_toy_figure({"none": xy, "again": xy * 2}, meta)
    assert [len(ax.patches) for ax in fig.axes] == [2, 2]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["Week2 DMSO", "Week10 DMSO"]


def test_background_shading_figure_shows_a_flat_background_after_an_exact_correction() -> None:
    from cellclr_lib.plots.data import background_shading_figure

    columns = np.linspace(-1, 1, 64)
    shading = 1 - 0.2 * columns[None, :] ** 2 * np.ones((48, 1))
    field = 100 * shading * (1 + 0.01 * np.random.default_rng(0).normal(size=(48, 64)))
    raw_line, corrected_line = background_shading_figure(field, field / shading).axes[2].get_lines()
    assert np.ptp(raw_line.get_ydata()) > 0.15
    assert np.ptp(corrected_line.get_ydata()) < 0.08


def test_score_bars_draw_one_bar_per_score_and_row_and_write_only_finite_values() -> None:
    """Stage bars: three scores per row; a score left out (NaN mAP of a stand-in without replicates) gets no
    number. Hardness bars: two panels of NSC and NSCB, rows in the table's order from the top."""
    from cellclr_lib.plots.standin import gap_stages_bars, hardness_bars

    stages = pd.DataFrame(
        {"nsc": [0.8, 0.5], "nscb": [0.7, 0.4], "map": [0.75, np.nan]}, index=["REAL: all", "stand-in: all"]
    )
    ax = gap_stages_bars(stages).axes[0]
    assert len(ax.patches) == 6
    assert sorted(text.get_text() for text in ax.texts) == ["0.40", "0.50", "0.70", "0.75", "0.80"]
    assert ax.yaxis_inverted() and [t.get_text() for t in ax.get_yticklabels()][0] == "REAL:\nall"

    table = stages.assign(nsc_selected=[0.9, 0.6], nscb_selected=[0.8, 0.3])
    axes = hardness_bars(table).axes
    assert len(axes) == 2 and all(len(a.patches) == 4 for a in axes) and axes[0].yaxis_inverted()
    assert "0.30" in [t.get_text() for t in axes[1].texts]

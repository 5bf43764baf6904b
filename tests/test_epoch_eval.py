"""Per-epoch NSC/NSCB during training: written every epoch, unchanged by resuming, skipped without labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_prep import run as prep_run
from test_prep import write_dataset
from test_train import make_store

from cellclr_lib.data.store import CropStore
from cellclr_lib.epoch_eval import eval_set, read_epoch_metrics
from cellclr_lib.plots.training import epoch_metrics_figure
from cellclr_lib.train import TrainConfig, read_metrics, train


@pytest.fixture(scope="module")
def labelled_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("raw")
    write_dataset(root)
    out = tmp_path_factory.mktemp("store") / "crops"
    prep_run(root, out)
    return out


def config(out: Path, store: Path, **kw: object) -> TrainConfig:
    base = dict(
        out=str(out),
        store=str(store),
        epochs=2,
        batch_size=16,
        size=16,
        progress=False,
        seed=1,
        warmup_epochs=0.5,
        checkpoint_every=0,
    )
    return TrainConfig(**{**base, **kw})


def test_every_epoch_gets_nsc_and_resuming_changes_nothing(labelled_store: Path, tmp_path: Path) -> None:
    full = train(config(tmp_path / "full", labelled_store))
    scores = read_epoch_metrics(full)
    assert list(scores["epoch"]) == [1, 2]
    assert (
        scores["nsc"].between(0, 1).all() and (scores["n_cells"] == len(CropStore.open(labelled_store))).all()
    )
    part = config(tmp_path / "part", labelled_store, stop_after_epochs=1)
    train(part)
    train(config(tmp_path / "part", labelled_store, resume=True))
    resumed = read_epoch_metrics(tmp_path / "part")
    pd.testing.assert_frame_equal(resumed.drop(columns="seconds"), scores.drop(columns="seconds"))
    np.testing.assert_array_equal(read_metrics(full)["loss"], read_metrics(tmp_path / "part")["loss"])
    figure = epoch_metrics_figure(read_metrics(full), scores)
    assert len(figure.axes) == 2


def test_eval_cells_zero_or_unlabelled_store_means_no_curve(labelled_store: Path, tmp_path: Path) -> None:
    run = train(config(tmp_path / "off", labelled_store, eval_cells=0, epochs=1))
    assert read_epoch_metrics(run).empty and not (run / "epoch_metrics.csv").exists()
    assert eval_set(CropStore.open(make_store(tmp_path / "unlabelled")), 100) is None


def test_eval_set_is_spread_over_wells_and_fixed(labelled_store: Path) -> None:
    store = CropStore.open(labelled_store)
    a, b = eval_set(store, 12, seed=0), eval_set(store, 12, seed=0)
    pd.testing.assert_frame_equal(a.cells, b.cells)
    n_wells = store.cells.groupby(["plate", "well"]).ngroups
    assert a.cells.groupby(["plate", "well"]).size().max() == 12 // n_wells
    assert a.cells.groupby(["plate", "well"]).ngroups == n_wells

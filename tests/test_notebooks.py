"""Every notebook, executed with papermill under the ``ci`` profile; the book built from them; the browser check.

One session-scoped run (about 3 minutes on 2 cores) feeds all tests here, in a temporary folder: the repository's
``book/`` sources are copied next to the executed notebooks, so nothing in the working tree changes. Notebook 1
makes the stand-in; every other notebook then runs **alone**, from its own empty run folder, as on a fresh Colab
runtime, so one run checks both that each notebook stands alone and what it computes. Running them in order,
each reusing what the earlier ones made, is what `make` does (quick profile). The browser check of a built book
lives in ``tests/test_book.py``.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from cellclr_book.runner import NOTEBOOKS, REAL_PROFILE_NOTEBOOKS, ROOT, run_notebooks

pytestmark = pytest.mark.slow
#: notebooks that start from an empty run folder: all but notebook 1 (it makes the data) and the real-profile
#: notebooks (they need only the shipped table).
ALONE = [n for n in NOTEBOOKS[1:] if n not in REAL_PROFILE_NOTEBOOKS]


@pytest.fixture(scope="session")
def ci_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Every notebook's metrics merged (in book order), with ``seconds`` and the shared settings."""
    root = tmp_path_factory.mktemp("ci")
    shutil.copytree(ROOT / "book", root / "book", ignore=shutil.ignore_patterns("_build", "executed"))
    executed, data = root / "book" / "executed", {"data_dir": str(root / "data")}
    runs = {"run": [n for n in NOTEBOOKS if n not in ALONE]} | {f"alone/{n}": [n] for n in ALONE}
    merged: dict = {"seconds": {}}
    for run_dir, names in runs.items():
        metrics = run_notebooks(
            "ci", only=names, output_dir=executed, overrides={**data, "run_dir": str(root / run_dir)}
        )
        merged |= {key: value for key, value in metrics.items() if key != "seconds"}
        merged["seconds"] |= metrics["seconds"]
    merged["seconds"] = {name: merged["seconds"][name] for name in NOTEBOOKS}
    return root, merged


@pytest.fixture(scope="session")
def built_book(ci_run: tuple[Path, dict]) -> Path:
    book = ci_run[0] / "book"
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    subprocess.run([str(jupyter_book), "build", str(book)], check=True, capture_output=True, text=True)
    return book / "_build" / "html"


def test_every_notebook_ran_and_recorded_sane_metrics(ci_run: tuple[Path, dict]) -> None:
    root, metrics = ci_run
    assert list(metrics["seconds"]) == list(NOTEBOOKS)
    assert metrics["dataset"] == "synthetic" and metrics["profile"] == "ci"
    for name in ALONE:  # each alone run wrote its own merged metrics.json
        assert json.loads((root / "alone" / name / "metrics.json").read_text())[name] == metrics[name]
    assert metrics["01_data_preparation"]["n_cells"] > 1000
    training = metrics["03_contrastive_training"]
    assert training["final_loss"] < training["first_loss"]
    assert training["final_accuracy"] > 3 * training["chance_accuracy"]
    simclr = metrics["04_embedding_evaluation"]["simclr"]
    assert set(simclr) == {"none", "dmso-zscore", "whiten", "tvn"}
    for scores in simclr.values():
        assert 0 <= scores["nscb"] <= 1 and 0 <= scores["nsc"] <= 1
        assert scores["drop"] == pytest.approx(scores["nsc"] - scores["nscb"])
    real = metrics["05_real_profiles_benchmark"]
    pinned = real["zscore_mean_pearson"]
    assert (pinned["nsc_correct"], pinned["nscb_correct"]) == (85, 69)  # the same under every profile
    assert pinned["map_activity"] == pytest.approx(0.9513099090768993, abs=1e-9)
    assert len(real["grid"]) == 16 and real["n_selected_features"] == 266
    methods = metrics["06_baselines_comparison"]["methods"]
    for method in ("handcrafted", "random", "vae", "weakly", "simclr"):
        assert {f"{method}/none", f"{method}/tvn"} <= set(methods)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_executed_notebooks_say_which_data_and_show_figures(ci_run: tuple[Path, dict], name: str) -> None:
    notebook = nbformat.read(ci_run[0] / "book" / "executed" / f"{name}.ipynb", as_version=4)
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = json.dumps(outputs)
    banner = "REAL BBBC021 CellProfiler profiles" if name in REAL_PROFILE_NOTEBOOKS else "synthetic stand-in"
    assert banner in text, "every notebook states which dataset it ran on"
    assert "image/png" in text, "every notebook shows at least one figure"


def test_book_renders_every_chapter_with_figures(built_book: Path) -> None:
    assert (built_book / "index.html").is_file()
    for name in NOTEBOOKS:
        page = built_book / "executed" / f"{name}.html"
        assert page.is_file(), f"{name} not rendered"
        assert "<img" in page.read_text(), f"{name} rendered without figures"
    assert "not computed here" in (built_book / "results.html").read_text(), "published numbers are labelled"


def test_executed_pages_are_clean_for_a_reader(built_book: Path) -> None:
    """At most one progress box per page, no warnings, no path of this machine, alt text on every image."""
    spec = importlib.util.spec_from_file_location("book_check", ROOT / "scripts" / "book_check.py")
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    assert check.check_pages(built_book) == []  # this checkout's path and the home folder


@pytest.mark.parametrize("name", ALONE)
def test_each_notebook_runs_alone_from_an_empty_run_directory(ci_run: tuple[Path, dict], name: str) -> None:
    """What a fresh Colab runtime sees: the data may be there, the earlier notebooks' results are not."""
    notebook = nbformat.read(ci_run[0] / "book" / "executed" / f"{name}.ipynb", as_version=4)
    text = json.dumps([o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])])
    assert "Inputs of this notebook" in text and "prepared the crop store" in text
    if name >= "04":
        assert "trained a short SimCLR run" in text, "no checkpoint of notebook 3: a short one is made"
    assert (ci_run[0] / "alone" / name / "metrics" / f"{name}.json").is_file()

"""The papermill runner's pieces, and the notebooks' sources: pairs in sync, parameters parsed, one repo URL."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jupytext
import nbformat
import papermill
import pytest

from cellclr_book import runner
from cellclr_lib.errors import CellclrError
from cellclr_lib.results import FULL_PROFILE_EPOCHS, record_metrics


def test_record_metrics_merges_atomically(tmp_path: Path) -> None:
    record_metrics(tmp_path, "03_x", loss=1.5)
    path = record_metrics(tmp_path, "03_x", accuracy=0.25, loss=1.0)
    assert json.loads(path.read_text()) == {"accuracy": 0.25, "loss": 1.0}
    assert path == tmp_path / "metrics" / "03_x.json"


def test_expectations_name_the_notebook_and_metric() -> None:
    metrics = {"04_eval": {"simclr": {"none": {"nsc": 0.2}}}, "03_train": {"final_loss": 9.0}}
    problems = runner.check_expectations(
        metrics,
        {
            "04_eval.simclr.none.nsc": {"min": 0.3},
            "03_train.final_loss": {"max": 5.0},
            "05_cmp.methods": {"min": 0},
        },
    )
    assert problems == [
        "04_eval.simclr.none.nsc = 0.2 is below its floor 0.3",
        "03_train.final_loss = 9 is above its ceiling 5.0",
        "05_cmp.methods: missing (got None)",
    ]
    assert runner.check_expectations(metrics, {"04_eval.simclr.none.nsc": {"min": 0.1, "max": 1}}) == []


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(CellclrError, match="unknown profile 'huge'"):
        runner.notebook_parameters("huge")


def test_a_failing_cell_is_reported_with_notebook_and_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("answer = 1")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters, nbformat.v4.new_code_cell("assert answer == 42, f'answer is {answer}'")]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    jupytext.write(notebook, tmp_path / "99_broken.py", fmt="py:percent")
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", tmp_path)
    with pytest.raises(CellclrError) as err:
        runner.execute_notebook("99_broken", {"answer": 7, "unused": 1}, tmp_path / "out")
    message = str(err.value)
    assert (
        "notebook 99_broken failed in cell [3] of the executed copy" in message
    )  # [1] parameters, [2] injected by papermill
    assert "AssertionError: answer is 7" in message and "assert answer == 42" in message
    assert (tmp_path / "out" / "99_broken.ipynb").is_file(), "the executed copy is kept for inspection"


def _write_notebook(path: Path, parameters: str, *cells: str) -> None:
    """A py:percent notebook with a tagged ``parameters`` cell followed by ``cells``."""
    notebook = nbformat.v4.new_notebook()
    tagged = nbformat.v4.new_code_cell(parameters)
    tagged.metadata["tags"] = ["parameters"]
    notebook.cells = [tagged, *(nbformat.v4.new_code_cell(c) for c in cells)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    jupytext.write(notebook, path, fmt="py:percent")


@pytest.fixture
def toy_notebooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two throwaway notebooks in place of the real five; the first records metrics from its parameters."""
    _write_notebook(
        tmp_path / "01_toy.py",
        'run_dir = "nowhere"\nepochs = 1\nseed = 0',
        "from cellclr_lib.results import record_metrics",
        'record_metrics(run_dir, "01_toy", epochs_seen=epochs, nsc=0.25 + seed)',
    )
    _write_notebook(tmp_path / "02_toy.py", "seed = 0", "raise RuntimeError('02 must not run here')")
    (tmp_path / "expectations").mkdir()
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", tmp_path)
    monkeypatch.setattr(runner, "EXPECTATIONS_DIR", tmp_path / "expectations")
    monkeypatch.setattr(runner, "NOTEBOOKS", ("01_toy", "02_toy"))
    return tmp_path


def test_run_injects_parameters_and_merges_metrics(toy_notebooks: Path) -> None:
    run_dir = toy_notebooks / "run"
    (run_dir / "metrics").mkdir(parents=True)
    (run_dir / "metrics" / "01_toy.json").write_text('{"stale": true}')
    (toy_notebooks / "expectations" / "ci.json").write_text(
        '{"_about": "a comment", "01_toy.nsc": {"min": 0.2, "max": 0.3}, "02_toy.nsc": {"min": 1}}'
    )
    merged = runner.run_notebooks(
        "ci", only=["01"], run_dir=run_dir, output_dir=toy_notebooks / "out", overrides={"seed": 0}
    )
    # the ci profile's epochs (2) replaced the notebook's default; old values of a rerun were discarded
    assert merged["01_toy"] == {"epochs_seen": 2, "nsc": 0.25}
    assert merged["profile"] == "ci" and merged["dataset"] == "synthetic"
    assert list(merged["seconds"]) == ["01_toy"] and merged["seconds"]["01_toy"] > 0
    assert merged["parameters"]["run_dir"] == str(run_dir)
    assert json.loads((run_dir / "metrics.json").read_text()) == merged
    executed = nbformat.read(toy_notebooks / "out" / "01_toy.ipynb", as_version=4)
    injected = next(c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert "epochs = 2" in injected.source and "batch_size" not in injected.source, "only declared parameters"


def test_a_metric_below_its_floor_fails_naming_notebook_and_metric(toy_notebooks: Path) -> None:
    (toy_notebooks / "expectations" / "quick.json").write_text('{"01_toy.nsc": {"min": 0.3}}')
    with pytest.raises(CellclrError) as err:
        runner.run_notebooks(
            "quick", only=["01_toy"], run_dir=toy_notebooks / "run", output_dir=toy_notebooks / "out"
        )
    assert "01_toy.nsc = 0.25 is below its floor 0.3" in str(err.value)
    assert str(toy_notebooks / "run" / "metrics.json") in str(err.value), "the merged metrics are kept"


def test_cli_refuses_an_unknown_notebook(capsys: pytest.CaptureFixture[str]) -> None:
    from cellclr_lib.cli import main

    assert main(["run-notebooks", "--only", "07", "--no-check"]) == 2
    assert "no notebook matches 07" in capsys.readouterr().err


@pytest.mark.parametrize("name", runner.NOTEBOOKS)
def test_notebook_pairs_are_in_sync(name: str) -> None:
    source = jupytext.read(runner.NOTEBOOK_DIR / f"{name}.py")
    twin = nbformat.read(runner.NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    assert [(c.cell_type, c.source) for c in source.cells] == [(c.cell_type, c.source) for c in twin.cells], (
        f"run: jupytext --sync notebooks/{name}.py"
    )
    assert all(not c.get("outputs") for c in twin.cells if c.cell_type == "code"), (
        "commit .ipynb without outputs"
    )


@pytest.mark.parametrize("name", runner.NOTEBOOKS)
def test_a_notebook_needs_the_library_not_the_runner(name: str) -> None:
    text = (runner.NOTEBOOK_DIR / f"{name}.py").read_text()
    assert "cellclr_book" not in text, "notebooks import cellclr_lib.results, never the runner"


def test_notebook_3s_full_run_projection_uses_the_full_profiles_epochs() -> None:
    assert runner.PROFILES["full"]["epochs"] == FULL_PROFILE_EPOCHS


@pytest.mark.parametrize("name", runner.NOTEBOOKS)
def test_every_parameter_is_parsed_by_papermill(name: str, tmp_path: Path) -> None:
    notebook = jupytext.read(runner.NOTEBOOK_DIR / f"{name}.py")
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    assigned = re.findall(r"^(\w+) = ", cell.source, flags=re.MULTILINE)
    jupytext.write(notebook, tmp_path / "nb.ipynb")
    assert sorted(papermill.inspect_notebook(str(tmp_path / "nb.ipynb"))) == sorted(assigned)
    needed = (
        {"run_dir", "seed"}
        if name in runner.REAL_PROFILE_NOTEBOOKS
        else {"dataset", "data_dir", "run_dir", "seed"}
    )
    assert needed <= set(assigned)


@pytest.mark.parametrize("name", runner.NOTEBOOKS)
def test_colab_badge_install_and_gpu_follow_the_one_repository_url_and_this_version(name: str) -> None:
    from cellclr_lib import __version__

    text = (runner.NOTEBOOK_DIR / f"{name}.py").read_text()
    assert runner.colab_url(name) in text
    assert f'release = "{runner.repository_url()}@v{__version__}"' in text, "Colab installs a pinned tag"
    metadata = jupytext.read(runner.NOTEBOOK_DIR / f"{name}.py").metadata
    if name in runner.REAL_PROFILE_NOTEBOOKS:  # a table of 632 wells: a GPU would only wait in Colab's queue
        assert "accelerator" not in metadata
    else:
        assert metadata["accelerator"] == "GPU" and metadata["colab"]["gpuType"], "Colab is asked for a GPU"


def test_kernel_paths_inside_the_repository_are_relative_to_the_notebooks(tmp_path: Path) -> None:
    parameters = runner.notebook_parameters("ci", {"data_dir": str(tmp_path / "data")})
    seen = runner.kernel_paths(parameters)
    assert seen["run_dir"] == "../runs/ci", "no machine-specific prefix reaches the notebook's outputs"
    assert (runner.NOTEBOOK_DIR / seen["run_dir"]).resolve() == Path(parameters["run_dir"])
    assert seen["data_dir"] == str(tmp_path / "data"), "outside the repository: left as given"
    assert parameters["run_dir"].startswith("/"), "the caller's parameters are not changed"


def test_injected_parameters_are_hidden_from_the_book(tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    injected = nbformat.v4.new_code_cell("run_dir = '/somewhere'")
    injected.metadata["tags"] = ["injected-parameters"]
    notebook.cells = [nbformat.v4.new_code_cell("x = 1"), injected]
    path = tmp_path / "executed.ipynb"
    nbformat.write(notebook, path)
    runner.hide_injected_parameters(path)
    cells = nbformat.read(path, as_version=4).cells
    assert cells[1].metadata["tags"] == ["injected-parameters", "remove-cell"]
    assert "tags" not in cells[0].metadata

"""Regression runs: execute every notebook in order with papermill under a parameter profile.

The notebooks' ``py:percent`` sources are the truth; each is converted in memory (jupytext) and executed with
papermill, which injects the profile's parameters after the notebook's ``parameters`` cell. The executed copies
are kept (the book renders them, never re-executing). Each notebook records its results with
:func:`cellclr_lib.results.record_metrics` into ``run_dir/metrics/<notebook>.json``; the runner merges them
with timings into ``run_dir/metrics.json`` and checks them against ``notebooks/expectations/<profile>.json``
(floors and ceilings), failing loudly with the notebook, the cell and the metric.

The merged ``metrics.json``::

    {"profile": "ci", "dataset": "synthetic", "parameters": {...}, "seconds": {"01_data_preparation": 41.2, ...},
     "01_data_preparation": {"n_cells": 2478, ...}, "04_embedding_evaluation": {"simclr": {"tvn": {"nsc": ...}}}}

An expectation ``"04_embedding_evaluation.simclr.tvn.nsc": {"min": 0.3, "max": 1.0}`` is a dotted path into it.

Profiles: ``ci`` (tiny stand-in, 64 px, two epochs: the test suite), ``quick`` (the ``small`` stand-in: the
README's main command and the book), ``full`` (real BBBC021 on a GPU, paper-like settings).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cellclr_lib.errors import CellclrError
from cellclr_lib.io import write_json_atomic
from cellclr_lib.progress import DISABLE_VARIABLE
from cellclr_lib.results import FULL_PROFILE_EPOCHS

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
EXPECTATIONS_DIR = NOTEBOOK_DIR / "expectations"
NOTEBOOKS = (
    "01_data_preparation",
    "02_augmentations",
    "03_contrastive_training",
    "04_embedding_evaluation",
    "05_real_profiles_benchmark",
    "06_baselines_comparison",
)
#: notebooks on the shipped real CellProfiler profiles: the same data under every profile, no dataset parameters.
REAL_PROFILE_NOTEBOOKS = ("05_real_profiles_benchmark",)

#: profile -> parameters offered to every notebook (each receives those its parameters cell declares).
PROFILES: dict[str, dict[str, Any]] = {
    "ci": {
        "dataset": "synthetic",
        "synthetic_preset": "tiny",
        "data_dir": "data/synthetic-tiny",
        "run_dir": "runs/ci",
        "crop_size": 64,
        "image_size": 64,
        "arch": "resnet18",
        "epochs": 2,
        "batch_size": 64,
        "max_cells": 1024,
        "train_cells": 1024,
        "n_cells": 3,
        "bench_images": 16,
        "workers": 2,
        "device": "cpu",
        "seed": 0,
    },
    "quick": {
        "dataset": "synthetic",
        "synthetic_preset": "small",
        "data_dir": "data/synthetic-small",
        "run_dir": "runs/quick",
        "crop_size": 96,
        "image_size": 64,
        "arch": "resnet18",
        "epochs": 3,
        "batch_size": 128,
        "workers": 2,
        "device": "auto",
        "seed": 0,
    },
    "full": {
        "dataset": "bbbc021",
        "data_dir": "data/bbbc021",
        "run_dir": "runs/full",
        "crop_size": 96,
        "image_size": 96,
        "arch": "resnet50",
        "epochs": FULL_PROFILE_EPOCHS,
        "batch_size": 256,
        "workers": 8,
        "device": "auto",
        "seed": 0,
    },
}

#: profile -> notebook -> parameters that differ for that notebook only. ``epochs`` means SimCLR epochs in
#: notebook 3 but VAE / weakly supervised epochs in notebook 6, which need far fewer passes at full scale.
NOTEBOOK_PARAMETERS: dict[str, dict[str, dict[str, Any]]] = {
    "ci": {"06_baselines_comparison": {"epochs": 1}},  # keeps `make test` under 10 min
    "quick": {"06_baselines_comparison": {"epochs": 2, "train_cells": 2048}},  # keeps `make` under 15 min
    "full": {"06_baselines_comparison": {"epochs": 30, "train_cells": 200_000}},
}


def repository_url() -> str:
    """The project's repository URL, set in one place: ``book/_config.yml`` (``repository.url``)."""
    import yaml

    return yaml.safe_load((ROOT / "book" / "_config.yml").read_text())["repository"]["url"]


def colab_url(notebook: str) -> str:
    """The "Open in Colab" address of a notebook of this repository."""
    path = repository_url().removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{path}/blob/main/notebooks/{notebook}.ipynb"


def notebook_parameters(profile: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The profile's parameters with ``overrides``; relative paths are made absolute from the repository."""
    if profile not in PROFILES:
        raise CellclrError(f"unknown profile {profile!r}", fix=f"use one of {', '.join(PROFILES)}")
    parameters = {**PROFILES[profile], **(overrides or {})}
    for key in ("data_dir", "run_dir"):
        parameters[key] = str((ROOT / parameters[key]).resolve())
    return parameters


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables for the block (kernels started inside inherit them), then restore them."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def hide_injected_parameters(path: Path) -> None:
    """Tag papermill's injected-parameters cell ``remove-cell`` so the book does not show it.

    It holds the runner's absolute paths and profile values, an execution detail: the reader sees the
    notebook's own ``parameters`` cell and the dataset banner, which say what ran.
    """
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    nbformat.write(notebook, path)


def kernel_paths(parameters: dict[str, Any]) -> dict[str, Any]:
    """``parameters`` with ``data_dir`` / ``run_dir`` inside the repository made relative to ``notebooks/``.

    The kernel runs in ``notebooks/``, so ``../runs/quick`` names the same folder as the absolute path; but
    whatever a notebook prints (the dataset banner, a crop store's summary) is then free of the build
    machine's own path, which the book would otherwise publish. Paths outside the repository stay absolute.
    """
    relative = {}
    for key in ("data_dir", "run_dir"):
        path = Path(parameters[key]) if key in parameters else None
        if path is not None and path.is_relative_to(ROOT):
            relative[key] = os.path.relpath(path, NOTEBOOK_DIR)
    return {**parameters, **relative}


def execute_notebook(name: str, parameters: dict[str, Any], output_dir: Path) -> Path:
    """Execute one notebook source with papermill; raise :class:`CellclrError` naming the failing cell.

    The ``py:percent`` source is converted in memory, so a stale ``.ipynb`` twin can never be what runs. Only
    the parameters the notebook's ``parameters`` cell declares are injected (papermill warns about others).
    Progress bars are switched off in the kernel: each refresh would become one more output box in the book.
    """
    import jupytext
    import papermill
    from jupyter_client.kernelspec import NoSuchKernel
    from papermill.exceptions import PapermillExecutionError

    source = NOTEBOOK_DIR / f"{name}.py"
    if not source.is_file():
        raise CellclrError("notebook source not found", path=source, fix="check the name given to --only")
    output_dir.mkdir(parents=True, exist_ok=True)
    output = output_dir / f"{name}.ipynb"
    notebook = jupytext.read(source)
    declared = papermill.inspect_notebook(notebook)
    injected = {key: value for key, value in kernel_paths(parameters).items() if key in declared}
    try:
        with _environment(**{DISABLE_VARIABLE: "1"}):
            papermill.execute_notebook(
                notebook,
                str(output),
                parameters=injected,
                kernel_name="python3",
                cwd=str(NOTEBOOK_DIR),
                progress_bar=False,
            )
    except PapermillExecutionError as err:
        first_line = next((line for line in err.source.splitlines() if line.strip()), "")
        raise CellclrError(
            f"notebook {name} failed in cell [{err.exec_count}] of the executed copy (`{first_line}`): "
            f"{err.ename}: {err.evalue}",
            path=output,
            fix="open the executed copy to see the traceback; rerun with --only to retry one notebook",
        ) from err
    except NoSuchKernel as err:
        raise CellclrError(
            "no Jupyter kernel named 'python3' for this interpreter",
            fix="python -m ipykernel install --sys-prefix --name python3",
        ) from err
    hide_injected_parameters(output)
    return output


def check_expectations(metrics: dict[str, Any], expectations: dict[str, dict[str, float]]) -> list[str]:
    """Violations of ``{"notebook.key.subkey": {"min": x, "max": y}}`` floors and ceilings in ``metrics``.

    Keys are paths into the merged metrics, so every message starts with the notebook that recorded the value.
    Keys starting with ``_`` are comments (why the bounds are what they are).
    """
    problems = []
    for dotted, bounds in expectations.items():
        if dotted.startswith("_"):
            continue
        value: Any = metrics
        for part in dotted.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if not isinstance(value, int | float) or isinstance(value, bool):
            problems.append(f"{dotted}: missing (got {value!r})")
            continue
        if "min" in bounds and value < bounds["min"]:
            problems.append(f"{dotted} = {value:.4g} is below its floor {bounds['min']}")
        if "max" in bounds and value > bounds["max"]:
            problems.append(f"{dotted} = {value:.4g} is above its ceiling {bounds['max']}")
    return problems


def select_notebooks(only: list[str] | None = None) -> list[str]:
    """The notebooks to run, in order: all, or those whose name starts with one of ``only`` (``01``, ``03_c``)."""
    if not only:
        return list(NOTEBOOKS)
    unknown = [o for o in only if not any(n.startswith(o) for n in NOTEBOOKS)]
    if unknown:
        raise CellclrError(
            f"no notebook matches {', '.join(unknown)}", fix=f"use prefixes of {', '.join(NOTEBOOKS)}"
        )
    return [n for n in NOTEBOOKS if any(n.startswith(o) for o in only)]


def run_notebooks(
    profile: str = "ci",
    *,
    only: list[str] | None = None,
    run_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    output_dir: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    check: bool = True,
) -> dict[str, Any]:
    """Execute the notebooks in order under ``profile``; return (and write) the merged ``metrics.json``.

    ``run_dir`` / ``data_dir`` (or any parameter in ``overrides``) replace the profile's values. Executed copies
    go to ``output_dir`` (default ``book/executed``). The merged metrics hold every notebook's recorded values,
    the seconds each notebook took, the profile, the dataset kind and the parameters. With ``check``, the
    expectations of the notebooks that ran are enforced; a violation raises :class:`CellclrError`.
    """
    paths = {k: str(v) for k, v in {"run_dir": run_dir, "data_dir": data_dir}.items() if v is not None}
    parameters = notebook_parameters(profile, {**(overrides or {}), **paths})
    run_dir = Path(parameters["run_dir"])
    output_dir = Path(output_dir) if output_dir else ROOT / "book" / "executed"
    chosen = select_notebooks(only)
    timings: dict[str, float] = {}
    for step, name in enumerate(chosen, 1):
        print(f"run-notebooks [{profile}] {step}/{len(chosen)}: {name} ...", flush=True)
        (run_dir / "metrics" / f"{name}.json").unlink(
            missing_ok=True
        )  # a failed rerun must not pass on old values
        start = time.perf_counter()
        specific = NOTEBOOK_PARAMETERS.get(profile, {}).get(name, {})
        specific = {key: value for key, value in specific.items() if key not in (overrides or {})}
        execute_notebook(name, {**parameters, **specific}, output_dir)
        timings[name] = round(time.perf_counter() - start, 1)
        print(
            f"run-notebooks [{profile}] {step}/{len(chosen)}: {name} done in {timings[name]:.0f} s",
            flush=True,
        )
    merged: dict[str, Any] = {
        "profile": profile,
        "dataset": parameters["dataset"],
        "parameters": parameters,
        "seconds": timings,
    }
    for path in sorted((run_dir / "metrics").glob("*.json")):
        merged[path.stem] = json.loads(path.read_text())
    write_json_atomic(run_dir / "metrics.json", merged)
    expectations_file = EXPECTATIONS_DIR / f"{profile}.json"
    if check and expectations_file.is_file():
        expectations = json.loads(expectations_file.read_text())
        ran = {
            key: bounds for key, bounds in expectations.items() if key.split(".")[0] in chosen
        }  # skips "_"
        problems = check_expectations(merged, ran)
        if problems:
            raise CellclrError(
                "metrics outside their expected range:\n  " + "\n  ".join(problems),
                path=run_dir / "metrics.json",
                fix=f"investigate the notebook named; change {expectations_file} only for an intended change",
            )
        print(
            f"run-notebooks [{profile}]: {len(ran)} expectations of {expectations_file.name} met", flush=True
        )
    elif check:
        print(f"run-notebooks [{profile}]: no {expectations_file} to check metrics against", flush=True)
    return merged


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``cellclr run-notebooks``."""
    parser.add_argument(
        "--profile",
        default="ci",
        choices=list(PROFILES),
        help="parameter set: ci (tiny data, minutes), quick (the book's run), full (real BBBC021 on a GPU)",
    )
    parser.add_argument("--only", nargs="+", metavar="PREFIX", help="run only these notebooks (e.g. 01 03)")
    parser.add_argument("--data-dir", help="override the profile's dataset folder")
    parser.add_argument("--run-dir", help="override the profile's run folder (crops, checkpoints, metrics)")
    parser.add_argument("--output-dir", type=Path, help="where executed notebooks go (default book/executed)")
    parser.add_argument(
        "--no-check", action="store_true", help="skip the comparison with stored expectations"
    )


def main(args: argparse.Namespace) -> int:
    """``cellclr run-notebooks``: execute, merge metrics, check expectations."""
    merged = run_notebooks(
        args.profile,
        only=args.only,
        run_dir=args.run_dir,
        data_dir=args.data_dir,
        output_dir=args.output_dir,
        check=not args.no_check,
    )
    total = sum(merged["seconds"].values())
    metrics_file = Path(merged["parameters"]["run_dir"]) / "metrics.json"
    print(
        f"run-notebooks [{args.profile}]: {len(merged['seconds'])} notebook(s) in {total:.0f} s; {metrics_file}"
    )
    return 0

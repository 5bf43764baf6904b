"""environment.yml (conda users) stays in step with pyproject.toml (pip users)."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
#: conda names for PyPI names that differ
CONDA_NAMES = {"torch": "pytorch"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip().strip('"'), maxsplit=1)[0].lower()


def test_every_runtime_dependency_is_in_environment_yml() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    text = (ROOT / "environment.yml").read_text()
    python = re.search(r"- python=(\d+\.\d+)", text).group(1)
    wanted = [  # a requirement whose marker excludes the environment's Python (tomli on < 3.11) is not needed
        r
        for r in project["dependencies"] + project["optional-dependencies"]["notebooks"]
        if Requirement(r).marker is None or Requirement(r).marker.evaluate({"python_version": python})
    ]
    listed = {
        _name(line.lstrip(" -"))
        for line in text.splitlines()
        if re.match(r"\s+- ", line) and not line.strip().startswith("- pip:")
    }
    missing = [r for r in wanted if CONDA_NAMES.get(_name(r), _name(r)) not in listed]
    assert not missing, f"add to environment.yml: {missing}"
    assert "python" in listed


def test_environment_installs_the_package_itself() -> None:
    assert '-e ".[notebooks,book,dev]"' in (ROOT / "environment.yml").read_text()

"""The Jupyter Book builds offline, warning-free, with every chapter of the table of contents; and a real
browser finds every page, image and "next" link working with a clean console.

The book is built in a temporary copy of ``book/`` whose ``executed/`` holds the real notebook sources with a
figure added instead of a papermill run (that run is ``tests/test_notebooks.py``'s job): a book problem then
shows up here in under a minute, apart from any notebook problem.
"""

from __future__ import annotations

import base64
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

from cellclr_book.runner import NOTEBOOK_DIR, NOTEBOOKS, ROOT, colab_url, repository_url

pytestmark = pytest.mark.slow
BOOK = ROOT / "book"


def _book_check():
    spec = importlib.util.spec_from_file_location("book_check", ROOT / "scripts" / "book_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _toc_files(toc: dict) -> list[str]:
    """Every ``file`` of a jb-book table of contents, root first, in reading order."""
    files = [toc["root"]]
    for entry in toc.get("chapters", []) + [c for part in toc.get("parts", []) for c in part["chapters"]]:
        files.append(entry["file"])
    return files


def _stand_in_executed(name: str, figure: bytes) -> nbformat.NotebookNode:
    """The notebook's real cells, with one figure output in its first figure cell (the one with alt text)."""
    notebook = jupytext.read(NOTEBOOK_DIR / f"{name}.py")
    cell = next(c for c in notebook.cells if "image" in c.metadata.get("mystnb", {}))  # a real figure cell
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(figure).decode()})
    ]
    cell.execution_count = 1
    return notebook


@pytest.fixture(scope="module")
def built_book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    book = tmp_path_factory.mktemp("book") / "book"
    shutil.copytree(BOOK, book, ignore=shutil.ignore_patterns("_build", "executed"))
    figure = (BOOK / "_static" / "favicon.png").read_bytes()
    (book / "executed").mkdir()
    for name in NOTEBOOKS:
        nbformat.write(_stand_in_executed(name, figure), book / "executed" / f"{name}.ipynb")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    done = subprocess.run(
        [str(jupyter_book), "build", str(book), "--warningiserror", "--keep-going"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"jupyter-book build failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return book / "_build" / "html"


def test_toc_lists_every_notebook_from_executed_copies() -> None:
    files = _toc_files(yaml.safe_load((BOOK / "_toc.yml").read_text()))
    assert files[0] == "intro"
    assert [f for f in files if f.startswith("executed/")] == [f"executed/{n}" for n in NOTEBOOKS]
    assert {"setup", "results", "references"} <= set(files)
    config = yaml.safe_load((BOOK / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off", (
        "the book renders papermill's copies, never runs them"
    )


def test_colab_url_follows_the_configured_repository() -> None:
    assert repository_url() == yaml.safe_load((BOOK / "_config.yml").read_text())["repository"]["url"]
    url = colab_url("03_contrastive_training")
    assert url.startswith("https://colab.research.google.com/github/")
    assert url.endswith(
        f"{repository_url().removeprefix('https://github.com/')}/blob/main/notebooks/03_contrastive_training.ipynb"
    )


def test_every_chapter_is_rendered(built_book: Path) -> None:
    assert (built_book / "index.html").is_file()
    for file in _toc_files(yaml.safe_load((BOOK / "_toc.yml").read_text())):
        assert (built_book / f"{file}.html").is_file(), f"{file} is in the toc but was not rendered"
    for name in NOTEBOOKS:
        assert "<img" in (built_book / "executed" / f"{name}.html").read_text(), (
            f"{name}: figure not rendered"
        )
    references = (built_book / "references.html").read_text()
    assert "Perakis" in references and "Caie" in references, "the bibliography is rendered"
    results = (built_book / "results.html").read_text()
    assert "published numbers on the real data" in results and "not computed here" in results


def test_launch_buttons_open_the_notebook_sources_not_the_executed_copies(built_book: Path) -> None:
    for name in NOTEBOOKS:
        html = (built_book / "executed" / f"{name}.html").read_text()
        assert html.count(colab_url(name)) >= 2, f"{name}: the header's Colab button and the badge"
        assert "/book/executed/" not in html, "executed copies are build outputs, not in the repository"


def test_every_notebook_figure_cell_has_alt_text_and_a_caption() -> None:
    for name in NOTEBOOKS:
        for cell in jupytext.read(NOTEBOOK_DIR / f"{name}.py").cells:
            options = cell.metadata.get("mystnb", {})
            if options:
                assert options["image"]["alt"].strip() and options["figure"]["caption"].strip(), name


def test_static_page_check_on_the_built_book(built_book: Path) -> None:
    assert _book_check().check_pages(built_book) == []


def _output(text: str) -> str:
    return f'<div class="cell_output docutils container"><div class="output stderr"><pre>{text}</pre></div></div>'


def test_static_page_check_names_what_a_reader_would_trip_over() -> None:
    check = _book_check()
    bars = [f"epoch 1/2:  {p}%|###   | {p // 10}/10 [00:01<00:01, 7.1batch/s]" for p in (10, 50, 100)]
    page = "".join(
        [
            *(_output(bar) for bar in bars),
            _output("/x/train.py:5: UserWarning: The given NumPy array is not writable"),
            _output("PosixPath('/home/builder/cellclr/runs/ci/metrics/03.json')"),
            '<img alt="Open In Colab" src="badge.svg"/><img alt="../_images/ab12.png" src="../_images/ab12.png"/>',
            '<img alt="" src="b.png"/><img alt="Loss against step" src="c.png"/>',
        ]
    )
    problems = check.page_problems("p.html", page, ["/home/builder/cellclr"])
    assert problems == [
        "p.html: 3 progress-bar boxes in outputs (at most 1)",
        "p.html: warning text in an output: /x/train.py:5: UserWarning: The given NumPy array is not writable",
        "p.html: absolute path of the build machine: /home/builder/cellclr",
        "p.html: image without alternative text: ../_images/ab12.png",
        "p.html: image without alternative text: b.png",
    ]
    assert check.page_problems("p.html", _output(bars[-1]) + "<p>Warning: prose may say it</p>", []) == []


@pytest.mark.browser
def test_book_in_a_real_browser(built_book: Path) -> None:
    check = _book_check()
    if not check.browser_available():
        pytest.skip("chromium/chromedriver not installed (apt-get install chromium chromium-driver)")
    assert check.check_book(built_book) == []


@pytest.mark.browser
def test_browser_check_reports_a_broken_image_and_a_broken_chain(built_book: Path, tmp_path: Path) -> None:
    check = _book_check()
    if not check.browser_available():
        pytest.skip("chromium/chromedriver not installed (apt-get install chromium chromium-driver)")
    broken = shutil.copytree(built_book, tmp_path / "html")
    image = next((broken / "_images").glob("*.png"))
    image.unlink()
    setup = broken / "setup.html"
    setup.write_text(setup.read_text().replace("right-next", "no-next"))
    problems = check.check_book(broken)
    assert any("image did not load" in p and image.name in p for p in problems), problems
    assert "navigation: 'next' links never reach executed/01_data_preparation.html" in problems
    assert "navigation: 'next' links never reach setup.html" not in problems

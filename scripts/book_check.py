"""Check the built book for what a reader would notice: statically, then in headless Chromium.

The static pass reads every page's HTML: at most one progress-bar box per page, no warning text in cell
outputs, no absolute path of the build machine anywhere, and alternative text on every image (myst-nb's default
alt, the image's own file name, does not count). The browser pass serves ``book/_build/html`` on a loopback port and, with Selenium driving Debian's chromium + chromedriver,
checks that every page of the table of contents loads, every image has loaded (``naturalWidth > 0``), the
"next" links walk from the first page to the last, and the browser console shows no errors.

Resources on other hosts (MathJax's CDN, the Colab badge) cannot load on a machine without internet, as in CI:
those failures are listed as warnings, not problems. Everything the book itself serves must load.

    python scripts/book_check.py book/_build/html
"""

from __future__ import annotations

import argparse
import functools
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


ROOT = Path(__file__).resolve().parents[1]

#: a tqdm bar as text: "42%|████      | 39/93 [00:03<00:04, 12.1field/s]" or "12/93 [00:01<...".
_PROGRESS = re.compile(r"\d+%\|.*\||\d+/\d+ \[\d\d:\d\d")
#: how Python warnings read when they reach an output: "UserWarning: ...", "warnings.warn(...)".
_WARNING = re.compile(r"Warning\b|warn\(")
_IMAGE_FILE = re.compile(r"\.(png|jpe?g|gif|svg)$", re.IGNORECASE)


def _pages(html_dir: Path) -> list[str]:
    """The book's pages, relative to ``html_dir``, without Sphinx's own index and search pages."""
    return sorted(
        p.relative_to(html_dir).as_posix()
        for p in html_dir.rglob("*.html")
        if "_static" not in p.parts and p.name not in ("genindex.html", "search.html")
    )


def page_problems(page: str, html: str, forbidden_paths: list[str]) -> list[str]:
    """What a reader would trip over in one page's HTML: progress boxes, warnings, local paths, images without alt.

    A progress box is one output (``div.output``) whose text is a tqdm bar; one per page is tolerated (a loop
    that finished may leave its final state), more means bars were captured refresh by refresh.
    """
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    outputs = [o.get_text() for o in soup.select("div.cell_output div.output")]
    problems = []
    boxes = sum(1 for text in outputs if _PROGRESS.search(text))
    if boxes > 1:
        problems.append(f"{page}: {boxes} progress-bar boxes in outputs (at most 1)")
    for text in outputs:
        if match := _WARNING.search(text):
            line = next(x for x in text.splitlines() if match.group() in x).strip()
            problems.append(f"{page}: warning text in an output: {line[:120]}")
    problems += [
        f"{page}: absolute path of the build machine: {path}" for path in forbidden_paths if path in html
    ]
    for image in soup.find_all("img"):
        alt = (image.get("alt") or "").strip()
        if not alt or _IMAGE_FILE.search(alt):
            problems.append(f"{page}: image without alternative text: {image.get('src')}")
    return problems


def check_pages(html_dir: str | Path, forbidden_paths: list[str] | None = None) -> list[str]:
    """Static problems of every page of the built book (see :func:`page_problems`); empty when clean.

    ``forbidden_paths`` default to this checkout's absolute path and the home folder: a page showing either
    leaks the build machine.
    """
    html_dir = Path(html_dir)
    machine = [ROOT] + ([Path.home()] if len(Path.home().parts) > 1 else [])
    forbidden = [str(p) for p in (forbidden_paths if forbidden_paths is not None else machine)]
    problems = []
    for page in _pages(html_dir):
        problems += page_problems(page, (html_dir / page).read_text(encoding="utf-8"), forbidden)
    return problems


def browser_available() -> bool:
    """True when Debian's chromium and chromedriver are on the PATH."""
    return bool(shutil.which("chromium") and shutil.which("chromedriver"))


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 at an ephemeral port for the duration of the block."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def chromium() -> Iterator[object]:
    """A headless Chromium driven by Selenium, with a throwaway profile and the console log enabled."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory() as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "chromium"
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        driver.set_page_load_timeout(60)
        try:
            yield driver
        finally:
            driver.quit()


_OFFLINE = (
    "ERR_NAME_NOT_RESOLVED",
    "ERR_INTERNET_DISCONNECTED",
    "ERR_CONNECTION_REFUSED",
    "ERR_ADDRESS_UNREACHABLE",
)


def _is_implicit_favicon(message: str, base: str) -> bool:
    """Chromium's own request for ``/favicon.ico`` (made for the redirecting index.html, which declares no icon).

    Every real page declares ``_static/favicon.png``; the site root is not the book's to serve once published
    under a sub-path, so a 404 there is no problem of the book.
    """
    return message.startswith(f"{base}/favicon.ico ")


def _is_external_offline(message: str, base: str) -> bool:
    """A console error about a resource on another host that failed for lack of network."""
    return base not in message.split(" - ")[0] and any(code in message for code in _OFFLINE)


def check_book(html_dir: str | Path, warnings: list[str] | None = None) -> list[str]:
    """All problems found in the built book at ``html_dir`` (empty when every check passes).

    External resources that could not load for lack of network are appended to ``warnings`` instead.
    """
    warnings = [] if warnings is None else warnings
    from selenium.webdriver.common.by import By

    html_dir = Path(html_dir)
    pages = _pages(html_dir)
    problems: list[str] = []
    if "index.html" not in pages:
        return [f"{html_dir}: no index.html (build the book first: make book)"]
    with serve(html_dir) as base, chromium() as driver:
        for page in pages:
            driver.get(f"{base}/{page}")
            broken = driver.execute_script(
                "return Array.from(document.images)"
                ".filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.src);"
            )
            problems += [f"{page}: image did not load: {src}" for src in broken if src.startswith(base)]
            warnings += [
                f"{page}: external image not loaded (offline?): {src}"
                for src in broken
                if not src.startswith(base)
            ]
            errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            for message in errors:
                if _is_implicit_favicon(message, base):
                    continue
                if _is_external_offline(message, base):
                    warnings.append(f"{page}: external resource unreachable (offline?): {message}")
                else:
                    problems.append(f"{page}: console error: {message}")
        driver.get(f"{base}/index.html")
        visited = [driver.current_url]
        for _ in range(len(pages) + 1):
            following = driver.find_elements(By.CSS_SELECTOR, "a.right-next")
            if not following:
                break
            following[0].click()
            visited.append(driver.current_url)
        walked = {url.removeprefix(f"{base}/").split("#")[0] for url in visited}
        chapters = [p for p in pages if p != "index.html"]
        problems += [
            f"navigation: 'next' links never reach {page}" for page in chapters if page not in walked
        ]
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "html_dir", nargs="?", default="book/_build/html", help="the built book's html folder"
    )
    args = parser.parse_args()
    problems = check_pages(args.html_dir)
    if not browser_available():
        print("book_check: chromium/chromedriver not found (apt-get install chromium chromium-driver)")
        return 2
    warnings: list[str] = []
    problems += check_book(args.html_dir, warnings)
    for warning in sorted(set(w.split(": ", 1)[1] for w in warnings)):
        print(f"book_check: warning: {warning}")
    for problem in problems:
        print(f"book_check: {problem}")
    print(f"book_check: {'FAILED' if problems else 'ok'} ({len(problems)} problem(s))")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

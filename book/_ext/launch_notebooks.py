"""Point the header's launch buttons (Colab) at ``notebooks/``, the sources in the repository.

The book renders papermill's executed copies from ``book/executed/``, a build output that is not in the
repository; sphinx-book-theme builds launch links from the page's own path, so Colab was sent to a file that
does not exist. The executed copy of ``notebooks/X.ipynb`` is ``book/executed/X.ipynb``, so the link is
rewritten after the theme has made it.
"""

from __future__ import annotations

from typing import Any

EXECUTED = "/book/executed/"
SOURCES = "/notebooks/"


def _rewrite(buttons: list[dict[str, Any]]) -> None:
    """Replace the executed copy's path by the source's in every link button, groups included."""
    for button in buttons:
        _rewrite(button.get("buttons", []))
        if "url" in button:
            button["url"] = button["url"].replace(EXECUTED, SOURCES)


def point_launch_buttons_at_sources(
    app: Any, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    """``html-page-context`` handler, run after sphinx-book-theme's (priority 501) has added the buttons."""
    if pagename.startswith("executed/"):
        _rewrite(context.get("header_buttons", []))


def setup(app: Any) -> dict[str, bool]:
    app.connect("html-page-context", point_launch_buttons_at_sources, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

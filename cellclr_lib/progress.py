"""Progress bars that show only where someone is watching.

Every long loop of the library reports through :func:`progress_bar`. A bar is useful in a terminal and in an
interactive notebook; captured into a file it is noise: papermill stores each tqdm refresh as one more output,
so an executed notebook shown in the book used to carry hundreds of progress boxes. Hence bars are drawn only
when standard error is a terminal or the code runs in an interactive Jupyter kernel, and never when
``TQDM_DISABLE`` is set — tqdm's own switch, which ``cellclr run-notebooks`` sets for the kernels it starts.

In a Jupyter kernel the widget bar (``tqdm.notebook``) is used when ipywidgets is installed (Colab, JupyterLab);
without it the text bar is used, instead of ``tqdm.auto``'s "IProgress not found" warning.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

from tqdm.std import tqdm

#: tqdm's environment switch (tqdm reads ``TQDM_<argument>`` as defaults); the notebook runner sets it.
DISABLE_VARIABLE = "TQDM_DISABLE"


def in_jupyter_kernel() -> bool:
    """True inside a Jupyter kernel (notebook, lab, Colab, or papermill's headless one)."""
    return "ipykernel" in sys.modules and "IPKernelApp" in getattr(_ipython(), "config", {})


def _ipython() -> object | None:
    """The running IPython shell, if any (imported lazily: plain scripts never load IPython)."""
    if "IPython" not in sys.modules:
        return None
    return sys.modules["IPython"].get_ipython()


def progress_wanted() -> bool:
    """Whether a bar has a watcher: not switched off, and a terminal or a Jupyter kernel to draw in."""
    if os.environ.get(DISABLE_VARIABLE, "").strip().lower() not in ("", "0", "false", "no"):
        return False
    return sys.stderr.isatty() or in_jupyter_kernel()


def progress_bar(iterable: Any = None, *, disable: bool = False, **kwargs: Any) -> tqdm:
    """A tqdm bar (same arguments) that is disabled where :func:`progress_wanted` says nobody watches."""
    disable = disable or not progress_wanted()
    if not disable and in_jupyter_kernel() and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm as notebook_tqdm

        return notebook_tqdm(iterable, disable=disable, **kwargs)
    return tqdm(iterable, disable=disable, **kwargs)

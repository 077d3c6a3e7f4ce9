"""Progress bars that suit where the code runs: widgets in JupyterLab, plain text elsewhere.

``GEOHET_PROGRESS`` chooses the kind:

* ``auto`` (default): tqdm's notebook widget in a Jupyter kernel when ``ipywidgets`` is
  installed (the ``lab`` extra), a text bar otherwise. Never tqdm's "IProgress not found"
  warning: without ipywidgets the text bar is chosen quietly.
* ``text``: always a text bar, refreshed at most every ``TEXT_MININTERVAL_S`` seconds. What
  ``run_all.sh`` and the notebook tests set, because a notebook executed headless by papermill
  has no front end to draw a widget; its saved copy would hold a frozen ``0%`` bar.
* ``off``: no bars.

:func:`progress_bar` wraps tqdm for geohet's own loops;
:class:`geohet_lib.engine.progress.ProgressBar` makes the same choice for Lightning.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterable
from typing import Any

from tqdm import std as tqdm_std

ENV_VAR = "GEOHET_PROGRESS"
MODES = ("auto", "text", "off")
TEXT_MININTERVAL_S = 2.0


def progress_mode() -> str:
    """The mode ``GEOHET_PROGRESS`` asks for (``auto`` when unset); an unknown value is an
    error that names the variable and the accepted values."""
    mode = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise ValueError(f"{ENV_VAR}={os.environ[ENV_VAR]!r} is not a progress mode; "
                         f"set it to one of {', '.join(MODES)}")
    return mode


def in_jupyter_kernel() -> bool:
    """Whether this process is a Jupyter (IPython) kernel."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def widgets_available() -> bool:
    """Whether a widget bar can be drawn: a Jupyter kernel with ``ipywidgets`` importable."""
    return in_jupyter_kernel() and importlib.util.find_spec("ipywidgets") is not None


def use_widgets() -> bool:
    """Whether bars should be notebook widgets now (``auto`` mode in a kernel with widgets)."""
    return progress_mode() == "auto" and widgets_available()


def progress_bar(iterable: Iterable | None = None, **kwargs: Any) -> Any:
    """A tqdm bar of the kind :func:`progress_mode` asks for; ``kwargs`` go to tqdm.

    ``disable=True`` still turns it off; in ``off`` mode it is always off.
    """
    mode = progress_mode()
    if mode == "off":
        kwargs["disable"] = True
    if use_widgets():
        from tqdm.notebook import tqdm as bar_class
    else:
        bar_class = tqdm_std.tqdm
        if in_jupyter_kernel():  # stdout, as tqdm's own notebook bar: no red stderr box
            kwargs.setdefault("file", sys.stdout)
        if mode == "text":
            kwargs["mininterval"] = max(kwargs.get("mininterval", 0.1), TEXT_MININTERVAL_S)
    return bar_class(iterable, **kwargs)

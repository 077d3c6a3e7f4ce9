"""The engine's progress bar: Lightning's tqdm bar as a widget in JupyterLab and as plain text
under papermill, CI and scripts, chosen as :mod:`geohet_lib.progress` chooses for every bar."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress import tqdm_progress
from tqdm import std as tqdm_std

from ..progress import use_widgets


class _TextTqdm(tqdm_std.tqdm):
    """Lightning's padded number format on a plain text bar."""

    format_num = staticmethod(tqdm_progress.Tqdm.format_num)


@contextmanager
def _lightning_text_bars() -> Iterator[None]:
    """Make Lightning's bar factories build text bars for the duration of one call.

    Lightning picks tqdm's notebook bar once, at import, whenever ipywidgets is installed; the
    factories look the class up by its module-level name, so it is swapped only inside the
    ``init_*_tqdm`` call and restored at once.
    """
    saved = tqdm_progress.Tqdm
    tqdm_progress.Tqdm = _TextTqdm
    try:
        yield
    finally:
        tqdm_progress.Tqdm = saved


class ProgressBar(TQDMProgressBar):
    """Lightning's tqdm progress bar, as widgets or text by :func:`progress_mode`."""

    def _bar(self, factory_name: str) -> Any:
        factory = getattr(super(), factory_name)
        if use_widgets():
            return factory()
        with _lightning_text_bars():
            return factory()

    def init_sanity_tqdm(self) -> Any:
        return self._bar("init_sanity_tqdm")

    def init_train_tqdm(self) -> Any:
        return self._bar("init_train_tqdm")

    def init_validation_tqdm(self) -> Any:
        return self._bar("init_validation_tqdm")

    def init_predict_tqdm(self) -> Any:
        return self._bar("init_predict_tqdm")

    def init_test_tqdm(self) -> Any:
        return self._bar("init_test_tqdm")

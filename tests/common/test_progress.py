"""Progress bars by GEOHET_PROGRESS, and INFO logs on stdout (geohet_lib/progress.py,
geohet_lib/runtime.py)."""

from __future__ import annotations

import io
import logging

import pytest
from tqdm import std as tqdm_std

from geohet_lib import progress
from geohet_lib.engine.progress import ProgressBar


@pytest.mark.parametrize("value,mode", [(None, "auto"), ("", "auto"), ("TEXT", "text"),
                                        ("off", "off")])
def test_progress_mode_reads_the_environment(monkeypatch, value, mode):
    if value is None:
        monkeypatch.delenv(progress.ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(progress.ENV_VAR, value)
    assert progress.progress_mode() == mode


def test_unknown_progress_mode_names_the_variable_and_the_choices(monkeypatch):
    monkeypatch.setenv(progress.ENV_VAR, "widgets")
    with pytest.raises(ValueError, match=r"GEOHET_PROGRESS='widgets'.*auto, text, off"):
        progress.progress_mode()


def test_text_mode_gives_a_plain_bar_with_a_long_refresh_interval(monkeypatch):
    monkeypatch.setenv(progress.ENV_VAR, "text")
    sink = io.StringIO()
    bar = progress.progress_bar(range(3), desc="t", file=sink)
    assert type(bar) is tqdm_std.tqdm
    assert bar.mininterval == progress.TEXT_MININTERVAL_S
    assert list(bar) == [0, 1, 2]
    assert "t: 100%" in sink.getvalue()


def test_off_mode_disables_and_auto_outside_a_kernel_is_text(monkeypatch, capsys):
    monkeypatch.setenv(progress.ENV_VAR, "off")
    bar = progress.progress_bar(range(2), desc="quiet")
    assert bar.disable and list(bar) == [0, 1]
    monkeypatch.setenv(progress.ENV_VAR, "auto")
    assert not progress.in_jupyter_kernel() and not progress.use_widgets()
    assert type(progress.progress_bar(range(1), disable=True)) is tqdm_std.tqdm


def test_lightning_bar_is_text_outside_widgets_and_the_swap_is_undone(monkeypatch):
    from lightning.pytorch.callbacks.progress import tqdm_progress

    monkeypatch.setenv(progress.ENV_VAR, "text")
    original = tqdm_progress.Tqdm
    cb = ProgressBar()
    bar = cb._bar("init_test_tqdm")
    try:
        assert isinstance(bar, tqdm_std.tqdm)
        assert not isinstance(bar, original) or original.__mro__[1] is tqdm_std.tqdm
        assert bar.format_num(1.5) == original.format_num(1.5)  # Lightning's padding kept
    finally:
        bar.close()
    assert tqdm_progress.Tqdm is original


def test_info_goes_to_stdout_and_warnings_to_stderr(capsys):
    from geohet_lib.runtime import LOG, setup_logging

    setup_logging()
    setup_logging()  # idempotent: one handler
    assert sum(type(h).__name__ == "_LevelStreamHandler" for h in LOG.handlers) == 1
    LOG.info("an info line")
    LOG.warning("a warning line")
    out, err = capsys.readouterr()
    assert "geohet INFO an info line" in out and "an info line" not in err
    assert "geohet WARNING a warning line" in err and "a warning line" not in out
    LOG.setLevel(logging.NOTSET)

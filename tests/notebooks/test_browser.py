"""The notebooks in a real JupyterLab, driven through its UI in headless Chromium.

JupyterLab runs on 127.0.0.1 with a token, in a private root folder and private Jupyter
config/runtime/workspace folders, and is stopped by its own PID (then its process group, for
the kernels). Chromium and ChromeDriver are Debian's (`chromium`, `chromium-driver`); nothing
downloads a browser: selenium gets the driver's path, so Selenium Manager never runs. Where
either is missing the tests skip and say so (`.ci/run` installs both when it runs as root).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SCREENSHOTS = ROOT / "output" / "browser"
CHROMIUM = os.environ.get("GEOHET_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = (os.environ.get("GEOHET_CHROMEDRIVER") or shutil.which("chromedriver")
                or "/usr/bin/chromedriver")

pytestmark = pytest.mark.browser


def _missing() -> str | None:
    """Why the browser test cannot run here, or None."""
    for what, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)):
        if not Path(path).exists():
            return (f"{what} not found ({path}); install Debian's chromium and chromium-driver "
                    "(.ci/run does when it runs as root)")
    for module, extra in (("selenium", "test"), ("jupyterlab", "lab"), ("ipywidgets", "lab")):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed: pip install -e '.[{extra}]'"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(predicate, timeout: float, what: str, poll: float = 0.5):
    """Poll ``predicate`` until it returns something truthy; fail naming ``what``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _run_copy(src: Path, dst: Path, work: Path) -> None:
    """``src`` with papermill's parameters cell for a smoke run writing under ``work``."""
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = load_notebook_node(str(src))
    nb = parameterize_notebook(nb, {"profile": "smoke", "seed": 0, "device": "cpu",
                                    "data_root": str(work / "data"),
                                    "figures_dir": str(work / "figures"),
                                    "tables_dir": str(work / "tables")})
    nbformat.write(nb, dst)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server over a folder holding the stored notebooks byte for byte
    (``stored/``) and a smoke-parameterised copy of notebook 01 (``run/``)."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("lab")
    root, work = base / "root", base / "work"
    (root / "stored").mkdir(parents=True)
    (root / "run").mkdir()
    for nb in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        shutil.copyfile(nb, root / "stored" / nb.name)
    _run_copy(NOTEBOOKS / "01_dataset_building.ipynb", root / "run" / "01_dataset_building.ipynb",
              work)
    settings = base / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)  # no "official Jupyter news?" toast over the screenshot
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    token, port = secrets.token_hex(16), _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("GEOHET_PROGRESS", "MPLBACKEND")}
    for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                     ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"), ("IPYTHONDIR", "ipython")):
        env[var] = str(base / sub)
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--ServerApp.port={port}",
           "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(base / "jupyterlab.log", "wb")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"JupyterLab exited ({proc.returncode}); log: "
                                 f"{(base / 'jupyterlab.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        _wait_for(up, 90, "JupyterLab to answer /api/status")
        yield {"url": url, "token": token, "work": work, "base": base}
    finally:
        proc.terminate()  # the server, by its own PID: it shuts its kernels down
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        try:  # anything left in its session (a kernel that outlived it)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        log.close()


@pytest.fixture(scope="module")
def browser(lab):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1500,1100", "--hide-scrollbars"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


def _open(driver, lab, path: str) -> None:
    """Open ``path`` in a fresh workspace (no tabs restored from an earlier page)."""
    ws = f"w{time.time_ns()}"
    driver.get(f"{lab['url']}/lab/workspaces/{ws}/tree/{path}?reset&token={lab['token']}")
    name = Path(path).name

    def ready():
        return driver.execute_script("""
            const tab = Array.from(document.querySelectorAll('.lm-DockPanel-tabBar .lm-TabBar-tab'))
                .find(t => t.textContent.includes(arguments[0]));
            return tab && document.body.innerText.includes('| Idle') ? true : false;""", name)

    _wait_for(ready, 120, f"{path} to open with an idle kernel")


def _tab_dirty(driver, name: str) -> bool:
    return driver.execute_script("""
        const tab = Array.from(document.querySelectorAll('.lm-DockPanel-tabBar .lm-TabBar-tab'))
            .find(t => t.textContent.includes(arguments[0]));
        return tab.classList.contains('jp-mod-dirty');""", name)


def test_stored_notebooks_open_unmodified(lab, browser):
    """JupyterLab writes the kernel's ``language_info`` into a notebook when its kernel
    connects; a stored notebook whose block differs opens already "modified"."""
    dirty = []
    for nb in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        _open(browser, lab, f"stored/{nb.name}")
        time.sleep(2.0)  # metadata updates land after the kernel's first idle
        if _tab_dirty(browser, nb.name):
            dirty.append(nb.name)
    assert not dirty, (f"opening marks these notebooks modified: {dirty} (run "
                       "python tools/normalise_notebooks.py with the reference Python)")


def _run_all_cells(driver) -> None:
    from selenium.webdriver.common.by import By

    run_menu = next(el for el in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-item")
                    if el.text.strip() == "Run")
    run_menu.click()
    item = _wait_for(lambda: driver.find_elements(
        By.CSS_SELECTOR, 'li.lm-Menu-item[data-command="runmenu:run-all"]'), 10,
        "the Run > Run All Cells menu item")
    item[0].click()


def _cell_states(driver) -> dict:
    return driver.execute_script("""
        const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
        const prompts = Array.from(nb.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt'))
            .map(p => p.textContent.trim());
        return {prompts: prompts, text: nb.innerText};""")


def test_notebook_01_runs_in_jupyterlab_with_maps_inline(lab, browser):
    name = "01_dataset_building.ipynb"
    _open(browser, lab, f"run/{name}")
    _run_all_cells(browser)

    def finished():
        s = _cell_states(browser)
        if "Traceback (most recent call last)" in s["text"]:
            return s  # Run All stops at an error: no point waiting
        done = s["prompts"] and all(p.startswith("[") and p[1:-2].isdigit() for p in s["prompts"])
        return s if done else None

    state = _wait_for(finished, 300, "every cell of notebook 01 to run", poll=1.0)
    assert "Traceback (most recent call last)" not in state["text"], state["text"][-3000:]
    assert "TqdmWarning" not in state["text"] and "IProgress not found" not in state["text"]

    images = browser.execute_script("""
        const imgs = Array.from(document.querySelectorAll(
            '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output img'));
        imgs.forEach(i => i.scrollIntoView());
        return imgs.length;""")
    time.sleep(1.0)
    sizes = browser.execute_script("""
        return Array.from(document.querySelectorAll(
            '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output img'))
            .map(i => [i.complete, i.naturalWidth, i.naturalHeight]);""")
    written = sorted(p.name for p in (lab["work"] / "figures").glob("*.png"))
    assert len(written) == 4, written  # land grid, annual GPP, seasonal cycles, ground truth
    assert images >= len(written), (images, written)
    assert all(done and w > 0 and h > 0 for done, w, h in sizes), sizes
    widgets = browser.execute_script(
        "return document.querySelectorAll('.jp-OutputArea-output .widget-hprogress').length;")
    assert widgets >= 1, "tqdm bars did not render as ipywidgets progress bars"

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.execute_script("""
        document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output img')
            .scrollIntoView({block: 'start'});""")
    time.sleep(0.5)
    shot = SCREENSHOTS / "01_dataset_building_smoke.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    (SCREENSHOTS / "01_dataset_building_smoke.json").write_text(json.dumps(
        {"images": sizes, "figures_written": written, "cells": len(state["prompts"])}, indent=1))

"""``python -m geohet_lib.cli``: the shell entry point for one- and several-process training."""

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def gpp_root(tmp_path_factory, smoke_profile):
    """Stages 01-02 of the GPP study on the smoke profile, in the data-root layout."""
    from geohet_lib.config import data_dir
    from geohet_lib.gpp.stage01 import build_synthetic_gpp
    from geohet_lib.gpp.stage02 import build_stage02

    root = tmp_path_factory.mktemp("data")
    d = data_dir("gpp", "smoke", root)
    build_synthetic_gpp(smoke_profile, d, seed=0, progress=False)
    build_stage02(smoke_profile, d, seed=0, progress=False)
    return root


def test_cli_trains_geohet_and_writes_its_result(gpp_root, tmp_path):
    from geohet_lib.cli import main
    from geohet_lib.engine import BEST_NAME

    res = main(["gpp", "--profile", "smoke", "--data-root", str(gpp_root), "--device", "cpu",
                "--out", str(tmp_path), "--no-progress"])
    assert res["model"] == "GeoHet" and res["rmse"] > 0 and 0 < res["best_epoch"] <= res["epochs"]
    assert json.loads((tmp_path / "result.json").read_text())["rmse"] == res["rmse"]
    assert (tmp_path / BEST_NAME).exists() and (tmp_path / "metrics.csv").exists()


def test_cli_runs_two_processes_as_lightning_launches_them(gpp_root, tmp_path):
    """The README's one-machine command with two CPU processes (gloo): Lightning re-launches
    the module for rank 1; rank 0 writes the result."""
    cmd = [sys.executable, "-m", "geohet_lib.cli", "gpp", "--profile", "smoke", "--data-root",
           str(gpp_root), "--device", "cpu", "--devices", "2", "--out", str(tmp_path),
           "--no-progress"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                         cwd=Path(__file__).parents[2])
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads((tmp_path / "result.json").read_text())
    assert out["devices"] == 2 and out["rmse"] > 0


def test_cli_rejects_unknown_arguments():
    from geohet_lib.cli import parser

    with pytest.raises(SystemExit):
        parser().parse_args(["gpp", "--profile", "huge"])

"""run_all.sh's argument checks and its interrupt handling (without running real notebooks)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN_ALL = ROOT / "run_all.sh"


def test_a_seed_that_is_not_a_number_is_refused_before_anything_runs(tmp_path):
    res = subprocess.run(["bash", str(RUN_ALL), "--seed", "abc"], capture_output=True, text=True,
                         env={**os.environ, "GEOHET_VENV": str(tmp_path / "none")}, timeout=60)
    assert res.returncode == 2
    assert "--seed must be a non-negative integer" in res.stderr and "'abc'" in res.stderr
    assert not (tmp_path / "none").exists()  # no environment was created


def _fake_venv(tmp_path: Path) -> Path:
    """A venv whose python is the real one, except that ``-m papermill`` sleeps like a long
    notebook; its install stamp matches, so run_all.sh reuses it."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    py = venv / "bin" / "python"
    py.write_text(f"""#!/usr/bin/env bash
if [[ "$1" == "-m" && "$2" == "papermill" ]]; then
  echo "$$" > "{tmp_path}/papermill.pid"
  sleep 120 &
  echo "$!" > "{tmp_path}/sleep.pid"
  wait $!
  exit 0
fi
exec "{sys.executable}" "$@"
""")
    py.chmod(0o755)
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + RUN_ALL.read_bytes()).hexdigest()
    (venv / ".geohet-install-stamp").write_text(want[:16] + "\n")
    return venv


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and " Z " not in Path(f"/proc/{pid}/stat").read_text()


@pytest.mark.skipif(sys.platform != "linux", reason="uses /proc and POSIX signals")
def test_ctrl_c_stops_the_run_names_the_notebook_and_exits_non_zero(tmp_path):
    venv = _fake_venv(tmp_path)
    proc = subprocess.Popen(["bash", str(RUN_ALL), "--profile", "smoke", "--study", "gpp",
                             "--stage", "01"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "GEOHET_VENV": str(venv)})
    pid_file = tmp_path / "sleep.pid"
    deadline = time.time() + 60
    while not pid_file.exists() and time.time() < deadline:
        time.sleep(0.2)
    assert pid_file.exists(), "the fake notebook never started"
    time.sleep(0.5)
    sleeper = int(pid_file.read_text())
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)  # generous: a loaded CI machine is slow to reap
    assert proc.returncode == 130, (out, err)
    assert "interrupted while running 01_dataset_building [gpp]" in err
    assert "all notebooks ran" not in out
    time.sleep(0.5)
    assert not _alive(sleeper), "the notebook's process outlived the interrupt"

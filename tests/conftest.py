"""Shared fixtures: a tiny synthetic GPP dataset built once per test session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("GEOHET_PROGRESS", "text")  # as run_all.sh: papermill has no widget front end


@pytest.fixture(scope="session")
def smoke_profile():
    from geohet_lib.config import get_profile

    return get_profile("smoke")


@pytest.fixture(scope="session")
def smoke_gpp_dir(tmp_path_factory, smoke_profile):
    """Stage 01 of the GPP study on the smoke profile, written once."""
    from geohet_lib.gpp.stage01 import build_synthetic_gpp

    out = tmp_path_factory.mktemp("gpp_smoke")
    build_synthetic_gpp(smoke_profile, out, seed=0, progress=False)
    return out

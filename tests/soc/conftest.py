"""Fixtures of the SOC tests: the smoke corpus with its Africa graph, built once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def smoke_dir(tmp_path_factory):
    """Stages 01-02 of the SOC study on the smoke profile (Africa graph only)."""
    from geohet_lib.config import get_profile
    from geohet_lib.soc.stage01 import build_soc_corpus
    from geohet_lib.soc.stage02 import build_soc_graphs

    out = tmp_path_factory.mktemp("soc_smoke")
    build_soc_corpus(get_profile("smoke"), out, seed=0, progress=False)
    build_soc_graphs("smoke", out, regions=["africa"], seed=0, progress=False)
    return out


@pytest.fixture(scope="session")
def africa(smoke_dir):
    """The smoke Africa region as stage 03 prepares it."""
    from geohet_lib.soc import stage03 as s3

    return s3.prepare_region(smoke_dir, "smoke", "africa", seed=0)

"""Stage 02 of the GPP study in one call: the STCG of stage 01's land grid, saved."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..config import Profile
from ..paths import CELLS_NAME, STCG_MANIFEST_NAME, STCG_NAME
from ..runtime import seed_everything, stage_log
from ..stages import check_built_for, content_key, read_unit_manifest, staged
from .dataset import read_manifest
from .graph import build_stcg, load_graph, save_graph

STAGE02_UNIT = "gpp_stage02"
NOTEBOOK_02 = "stage 02 (notebooks/02_graph_construction.ipynb)"


def build_stage02(profile: Profile, data_dir: str | Path, seed: int = 0, progress: bool = True):
    """Build the Spatiotemporal Conditional Graph (paper 3.1) for stage 01's cells.

    Reads ``cells.parquet`` from ``data_dir`` (stage 01 must have been built for this
    ``profile`` and ``seed``), writes ``stcg.pt`` (a PyG ``Data``) and its manifest
    ``stcg.json`` (the stage-01 key it was built from) beside it and returns the graph.
    """
    data_dir = Path(data_dir)
    stage01 = read_manifest(data_dir, profile=profile.name, seed=seed)
    seed_everything(seed)
    cells = pd.read_parquet(data_dir / CELLS_NAME)
    with stage_log("gpp/02_graph_construction", data_dir) as rec:
        with staged(data_dir, STAGE02_UNIT, STCG_MANIFEST_NAME) as st:
            data = build_stcg(cells, profile.gpp.graph,
                              steps_per_year=profile.gpp.steps_per_year, seed=seed,
                              progress=progress)
            save_graph(data, st.path(STCG_NAME))
            st.manifest = {"stage": "02_graph_construction", "study": "gpp",
                           "profile": profile.name, "seed": seed,
                           "upstream": content_key(stage01), "n_nodes": int(data.num_nodes),
                           "n_edges": int(data.edge_index.shape[1])}
        rec.wrote(data_dir / STCG_NAME)
        rec.extra = {"n_nodes": int(data.num_nodes), "n_edges": int(data.edge_index.shape[1]),
                     "timings": data.timings}
    return data


def load_stage02_graph(data_dir: str | Path):
    """The STCG stage 02 wrote, refused (naming notebook 02) when it is missing, changed, or
    built from another stage-01 result than the one now in ``data_dir``."""
    data_dir = Path(data_dir)
    manifest = read_unit_manifest(data_dir, STCG_MANIFEST_NAME, NOTEBOOK_02)
    check_built_for(manifest, f"{data_dir / STCG_NAME}", NOTEBOOK_02,
                    upstream=content_key(read_manifest(data_dir)))
    return load_graph(data_dir / STCG_NAME)

"""Stage 02 of the GPP study in one call: the STCG of stage 01's land grid, saved."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..config import Profile
from ..paths import CELLS_NAME, MANIFEST_NAME, STCG_NAME
from ..runtime import seed_everything, stage_log
from .graph import build_stcg, save_graph


def build_stage02(profile: Profile, data_dir: str | Path, seed: int = 0, progress: bool = True):
    """Build the Spatiotemporal Conditional Graph (paper 3.1) for stage 01's cells.

    Reads ``cells.parquet`` from ``data_dir``, writes ``stcg.pt`` (a PyG ``Data``) beside it
    and returns the graph.
    """
    data_dir = Path(data_dir)
    if not (data_dir / MANIFEST_NAME).exists():
        raise FileNotFoundError(f"no stage-01 output in {data_dir}: run "
                                "notebooks/01_dataset_building.ipynb for this profile first")
    seed_everything(seed)
    cells = pd.read_parquet(data_dir / CELLS_NAME)
    with stage_log("gpp/02_graph_construction", data_dir) as rec:
        data = build_stcg(cells, profile.gpp.graph, steps_per_year=profile.gpp.steps_per_year,
                          seed=seed, progress=progress)
        rec.wrote(save_graph(data, data_dir / STCG_NAME))
        rec.extra = {"n_nodes": int(data.num_nodes), "n_edges": int(data.edge_index.shape[1]),
                     "timings": data.timings}
    return data

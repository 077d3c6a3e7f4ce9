"""Stage 07 of the GPP study: GeoHet's graph-node condition vectors by week (paper 4.5, Figure 5),
scored against the generator's hidden truth.

Reads stage 03's trained GeoHet (``data/gpp/<profile>/checkpoints/geohet/best.ckpt``) and,
where stage 03 saved it, the model without the graph (``checkpoints/geohet_no_graph``); trains
nothing. The vectors ``v_final`` (clusters, 46 steps, d) are what the decoder's queries read
(paper 3.2); one graph node is a K-means cluster of land cells, so a node's vector is drawn on
every cell of its cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..engine import BEST_NAME, load_checkpoint
from ..paths import CHECKPOINTS_DIR
from ..stages import check_trained_on, content_key
from .dataset import read_manifest
from .graph import initial_node_time_embeddings
from .model import GeoHet, GeoHetConfig
from .samples import SampleCache

#: the weeks of the paper's Figure 5 (1-based 8-day steps of the year)
PAPER_WEEKS: tuple[int, ...] = (10, 20, 30, 40)
#: the generator's hidden fields and true response parameters a node embedding could recover
TRUTH_COLUMNS: tuple[str, ...] = ("aridity", "continentality", "t_ann_c", "porosity",
                                  "hidden_nutrient", "hidden_species_1", "hidden_species_2",
                                  "hidden_altitude_km", "lue_max", "t_opt", "water_beta",
                                  "season_amp", "season_phase")


@dataclass
class TrainedGeoHet:
    """A stage 03 GeoHet rebuilt from its checkpoint."""

    name: str
    model: GeoHet
    y_scale: float
    path: Path


def load_trained(data_dir: str | Path, graph, name: str = "geohet") -> TrainedGeoHet:
    """The GeoHet stage 03 saved under ``checkpoints/<name>/best.ckpt`` on ``graph`` (stage
    02's); the error names the notebook to run when it is missing."""
    path = Path(data_dir) / CHECKPOINTS_DIR / name / BEST_NAME
    if not path.exists():
        raise FileNotFoundError(f"no trained GeoHet at {path}: run notebooks/03_training.ipynb "
                                "for this profile first")
    ck = load_checkpoint(path, "cpu")
    check_trained_on(ck["hparams"], content_key(read_manifest(data_dir)), path,
                     "stage 03 (notebooks/03_training.ipynb)")
    cfg = GeoHetConfig(**ck["hparams"]["model_config"])
    init = initial_node_time_embeddings(graph)
    model = GeoHet(cfg, init, graph.edge_index, graph.edge_weight.float())
    model.load_state_dict(ck["state_dict"])
    model.eval()
    return TrainedGeoHet(name, model, float(ck["extra"].get("y_scale", 1.0)), path)


def condition_vectors(trained: TrainedGeoHet) -> np.ndarray:
    """``v_final`` (clusters, steps, d) of a trained GeoHet, float64."""
    return trained.model.condition_vectors().cpu().numpy().astype(np.float64)


def node2vec_vectors(graph) -> np.ndarray:
    """The initial ``Node2vec + RoPE`` vectors (clusters, steps, d) the training started from."""
    return initial_node_time_embeddings(graph).numpy().astype(np.float64)


def test_year_predictions(trained: TrainedGeoHet, cache: SampleCache, year: int,
                          cell_cluster: np.ndarray, device: str | torch.device = "cpu"
                          ) -> np.ndarray:
    """GeoHet's GPP prediction (cells, 46) for every cell in ``year``."""
    from .train import predict

    ex = cache.examples([year])
    order = np.argsort(ex[:, 0], kind="stable")
    pred = predict(trained.model, cache, ex[order], cell_cluster, trained.y_scale, device=device)
    out = np.full((cache.n_cells, pred.shape[1]), np.nan)
    out[ex[order, 0]] = pred
    return out


def cluster_truth(truth: pd.DataFrame, cell_cluster: np.ndarray, n_clusters: int,
                  columns: tuple[str, ...] = TRUTH_COLUMNS) -> pd.DataFrame:
    """The truth averaged over each node's cells (row = node id); absent columns skipped."""
    cols = [c for c in columns if c in truth]
    df = truth[cols].copy()
    df["node"] = np.asarray(cell_cluster)
    return df.groupby("node").mean().reindex(range(n_clusters))

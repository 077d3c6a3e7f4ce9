"""Stage 07 of the SOC study: SpTGNN's node embeddings per region, scored against the
generator's hidden fields (SOC paper 3.6; beyond the paper, which shows none).

Reads stage 03's trained SpTGNN of each region (``data/soc/<profile>/checkpoints/
sptgnn_<region>/best.ckpt``) and its cached ViT embeddings; trains nothing. For every sample of
the region it takes two representations (:meth:`~geohet_lib.soc.sptgnn.SpTGNN.representations`):
the fused features entering the RGAT stack (``pre_graph``) and the last-layer embedding the
heads read (``embedding``), so the maps show what message passing over the heterogeneous graph
added.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..engine import BEST_NAME, load_checkpoint
from ..paths import CHECKPOINTS_DIR
from ..stages import check_trained_on, content_key
from .configs import SpTGNNConfig
from .stage02 import load_graph_summary
from .stage03 import RegionData, _image_array
from .sptgnn import SpTGNN

#: hidden fields and true coefficients of the SOC generator a node embedding could recover
TRUTH_COLUMNS: tuple[str, ...] = ("aridity", "continentality", "hidden_regime_1",
                                  "hidden_regime_2", "hidden_clay", "hidden_management",
                                  "image_signal", "coef_temperature", "coef_precipitation",
                                  "coef_ndvi", "coef_elevation", "log_soc_mean")
STAGES: tuple[str, ...] = ("pre_graph", "embedding")


def load_trained(data_dir: str | Path, region: str) -> SpTGNN:
    """The region's SpTGNN as stage 03 saved it (best validation epoch), in eval mode."""
    path = Path(data_dir) / CHECKPOINTS_DIR / f"sptgnn_{region}" / BEST_NAME
    if not path.exists():
        raise FileNotFoundError(f"no trained SpTGNN for {region!r} at {path}: run "
                                "notebooks/03_training_soc.ipynb for this profile first")
    ck = load_checkpoint(path, "cpu")
    check_trained_on(ck["hparams"], content_key(load_graph_summary(data_dir, region)), path,
                     "stage 03 (notebooks/03_training_soc.ipynb)")
    cfg = SpTGNNConfig(**{k: tuple(v) if isinstance(v, list) else v
                          for k, v in ck["hparams"]["model_config"].items()})
    model = SpTGNN(cfg)
    model.load_state_dict(ck["state_dict"])
    return model.eval()


def region_representations(model: SpTGNN, data: RegionData, image=None
                           ) -> dict[str, np.ndarray]:
    """``pre_graph`` and ``embedding`` (n, width) of every node of the region (eval mode,
    float32 on CPU)."""
    from .train import graph_batch

    batch = graph_batch(data.graph, data.features(_image_array(image)))
    with torch.no_grad():
        reps, _ = model.representations(batch)
    return {k: reps[k].float().numpy().astype(np.float64) for k in STAGES}


def region_truth(truth: pd.DataFrame, data: RegionData,
                 columns: tuple[str, ...] = TRUTH_COLUMNS) -> pd.DataFrame:
    """The generator's truth of the region's samples, in node order."""
    cols = [c for c in columns if c in truth]
    t = truth.set_index("sample_id")[cols]
    return t.reindex(data.frame["sample_id"].to_numpy()).reset_index(drop=True)

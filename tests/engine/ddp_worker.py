"""DDP worker of ``tests/engine/test_ddp.py`` (run as a script: Lightning's DDP launcher
re-executes it once per extra process, as it would a user's training script).

Trains GeoHet or SpTGNN (mini-batches of seed nodes) on tiny fixed data with ``--devices``
CPU processes (gloo) and a global batch of ``--batch`` items split evenly over them, then
writes the weights from rank 0 to ``--out``. Dropout, the MoE's batch-level load-balance and
entropy terms and neighbour sub-sampling are off: they are not linear in the batch, so
with them a two-process step is a different (equally valid) step, not the same one.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch


def geohet(devices: int, batch: int, epochs: int):
    from geohet_lib.gpp.model import GeoHet, GeoHetConfig
    from geohet_lib.gpp.samples import SampleCache
    from geohet_lib.gpp.train import TrainConfig, fit

    rng = np.random.default_rng(0)
    n_cells, n_feat, n_nodes = 24, 5, 4
    feats = rng.standard_normal((n_cells, 2, 46, n_feat)).astype(np.float32)
    target = (2.0 * feats[..., 0] + 1.0 + 0.1 * rng.standard_normal((n_cells, 2, 46))
              ).astype(np.float32)
    cache = SampleCache(feats, target, [2019, 2020], [f"f{i}" for i in range(n_feat)])
    cluster = rng.integers(0, n_nodes, n_cells)
    ring = torch.arange(n_nodes)
    edge_index = torch.stack([torch.cat([ring, (ring + 1) % n_nodes]),
                              torch.cat([(ring + 1) % n_nodes, ring])])
    torch.manual_seed(0)
    cfg = GeoHetConfig(n_features=n_feat, d_model=8, n_tokens=4, enc_layers=1, dec_layers=1,
                       n_heads=2, dropout=0.0)
    model = GeoHet(cfg, torch.randn(n_nodes, 46, 8), edge_index, torch.ones(edge_index.shape[1]))
    tc = TrainConfig(epochs=epochs, batch_size=batch, seed=3, decay_epoch=1)
    model, _, _ = fit(model, cache, cache.examples([2019]), cache.examples([2020]), cluster, tc,
                      progress=False, devices=devices)
    return model


def sptgnn(devices: int, batch: int, epochs: int):
    import pandas as pd

    from geohet_lib.soc.configs import SpTGNNConfig
    from geohet_lib.soc.graph import SOCGraphConfig, build_hetero_graph, transductive_masks
    from geohet_lib.soc.train import build_sptgnn, fit_sptgnn, graph_batch

    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame({"lat": rng.uniform(-10, 10, n), "lon": rng.uniform(10, 30, n),
                          "ndvi": rng.uniform(0.1, 0.8, n), "elevation": rng.uniform(0, 900, n)})
    cov = rng.standard_normal((n, 6)).astype(np.float32)
    y = 0.8 * cov[:, 0] - 0.5 * cov[:, 1] + 0.1 * rng.standard_normal(n)
    feats = {"covariates": cov, "image": rng.standard_normal((n, 5)).astype(np.float32),
             "lat": frame["lat"].to_numpy(), "lon": frame["lon"].to_numpy(),
             "time": rng.integers(2013, 2023, n).astype(float)}
    graph = build_hetero_graph(frame, SOCGraphConfig(adaptive_k=False, k_spatial=4, k_ndvi=2))
    labels = np.array(["train"] * 40 + ["val"] * 10 + ["test"] * 10)
    cfg = SpTGNNConfig(img_dim=5, n_covariates=6, pos_hidden=8, pos_dim=8, time_hidden=8,
                       time_dim=4, n_experts=3, fusion_dim=16, pre_mlp_hidden=(16,),
                       pre_mlp_out=16, pre_mlp_dropout=0.0, post_mlp_hidden=(16,),
                       post_mlp_out=8, post_mlp_dropout=0.0, rgat_hidden=(16, 8), num_bases=2,
                       heads=2, dropout=0.0, lr=5e-3, weight_decay=1e-4, grad_clip=1.0,
                       epochs=epochs, patience=100, lr_patience=100, lambda_aux=0.1,
                       lb_weight=0.0, entropy_weight=0.0, batch_size=batch, fanouts=(-1,))
    model = build_sptgnn(cfg, 0)
    model, _ = fit_sptgnn(model, graph_batch(graph, feats), transductive_masks(n, labels), cfg,
                          (y - y.mean()) / y.std(), None, "cpu", 2, progress=False,
                          devices=devices)
    return model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=("geohet", "sptgnn"), required=True)
    ap.add_argument("--devices", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.set_num_threads(1)
    model = (geohet if a.model == "geohet" else sptgnn)(a.devices, a.batch, a.epochs)
    if int(os.environ.get("LOCAL_RANK", "0")) == 0 and int(os.environ.get("NODE_RANK", "0")) == 0:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, a.out)


if __name__ == "__main__":
    main()

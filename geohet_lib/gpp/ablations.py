"""Stage 04 of the GPP study: the module ladder of paper 4.4 ("Figure 4"), the hyperparameter
tables of appendix A.2 (Tables 3-5) and the reviewers' points, each over several seeds.

Protocol, one for every variant: stage 01's data and the temporal split of stage 03 (fit on
the training years but the last, validate on that, test on the test year); a fixed random
subset of the training cell-years (``profile.gpp.ablation.max_train_examples``, drawn once with
seed 0, the same for every variant) and of the validation cell-years; the profile's widths,
AdamW at the paper's learning rate 1e-3 held constant (its decay at half-time would spend half
of a short budget at 1e-4), ``profile.gpp.ablation.epochs`` epochs without early stopping and
the best validation epoch's weights; test RMSE over every test sample, as the paper's tables.
A variant is a pair of switches, one for the graph
(:class:`~geohet_lib.config.GraphConfig`, rebuilt by stage 02's :func:`build_stcg` when it
differs) and one for the model (:class:`~geohet_lib.gpp.model.GeoHetConfig`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..config import Profile
from ..sweep import RunCache, config_key, mean_pm_std, run_sweep, summarise
from ..tables import noise_verdict
from .graph import build_stcg, load_graph, save_graph
from .model import GeoHetConfig
from .samples import SampleCache
from .stage03 import Split, make_geohet, score, subsample_examples, temporal_split

#: land cells of the paper's 0.5 degree grid as this project builds it (the paper: ~61k)
PAPER_LAND_CELLS = 59_172


@dataclass(frozen=True)
class Variant:
    """Switches of one variant: ``graph`` replaces fields of the profile's GraphConfig (empty:
    stage 02's graph), ``model`` replaces fields of GeoHetConfig."""

    graph: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)


GEOHET = "DaEn+De+GCN+EG (GeoHet)"
#: Paper 4.4, each step adding one module (paper RMSE in PAPER_LADDER).
LADDER: dict[str, Variant] = {
    "FFTransformer (En only)": Variant(model={"decoder": False, "dual_attention": False}),
    "En+De": Variant(model={"dual_attention": False, "use_graph": False, "node_init": "random"}),
    "En+De+GCN": Variant(graph={"knn_space": "pixel"},
                         model={"dual_attention": False, "node_init": "random"}),
    "En+De+GCN+EG": Variant(model={"dual_attention": False}),
    GEOHET: Variant(),
}
PAPER_LADDER = {"FFTransformer (En only)": 1.158, "En+De": 1.071, "En+De+GCN": 0.893,
                "En+De+GCN+EG": 0.876, GEOHET: 0.836}
#: Appendix A.2, Tables 3-5: value -> paper RMSE (one hyperparameter varied at a time).
PAPER_A2: dict[str, dict[int, float]] = {
    "n_clusters": {375: 0.886, 750: 0.876, 1500: 0.886, 3000: 0.895, 6000: 0.889,
                   12000: 0.947},
    "n_neighbors": {10: 0.902, 20: 0.891, 30: 0.876, 50: 0.878},
    "embedding_dim": {32: 1.15, 64: 0.910, 96: 0.876, 128: 2.16},
}
A2_TABLES = {"n_clusters": "table3", "n_neighbors": "table4", "embedding_dim": "table5"}
#: The reviewers' points and the graph's own worth (beyond the paper).
BEYOND: dict[str, Variant] = {
    "node embeddings frozen at Node2vec": Variant(model={"freeze_nodes": True}),
    "geodesic instead of chord distance": Variant(graph={"distance": "geodesic"}),
    "GeoHet without GCN": Variant(model={"use_graph": False}),
}


def scaled_clusters(paper_count: int, n_cells: int, n_neighbors: int) -> int:
    """The paper's cluster count scaled to this grid (``n_cells`` over the paper's land
    cells), at least ``n_neighbors + 2`` so that the KNN graph exists."""
    return max(int(round(paper_count * n_cells / PAPER_LAND_CELLS)), n_neighbors + 2)


def a2_variants(profile: Profile, n_cells: int) -> dict[str, dict[str, Any]]:
    """A.2's sweeps as ``{table: {label: Variant}}``: one GraphConfig field varied from the
    profile's, cluster counts scaled to the grid, neighbour counts capped at clusters - 1."""
    g = profile.gpp.graph
    out: dict[str, dict[str, Any]] = {}
    out["n_clusters"] = {
        f"{p:,} (paper) -> {scaled_clusters(p, n_cells, g.n_neighbors)}":
            Variant(graph={"n_clusters": scaled_clusters(p, n_cells, g.n_neighbors)})
        for p in PAPER_A2["n_clusters"]}
    out["n_neighbors"] = {
        f"{k}" + ("" if k < g.n_clusters else f" -> {g.n_clusters - 1}"):
            Variant(graph={"n_neighbors": min(k, g.n_clusters - 1)})
        for k in PAPER_A2["n_neighbors"]}
    out["embedding_dim"] = {f"{d}": Variant(graph={"embedding_dim": d})
                            for d in PAPER_A2["embedding_dim"]}
    return out


def graph_for(profile: Profile, switches: Mapping[str, Any], cells: pd.DataFrame,
              stage02_graph, cache_dir: Path, seed: int = 0):
    """Stage 02's graph when ``switches`` change nothing, else the STCG rebuilt with them
    (cached as ``graph_<hash>.pt`` in ``cache_dir``, the hash over the configuration, the
    cells' coordinates and the seed)."""
    gcfg = replace(profile.gpp.graph, **switches)
    if gcfg == profile.gpp.graph:
        return stage02_graph
    cells_key = int(pd.util.hash_pandas_object(cells[["lat", "lon"]], index=False).sum())
    key = config_key({**asdict(gcfg), "cells": cells_key, "seed": seed})
    path = Path(cache_dir) / f"graph_{key}.pt"
    if path.exists():
        return load_graph(path)
    data = build_stcg(cells, gcfg, profile.gpp.steps_per_year, seed=seed, progress=False)
    save_graph(data, path)
    return data


def protocol_split(cache: SampleCache, manifest: Mapping[str, Any], cell_cluster: np.ndarray,
                   max_train: int | None, max_val: int | None, seed: int = 0) -> Split:
    """Stage 03's temporal split with the training and validation cell-years subsampled once
    (``seed``), the same examples for every variant; the test year complete."""
    split = temporal_split(cache, manifest["train_years"], manifest["test_years"], cell_cluster)
    rng = np.random.default_rng(seed)
    train = subsample_examples(split.train, max_train, rng)
    val = subsample_examples(split.val, max_val, rng)
    return replace(split, train=train, val=val, description=split.description
                   + f"; {len(train):,} training and {len(val):,} validation cell-years")


def train_variant(profile: Profile, graph, cache: SampleCache, split: Split,
                  model_switches: Mapping[str, Any], seed: int, epochs: int,
                  device: Any = "cpu") -> dict[str, float]:
    """Train one variant with one seed under the protocol; test and validation scores."""
    from .train import TrainConfig, fit, predict

    torch.manual_seed(seed)
    model, mcfg = make_geohet(profile, graph, cache.features.shape[-1], **model_switches)
    # constant learning rate: the paper's decay at half-time would spend half of a short
    # ablation budget at 1e-4 (measured on default: test RMSE 11.2 with it, 9.6 without)
    tc = TrainConfig(epochs=epochs, batch_size=profile.gpp.batch_size, patience=None,
                     seed=seed, decay_epoch=epochs)
    model, hist, y_scale = fit(model, cache, split.train, split.val, split.cell_cluster, tc,
                               device=device, model_config=mcfg.to_dict(), progress=False)
    test = score(predict(model, cache, split.test, split.cell_cluster, y_scale, device=device),
                 cache.gather(split.test)[1])
    return {"test RMSE": test["rmse"], "test R2": test["r2"],
            "val RMSE": float(np.min(hist.val_rmse)),
            "parameters": float(sum(p.numel() for p in model.parameters() if p.requires_grad)),
            "best epoch": float(hist.best_epoch + 1)}


def effective_switches(profile: Profile, variant: Variant) -> dict[str, dict[str, Any]]:
    """The variant's switches without those equal to the profile's graph or GeoHet's defaults,
    so that a variant that changes nothing (A.2's row at the profile's own value) shares
    GeoHet's cached runs instead of training them again."""
    g, m = profile.gpp.graph, GeoHetConfig()
    return {"graph": {k: v for k, v in variant.graph.items() if getattr(g, k) != v},
            "model": {k: v for k, v in variant.model.items() if getattr(m, k) != v}}


def run_variants(variants: Mapping[str, Variant], profile: Profile, cache: SampleCache,
                 cells: pd.DataFrame, stage02_graph, manifest: Mapping[str, Any],
                 seeds: Sequence[int], cache_dir: str | Path, device: Any = "cpu",
                 desc: str = "GPP ablations") -> pd.DataFrame:
    """Every variant with every seed, cached by (profile, protocol, graph and model switches,
    seed); one row per run."""
    proto = profile.gpp.ablation
    epochs = proto.epochs or profile.gpp.epochs
    max_val = proto.max_train_examples // 2 if proto.max_train_examples else None
    cache_dir = Path(cache_dir)
    graphs: dict[str, Any] = {}
    splits: dict[str, Split] = {}

    def graph_and_split(gsw: Mapping[str, Any]):
        key = config_key(gsw)
        if key not in graphs:
            graphs[key] = graph_for(profile, gsw, cells, stage02_graph, cache_dir)
            splits[key] = protocol_split(cache, manifest, graphs[key].cell_cluster.numpy(),
                                         proto.max_train_examples, max_val)
        return graphs[key], splits[key]

    configs = {name: {"study": "gpp", "stage": "04", "profile": profile.name,
                      "epochs": epochs, "max_train_examples": proto.max_train_examples,
                      **effective_switches(profile, v)}
               for name, v in variants.items()}

    def train(name: str, cfg: Mapping[str, Any], seed: int) -> dict[str, float]:
        graph, split = graph_and_split(cfg["graph"])
        return train_variant(profile, graph, cache, split, cfg["model"], seed, epochs, device)

    runs = RunCache(cache_dir, upstream=cache.source_key or None)
    return run_sweep(configs, seeds, train, runs, desc=desc)


METRICS = ("test RMSE", "test R2", "val RMSE")


def build_ladder_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Paper 4.4 with seeds: each step's test RMSE (mean ± sd), the paper's beside, and the
    claim "this step lowers RMSE" against the step before, judged against seed noise."""
    summ = summarise(runs, METRICS + ("parameters",))
    rows, prev = [], None
    for _, r in summ.iterrows():
        name = r["variant"]
        row = {"step": name, "seeds": int(r["seeds"]),
               "test RMSE": mean_pm_std(r["test RMSE mean"], r["test RMSE std"]),
               "test R2": mean_pm_std(r["test R2 mean"], r["test R2 std"]),
               "parameters": int(r["parameters mean"]),
               "paper RMSE": PAPER_LADDER.get(name), "claim": ""}
        if prev is not None:
            v = noise_verdict(runs.loc[runs.variant == name, "test RMSE"],
                              runs.loc[runs.variant == prev, "test RMSE"])
            row["claim"] = f"lowers RMSE vs {prev}: {v}"
        rows.append(row)
        prev = name
    return pd.DataFrame(rows)


def build_a2_table(runs: pd.DataFrame, parameter: str) -> pd.DataFrame:
    """One of A.2's Tables 3-5 with seeds; the paper's best setting against each other
    setting, judged against seed noise ("the paper's best is best here")."""
    summ = summarise(runs, METRICS)
    paper = PAPER_A2[parameter]
    paper_values = list(paper)
    best_paper = paper_values[int(np.argmin(list(paper.values())))]
    labels = list(summ["variant"])
    best_label = labels[paper_values.index(best_paper)]
    rows = []
    for i, r in summ.iterrows():
        name = r["variant"]
        row = {parameter: name, "seeds": int(r["seeds"]),
               "test RMSE": mean_pm_std(r["test RMSE mean"], r["test RMSE std"]),
               "paper value": paper_values[i], "paper RMSE": paper[paper_values[i]], "claim": ""}
        if name != best_label:
            v = noise_verdict(runs.loc[runs.variant == best_label, "test RMSE"],
                              runs.loc[runs.variant == name, "test RMSE"])
            row["claim"] = f"paper's best ({best_paper}) beats this: {v}"
        rows.append(row)
    return pd.DataFrame(rows)


def build_beyond_table(runs: pd.DataFrame, reference: pd.DataFrame,
                       neighbour_runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """The reviewers' points against GeoHet (``reference``: its runs), and the GCN's worth at
    each neighbour count (``neighbour_runs``: A.2 Table 4's runs) against GeoHet without it.

    Each row: the variant's test RMSE (mean ± sd), the reference's, and whether the claim in the
    ``claim`` column holds beyond seed noise."""
    ref = reference["test RMSE"]
    no_gcn = runs.loc[runs.variant == "GeoHet without GCN", "test RMSE"]
    rows = []
    claims = {"node embeddings frozen at Node2vec": "learnable embeddings beat frozen ones",
              "geodesic instead of chord distance": "chord beats geodesic distance",
              "GeoHet without GCN": "the GCN lowers RMSE"}
    for name, claim in claims.items():
        var = runs.loc[runs.variant == name, "test RMSE"]
        if var.empty:
            continue
        rows.append({"comparison": f"GeoHet vs {name}", "variant RMSE": _pm(var),
                     "reference RMSE": _pm(ref), "claim": f"{claim}: {noise_verdict(ref, var)}"})
    if neighbour_runs is not None and not no_gcn.empty:
        for k in dict.fromkeys(neighbour_runs["variant"]):
            with_gcn = neighbour_runs.loc[neighbour_runs.variant == k, "test RMSE"]
            rows.append({"comparison": f"GCN with N_Neighbor = {k} vs no GCN",
                         "variant RMSE": _pm(with_gcn), "reference RMSE": _pm(no_gcn),
                         "claim": f"the graph helps at k = {k}: {noise_verdict(with_gcn, no_gcn)}"})
    return pd.DataFrame(rows)


def _pm(values: pd.Series) -> str:
    v = np.asarray(values, dtype=np.float64)
    return mean_pm_std(float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float("nan"))

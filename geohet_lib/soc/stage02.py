"""Stage 02 of the SOC study in one call: one heterogeneous sample graph per region, saved.

For each region of :data:`~geohet_lib.config.SOC_REGIONS` (SOC paper 5.1: Africa, Europe,
Global = the whole corpus) the graph of paper 3.5 / Table 1 is built over **all** the
region's samples (paper 3.1, 4.5: transductive, validation and test targets are masked later,
their nodes stay in the graph):

1. the region's samples (:func:`~geohet_lib.soc.stage01.select_region`); node ``i`` is the
   ``i``-th of them in corpus row order, so node ``i`` has corpus row (= patch id)
   ``graph_frame(corpus, region).index[i]``;
2. NDVI (the ``ndvi_p50`` covariate) and elevation with their missing values filled by a
   :class:`~geohet_lib.soc.split.CovariatePreprocessor` (KNN, k = ``profile.soc.impute_k``)
   fitted on the region's **training rows only** (``split_<region> == "train"``; paper 4.3:
   "both the imputer and scaler are fitted on training samples only"). The imputer sees all
   63 covariates, as the model's own preprocessing in stage 03 does, so the graph's NDVI of
   an imputed sample is the NDVI the model sees; observed values are kept as they are;
3. :func:`~geohet_lib.soc.graph.build_hetero_graph` with the region's Table 6 settings
   (:func:`graph_config`: :data:`~geohet_lib.soc.graph.SOC_GRAPH_CONFIGS` with the
   profile's ``max_distance_km``).

Written to ``data/soc/<profile>/`` beside stage 01's files, atomically:

- ``graph_<region>.pt``: the :class:`~geohet_lib.soc.graph.SOCGraph` (``torch.save``);
- ``graph_<region>.json``: nodes, edges and mean in-degree per relation, isolated nodes,
  HDBSCAN clusters, the resolved ``tau_v`` and ``d0``, the config, build seconds per step,
  split sizes, how many NDVI / elevation values were imputed, the imputer's training rows and
  a hash of the node sample ids (stage 03 checks it against the corpus);
- a ``soc_02_graph`` entry in ``run_log.jsonl``.

Stage 03 reads a graph with :func:`load_soc_graph` and rebuilds the exact node table, or the
training / test tables of an inductive subgraph, with :func:`graph_frame`.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import SOC_REGIONS, Profile, get_profile
from ..paths import soc_graph_name, soc_graph_summary_name
from ..runtime import LOG, seed_everything, stage_log
from ..stages import check_built_for, content_key, read_unit_manifest, staged
from .covariates import COVARIATE_NAMES, ELEVATION_COLUMN, NDVI_COLUMN
from .graph import (RELATIONS, SOC_GRAPH_CONFIGS, SOCGraph, SOCGraphConfig, build_hetero_graph,
                    load_graph, save_graph)
from .split import SPLIT_LABELS, CovariatePreprocessor
from .stage01 import load_corpus, read_manifest, regions_with_samples, select_region

STAGE = "soc_02_graph"
GRAPH_COLUMNS = ("lat", "lon", "ndvi", "elevation")
NOTEBOOK_02 = "stage 02 (notebooks/02_graph_construction_soc.ipynb)"


def graph_path(data_dir: str | Path, region: str) -> Path:
    """``<data_dir>/graph_<region>.pt``."""
    return Path(data_dir) / soc_graph_name(region)


def summary_path(data_dir: str | Path, region: str) -> Path:
    """``<data_dir>/graph_<region>.json``."""
    return Path(data_dir) / soc_graph_summary_name(region)


def _check_region(region: str) -> None:
    if region not in SOC_REGIONS:
        raise ValueError(f"unknown region {region!r}: choose one of {', '.join(SOC_REGIONS)}")


def _split_column(corpus: pd.DataFrame, region: str) -> str:
    col = f"split_{region}"
    if col not in corpus.columns:
        raise ValueError(f"corpus has no column {col!r}: load it with "
                         "geohet_lib.soc.stage01.load_corpus(data_dir) (with_split=True)")
    return col


def _split_labels(split) -> tuple[str, ...] | None:
    if split is None:
        return None
    labels = (split,) if isinstance(split, str) else tuple(split)
    bad = [s for s in labels if s not in SPLIT_LABELS]
    if bad:
        raise ValueError(f"unknown split {bad}: use None (all samples of the region) or any "
                         f"of {SPLIT_LABELS}")
    return labels


def fit_graph_imputer(corpus: pd.DataFrame, region: str, k: int = 5,
                      columns: tuple[str, ...] = COVARIATE_NAMES) -> CovariatePreprocessor:
    """The covariate imputer of ``region``'s graph, fitted on its **training rows only**.

    A :class:`~geohet_lib.soc.split.CovariatePreprocessor` (KNN, ``k`` neighbours) over
    ``columns`` (default: the 63 covariates) of the rows with ``split_<region> == "train"``;
    no validation or test value reaches it.
    """
    _check_region(region)
    col = _split_column(corpus, region)
    reg = select_region(corpus, region)
    train = reg.loc[reg[col].to_numpy() == "train"]
    if len(train) == 0:
        raise ValueError(f"region {region!r} has no training samples ({col} is never 'train')")
    return CovariatePreprocessor(columns=tuple(columns), k=k).fit(train[list(columns)])


def graph_frame(corpus: pd.DataFrame, region: str, split=None,
                imputer: CovariatePreprocessor | None = None, k: int = 5) -> pd.DataFrame:
    """The node table of ``region``'s graph: columns ``lat, lon, ndvi, elevation``.

    Rows are the region's samples in corpus order (the index is the corpus row, i.e. the
    patch id), restricted to ``split`` (``"train"``, ``"val"``, ``"test"``, a tuple of them,
    or ``None`` for all: the transductive graph's nodes). ``ndvi`` is ``ndvi_p50`` and
    ``elevation`` the ``elevation`` covariate, observed values unchanged and missing ones
    filled by ``imputer`` (default: :func:`fit_graph_imputer` with ``k``, fitted on the
    region's training rows). So ``graph_frame(corpus, r)`` is exactly the table stage 02
    built ``graph_<r>.pt`` from, and ``graph_frame(corpus, r, "train")`` /
    ``graph_frame(corpus, r, "test")`` are the ``train_df`` / ``new_df`` of
    :func:`~geohet_lib.soc.graph.inductive_subgraph`.
    """
    _check_region(region)
    col = _split_column(corpus, region)
    labels = _split_labels(split)
    reg = select_region(corpus, region)
    if labels is not None:
        reg = reg.loc[reg[col].isin(labels).to_numpy()]
    out = pd.DataFrame({"lat": reg["lat"].to_numpy(np.float64),
                        "lon": reg["lon"].to_numpy(np.float64),
                        "ndvi": reg[NDVI_COLUMN].to_numpy(np.float64),
                        "elevation": reg[ELEVATION_COLUMN].to_numpy(np.float64)},
                       index=reg.index)
    missing = out[["ndvi", "elevation"]].isna().any(axis=1).to_numpy()
    if missing.any():
        if imputer is None:
            imputer = fit_graph_imputer(corpus, region, k=k)
        filled = imputer.impute(reg.loc[missing, list(imputer.columns)])
        for dst, src in (("ndvi", NDVI_COLUMN), ("elevation", ELEVATION_COLUMN)):
            gap = out[dst].isna().to_numpy()
            out.loc[gap, dst] = filled.loc[out.index[gap], src].to_numpy(np.float64)
    bad = [c for c in ("lat", "lon") if not np.isfinite(out[c].to_numpy()).all()]
    if bad:
        raise ValueError(f"region {region!r}: missing {bad} in the corpus; rerun stage 01")
    return out


def graph_config(profile: Profile | str, region: str) -> SOCGraphConfig:
    """The graph settings of ``region``: Table 6 (:data:`SOC_GRAPH_CONFIGS`) with the
    profile's ``max_distance_km``. Stage 03 uses it for inductive subgraphs."""
    _check_region(region)
    prof = get_profile(profile) if isinstance(profile, str) else profile
    return replace(SOC_GRAPH_CONFIGS[region], max_distance_km=prof.soc.max_distance_km)


def node_ids_hash(corpus: pd.DataFrame, region: str) -> str:
    """SHA-256 of the region's ``sample_id`` sequence (the graph's node order)."""
    ids = select_region(corpus, region)["sample_id"].astype(str).to_numpy()
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def _imputer_stats(imp: CovariatePreprocessor) -> dict:
    pos = {c: i for i, c in enumerate(imp.continuous)}
    cols = [c for c in (NDVI_COLUMN, ELEVATION_COLUMN) if c in pos]
    return {"k": imp.k, "n_train_rows": int(imp.n_train_),
            "train_mean": {c: float(imp.center_[pos[c]]) for c in cols},
            "train_sd": {c: float(imp.spread_[pos[c]]) for c in cols}}


def _summary(region: str, graph: SOCGraph, reg: pd.DataFrame, col: str,
             imputer: CovariatePreprocessor, seconds: float, ids_hash: str) -> dict:
    s = graph.summary()
    split = reg[col].astype(str).to_numpy()
    imputed = {}
    for name, src in (("ndvi", NDVI_COLUMN), ("elevation", ELEVATION_COLUMN)):
        gap = reg[src].isna().to_numpy()
        imputed[name] = {lab: int((gap & (split == lab)).sum()) for lab in SPLIT_LABELS}
    return {
        "region": region, "stage": STAGE, "nodes": int(graph.num_nodes),
        "edges": {name: int(s[name]["edges"]) for name in RELATIONS},
        "edges_total": int(graph.num_edges),
        "mean_in_degree": {name: float(s[name]["mean_in_degree"]) for name in RELATIONS},
        "isolated": {name: int(s[name]["isolated"]) for name in RELATIONS},
        "mean_weight": {name: float(s[name]["mean_weight"]) for name in RELATIONS},
        "hdbscan_clusters": int(s["hdbscan_clusters"]),
        "hdbscan_noise_fraction": float(s["hdbscan_noise_fraction"]),
        "tau_v": float(graph.config.tau_v), "tau_t": float(graph.config.tau_t),
        "spatial_scale_km": float(graph.config.spatial_scale_km),
        "config": asdict(graph.config),
        "split": {lab: int((split == lab).sum()) for lab in SPLIT_LABELS},
        "imputed": imputed, "imputer": _imputer_stats(imputer),
        "node_ids_sha256": ids_hash,
        "build_seconds": round(seconds, 3),
        "timings": {k: round(v, 4) for k, v in graph.timings.items()},
    }


def build_soc_graphs(profile: Profile | str, data_dir: str | Path,
                     regions: tuple[str, ...] | list[str] = SOC_REGIONS, seed: int = 0,
                     progress: bool = True) -> dict[str, SOCGraph]:
    """Build, save and return the graph of every region in ``regions`` (module docstring).

    Reads stage 01's corpus from ``data_dir``; writes ``graph_<region>.pt`` and
    ``graph_<region>.json`` there. ``profile`` sets the imputer's k (``soc.impute_k``) and
    the 2,000 km cut (``soc.max_distance_km``); the rest is Table 6 per region. A region
    without samples in the corpus (e.g. an Africa-only corpus) is skipped with a warning.
    """
    prof = get_profile(profile) if isinstance(profile, str) else profile
    regions = tuple(regions)
    for r in regions:
        _check_region(r)
    if not regions:
        raise ValueError(f"regions is empty: choose from {', '.join(SOC_REGIONS)}")
    data_dir = Path(data_dir)
    stage01 = read_manifest(data_dir, profile=prof.name, seed=seed)
    seed_everything(seed)
    corpus = load_corpus(data_dir)
    graphs: dict[str, SOCGraph] = {}
    have = regions_with_samples(corpus, regions)
    empty = [r for r in regions if r not in have]
    if empty:
        if len(empty) == len(regions):
            raise ValueError(f"none of the regions {list(regions)} has samples in {data_dir}'s "
                             "corpus: check its areas, or choose regions that have data")
        LOG.warning("SOC graphs: region(s) %s have no samples in this corpus and are skipped; "
                    "the later stages run on %s", empty, [r for r in regions if r not in empty])
        regions = tuple(r for r in regions if r not in empty)
        _remove_graphs(data_dir, empty)
    it = regions
    if progress:
        from ..progress import progress_bar

        it = progress_bar(regions, desc="SOC graphs", unit="region")
    with stage_log(STAGE, data_dir) as rec:
        for region in it:
            graphs[region] = _build_region(prof, corpus, region, data_dir, seed,
                                           content_key(stage01))
            rec.wrote(graph_path(data_dir, region))
            rec.wrote(summary_path(data_dir, region))
        rec.extra = {"profile": prof.name, "seed": seed,
                     "regions": {r: {"nodes": g.num_nodes, "edges": g.num_edges}
                                 for r, g in graphs.items()}}
    return graphs


def _build_region(prof: Profile, corpus: pd.DataFrame, region: str, data_dir: Path, seed: int,
                  upstream: str) -> SOCGraph:
    """Build one region's graph and publish it with its summary as one unit."""
    t0 = time.perf_counter()
    col = _split_column(corpus, region)
    reg = select_region(corpus, region)
    with staged(data_dir, f"soc_graph_{region}", soc_graph_summary_name(region)) as st:
        imputer = fit_graph_imputer(corpus, region, k=prof.soc.impute_k)
        df = graph_frame(corpus, region, imputer=imputer)
        graph = build_hetero_graph(df, graph_config(prof, region))
        seconds = time.perf_counter() - t0
        save_graph(graph, st.path(soc_graph_name(region)))
        st.manifest = {**_summary(region, graph, reg, col, imputer, seconds,
                                  node_ids_hash(corpus, region)),
                       "profile": prof.name, "seed": seed, "upstream": upstream}
    LOG.info("SOC graph %s: %d nodes, %d edges (%s), %.1f s", region, graph.num_nodes,
             graph.num_edges, ", ".join(f"{k} {v}" for k, v in st.manifest["edges"].items()),
             seconds)
    return graph


def _remove_graphs(data_dir: Path, regions) -> None:
    """Remove the graphs of regions this corpus has no samples for (an earlier corpus's)."""
    for r in regions:
        for p in (graph_path(data_dir, r), summary_path(data_dir, r)):
            if p.exists():
                p.unlink()
                LOG.warning("%s: removed (built from an earlier corpus that had samples in "
                            "%r)", p, r)


def load_soc_graph(data_dir: str | Path, region: str) -> SOCGraph:
    """The saved graph of ``region`` (``graph_<region>.pt`` from :func:`build_soc_graphs`),
    refused (naming notebook 02) when it is missing, changed, or built from another stage-01
    corpus than the one now in ``data_dir``."""
    summary = load_graph_summary(data_dir, region)
    check_built_for(summary, f"{graph_path(data_dir, region)}", NOTEBOOK_02,
                    upstream=content_key(read_manifest(data_dir)))
    return load_graph(graph_path(data_dir, region))


def load_graph_summary(data_dir: str | Path, region: str) -> dict:
    """The JSON summary (the unit's manifest) written beside ``graph_<region>.pt``."""
    _check_region(region)
    return read_unit_manifest(data_dir, soc_graph_summary_name(region), NOTEBOOK_02)


def graph_summaries(data_dir: str | Path, regions=SOC_REGIONS) -> pd.DataFrame:
    """One row per region with a saved graph: nodes, edges and mean in-degree per relation,
    HDBSCAN clusters, ``tau_v``, ``d0``, build seconds."""
    rows = []
    for r in regions:
        if not summary_path(data_dir, r).exists():
            continue
        s = load_graph_summary(data_dir, r)
        row = {"region": r, "nodes": s["nodes"]}
        row.update({f"{k} edges": v for k, v in s["edges"].items()})
        row.update({f"{k} mean degree": v for k, v in s["mean_in_degree"].items()})
        row.update({"isolated (spatial)": s["isolated"]["spatial"],
                    "HDBSCAN clusters": s["hdbscan_clusters"],
                    "HDBSCAN noise": s["hdbscan_noise_fraction"], "tau_v": s["tau_v"],
                    "d0 (km)": s["spatial_scale_km"], "build s": s["build_seconds"]})
        rows.append(row)
    return pd.DataFrame(rows)

"""Names of the artefacts that stages, studies and notebooks share, in one place.

Every stage writes into the folder of one study and profile, ``<root>/<study>/<profile>/``
(:func:`geohet_lib.config.data_dir`, which stays in ``config`` because it checks the study and
profile names defined there). The names below are relative to that folder; the files on disk
keep exactly these names. Files private to one module (the sample cache's ``meta.json`` and
``.npy`` arrays, a patch folder's ``meta.json``) stay in that module; checkpoint file names
belong to the training engine (:mod:`geohet_lib.engine`).

Layout::

    manifest.json           stage 01 of both studies: what was built, from what, with what
    ground_truth.parquet    stage 01, synthetic data only: the hidden fields and true parameters
    run_log.jsonl           every stage: what it wrote, when, how long it took
    checkpoints/            stage 03: one sub-folder per trained model
    GPP   gpp_dataset.zarr, normalisation.parquet, cells.parquet (stage 01),
          sample_cache/ (stage 03's memory-mapped samples), stcg.pt (stage 02)
    SOC   corpus.parquet, split.parquet, patches.json, patches/, harmonisation.csv (stage 01),
          graph_<region>.pt + graph_<region>.json (stage 02)
"""

from __future__ import annotations

__all__ = ["MANIFEST_NAME", "TRUTH_NAME", "RUN_LOG_NAME", "CHECKPOINTS_DIR",
           "GPP_DATASET_NAME", "NORMALISATION_NAME", "CELLS_NAME", "SAMPLE_CACHE_DIR", "STCG_NAME",
           "CORPUS_NAME", "SPLIT_NAME", "PATCH_DIR", "PATCH_INFO_NAME", "HARMONISATION_NAME",
           "soc_graph_name", "soc_graph_summary_name"]

# both studies
MANIFEST_NAME = "manifest.json"
TRUTH_NAME = "ground_truth.parquet"
RUN_LOG_NAME = "run_log.jsonl"
CHECKPOINTS_DIR = "checkpoints"

# GPP study
GPP_DATASET_NAME = "gpp_dataset.zarr"
NORMALISATION_NAME = "normalisation.parquet"
CELLS_NAME = "cells.parquet"
SAMPLE_CACHE_DIR = "sample_cache"
STCG_NAME = "stcg.pt"

# SOC study
CORPUS_NAME = "corpus.parquet"
SPLIT_NAME = "split.parquet"
PATCH_DIR = "patches"
PATCH_INFO_NAME = "patches.json"
HARMONISATION_NAME = "harmonisation.csv"


def soc_graph_name(region: str) -> str:
    """The SOC stage-02 graph of one region: ``graph_<region>.pt``."""
    return f"graph_{region}.pt"


def soc_graph_summary_name(region: str) -> str:
    """The summary (counts, resolved settings) of that graph: ``graph_<region>.json``."""
    return f"graph_{region}.json"

"""Names of the artefacts that stages, studies and notebooks share, in one place.

Every stage writes into the folder of one study and profile, ``<root>/<study>/<profile>/``
(:func:`geohet_lib.config.data_dir`, which stays in ``config`` because it checks the study and
profile names defined there). The names below are relative to that folder; the files on disk
keep exactly these names. Files private to one module (the sample cache's ``meta.json`` and
``.npy`` arrays, a patch folder's ``meta.json``) stay in that module; checkpoint file names
belong to the training engine (:mod:`geohet_lib.engine`).

Layout::

    manifest.json           stage 01 of both studies: what was built, from what, with what,
                            and each artefact's SHA-256 (geohet_lib.stages: published as a unit)
    ground_truth.parquet    stage 01, synthetic data only: the hidden fields and true parameters
    run_log.jsonl           every stage: what it wrote, when, how long it took
    checkpoints/            stage 03: one sub-folder per trained model
    GPP   gpp_dataset.zarr, normalisation.parquet, cells.parquet (stage 01),
          sample_cache/ (stage 03's memory-mapped samples), stcg.pt + stcg.json (stage 02)
    SOC   corpus.parquet, split.parquet, patches.json, patches/, harmonisation.csv (stage 01),
          graph_<region>.pt + graph_<region>.json (stage 02)
    Stage 02's JSON files are its manifests: the graph's hash and the stage-01 key it was
    built from (geohet_lib.stages.content_key), checked when a later stage loads the graph.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["MANIFEST_NAME", "TRUTH_NAME", "RUN_LOG_NAME", "CHECKPOINTS_DIR",
           "GPP_DATASET_NAME", "NORMALISATION_NAME", "CELLS_NAME", "SAMPLE_CACHE_DIR", "STCG_NAME",
           "STCG_MANIFEST_NAME",
           "CORPUS_NAME", "SPLIT_NAME", "PATCH_DIR", "PATCH_INFO_NAME", "HARMONISATION_NAME",
           "soc_graph_name", "soc_graph_summary_name", "REFERENCE_PROFILE", "REFERENCE_SEED",
           "results_dirs"]

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
STCG_MANIFEST_NAME = "stcg.json"

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


# where figures and tables go: the committed reference, or a folder of the run's own
REFERENCE_PROFILE = "default"
REFERENCE_SEED = 0


def results_dirs(profile: str, seed: int, figures_dir: str | Path | None = None,
                 tables_dir: str | Path | None = None, root: str | Path = ".."
                 ) -> tuple[Path, Path]:
    """The folders a notebook writes its figures and tables to.

    Given folders are kept. Otherwise the ``default`` profile with seed 0 writes the committed
    reference, ``<root>/figures`` and ``<root>/tables``; any other profile or seed writes
    ``<root>/output/<profile>/seed<seed>/figures`` and ``.../tables``, so that no run
    overwrites another profile's or seed's results (``root``: the repository, seen from
    ``notebooks/``).
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    root = Path(root)
    if profile == REFERENCE_PROFILE and seed == REFERENCE_SEED:
        base_f, base_t = root / "figures", root / "tables"
    else:
        run = root / "output" / str(profile) / f"seed{seed}"
        base_f, base_t = run / "figures", run / "tables"
    return (Path(figures_dir) if figures_dir is not None else base_f,
            Path(tables_dir) if tables_dir is not None else base_t)

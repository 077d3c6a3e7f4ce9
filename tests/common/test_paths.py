"""geohet_lib.paths: artefact names are shared, and never silently renamed on disk."""

from pathlib import Path

import pytest

from geohet_lib import paths


def test_artefact_names_on_disk():
    assert (paths.MANIFEST_NAME, paths.TRUTH_NAME, paths.RUN_LOG_NAME, paths.CHECKPOINTS_DIR) == (
        "manifest.json", "ground_truth.parquet", "run_log.jsonl", "checkpoints")
    assert (paths.GPP_DATASET_NAME, paths.NORMALISATION_NAME, paths.CELLS_NAME,
            paths.SAMPLE_CACHE_DIR, paths.STCG_NAME) == (
        "gpp_dataset.zarr", "normalisation.parquet", "cells.parquet", "sample_cache", "stcg.pt")
    assert (paths.CORPUS_NAME, paths.SPLIT_NAME, paths.PATCH_DIR, paths.PATCH_INFO_NAME,
            paths.HARMONISATION_NAME) == (
        "corpus.parquet", "split.parquet", "patches", "patches.json", "harmonisation.csv")
    assert paths.soc_graph_name("africa") == "graph_africa.pt"
    assert paths.soc_graph_summary_name("europe") == "graph_europe.json"


def test_stage_modules_use_them():
    from geohet_lib.soc.stage02 import graph_path, summary_path

    assert graph_path("d", "global") == Path("d") / paths.soc_graph_name("global")
    assert summary_path("d", "global") == Path("d") / paths.soc_graph_summary_name("global")


def test_results_dirs_keep_the_reference_apart_from_other_runs():
    from pathlib import Path

    from geohet_lib.paths import results_dirs

    assert results_dirs("default", 0) == (Path("../figures"), Path("../tables"))
    assert results_dirs("smoke", 0) == (Path("../output/smoke/seed0/figures"),
                                        Path("../output/smoke/seed0/tables"))
    assert results_dirs("default", 3, root="/r") == (Path("/r/output/default/seed3/figures"),
                                                     Path("/r/output/default/seed3/tables"))
    assert results_dirs("smoke", 1, "/f", None)[0] == Path("/f")  # given folders are kept
    for bad in ("abc", -1, 1.5, True):
        with pytest.raises(ValueError, match="non-negative integer"):
            results_dirs("default", bad)

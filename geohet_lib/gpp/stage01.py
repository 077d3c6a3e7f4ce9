"""Stage 01 of the GPP study in one call: land grid, source, dataset, statistics, manifest."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..config import Profile
from ..runtime import seed_everything, stage_log
from .dataset import MANIFEST_NAME, write_gpp_dataset
from .land_grid import build_land_grid
from .synthetic import NoiseModel, SyntheticGPP


def land_grid_for(profile: Profile) -> pd.DataFrame:
    """The land grid a profile asks for (resolution, Antarctica and Greenland excluded)."""
    g = profile.gpp
    return build_land_grid(g.grid_res_deg, min_lat=g.min_lat,
                           exclude_greenland=g.exclude_greenland)


def build_synthetic_gpp(profile: Profile, out_dir: str | Path, seed: int = 0,
                        progress: bool = True, noise: NoiseModel = NoiseModel()) -> dict:
    """Generate the synthetic Climate2GPP-like dataset of ``profile`` into ``out_dir``.

    Streams one year at a time (bounded memory), fits normalisation on the training years
    only, writes ground truth and a manifest; returns the manifest.
    """
    g = profile.gpp
    seed_everything(seed)
    with stage_log("gpp/01_dataset_building", out_dir) as rec:
        cells = land_grid_for(profile)
        gen = SyntheticGPP(cells, g.years, seed=seed, steps_per_year=g.steps_per_year,
                           cells_per_chunk=g.cells_per_chunk, gpp_aggregation=g.gpp_aggregation,
                           noise=noise)
        manifest = write_gpp_dataset(
            gen.iter_years(), out_dir, g.train_years, g.test_years, cells,
            ground_truth=gen.ground_truth(), n_years=len(g.years), progress=progress,
            manifest_extra={"source": "synthetic", "profile": profile.name, "seed": seed,
                            "grid_res_deg": g.grid_res_deg,
                            "noise": {"rel_sd": noise.rel_sd, "abs_sd": noise.abs_sd},
                            "gpp_aggregation": g.gpp_aggregation})
        for f in manifest["files"] + [MANIFEST_NAME]:
            rec.wrote(Path(out_dir) / f)
        rec.extra = {"n_cells": manifest["n_cells"], "n_samples": manifest["n_samples"]}
    return manifest

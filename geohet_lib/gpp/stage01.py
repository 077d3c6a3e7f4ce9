"""Stage 01 of the GPP study in one call: land grid, source, dataset, statistics, manifest."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..config import Profile
from ..paths import MANIFEST_NAME
from ..runtime import seed_everything, stage_log
from .dataset import write_gpp_dataset
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


def build_real_gpp(profile: Profile, out_dir: str | Path, era5_path, modis_path, pml_path,
                   progress: bool = True, min_coverage: float = 1.0) -> dict:
    """Stage 01 from the user's exported sources (ERA5-Land daily, MCD12C1, PML-V2).

    Loads, validates, aggregates to 8-day steps and regrids to the profile's land grid
    (:func:`geohet_lib.gpp.real_data.build_real_dataset`), then writes the same artefacts as
    the generator (no ground truth). The profile's test years split the data; the other
    years present train. The user's files are only read.
    """
    from .real_data import build_real_dataset

    if not (era5_path and modis_path and pml_path):
        raise ValueError("source='real' needs era5_path, modis_path and pml_path")
    g = profile.gpp
    with stage_log("gpp/01_dataset_building", out_dir) as rec:
        cells = land_grid_for(profile)
        ds = build_real_dataset(era5_path, modis_path, pml_path, cells, g.grid_res_deg,
                                steps_per_year=g.steps_per_year, min_coverage=min_coverage)
        years = [int(y) for y in ds["year"].values]
        test_years = tuple(y for y in g.test_years if y in years)
        if not test_years:
            raise ValueError(f"none of the profile's test years {g.test_years} is in the data "
                             f"(years {years}); pass a profile override such as test_years=({years[-1]},)")
        train_years = tuple(y for y in years if y not in test_years)
        manifest = write_gpp_dataset(
            (ds.sel(year=[y]) for y in years), out_dir, train_years, test_years, cells,
            n_years=len(years), progress=progress,
            manifest_extra={"source": "real", "profile": profile.name, "seed": None,
                            "grid_res_deg": g.grid_res_deg,
                            "inputs": {"era5": str(era5_path), "modis": str(modis_path),
                                       "pml": str(pml_path)}})
        for f in manifest["files"] + [MANIFEST_NAME]:
            rec.wrote(Path(out_dir) / f)
    return manifest

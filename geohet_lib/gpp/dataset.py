"""Stage 01 of the GPP study: write, open, normalise and split the gridded dataset.

Layout of ``data/gpp/<profile>/`` after stage 01:

- ``gpp_dataset.zarr``: every variable on (cell, year, step) (land cover on (cell, year)),
  raw units, written one year at a time so memory stays bounded (paper scale: ~56M samples).
- ``normalisation.parquet``: mean and standard deviation of every feature except GPP,
  computed **on the training years only** (paper 4.1) while streaming.
- ``cells.parquet``: the land grid; ``ground_truth.parquet``: hidden fields and true
  response parameters per cell (synthetic source only).
- ``manifest.json``: variables, units, shapes, years and split, seed, profile, files.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .. import __version__
from ..io import write_parquet
from ..paths import CELLS_NAME, GPP_DATASET_NAME, MANIFEST_NAME, NORMALISATION_NAME, TRUTH_NAME
from ..progress import progress_bar
from ..runtime import LOG
from ..stages import check_built_for, read_unit_manifest, staged
from .variables import CATALOGUE, FEATURE_NAMES, TARGET_NAME

STAGE01_UNIT = "gpp_stage01"
STAGE01_OWNS = (GPP_DATASET_NAME, NORMALISATION_NAME, CELLS_NAME, TRUTH_NAME)
NOTEBOOK_01 = "stage 01 (notebooks/01_dataset_building.ipynb)"


@dataclass
class RunningMoments:
    """Streaming mean and variance per variable (Chan et al. parallel update, float64)."""

    count: dict[str, float] = field(default_factory=dict)
    mean: dict[str, float] = field(default_factory=dict)
    m2: dict[str, float] = field(default_factory=dict)

    def update(self, name: str, values: np.ndarray) -> None:
        """Fold a block of values (any shape; NaNs ignored) into the running moments."""
        v = np.asarray(values, dtype=np.float64).ravel()
        v = v[np.isfinite(v)]
        if v.size == 0:
            return
        n_b, mean_b = float(v.size), float(v.mean())
        m2_b = float(((v - mean_b) ** 2).sum())
        n_a = self.count.get(name, 0.0)
        if n_a == 0:
            self.count[name], self.mean[name], self.m2[name] = n_b, mean_b, m2_b
            return
        mean_a, m2_a = self.mean[name], self.m2[name]
        n = n_a + n_b
        delta = mean_b - mean_a
        self.count[name] = n
        self.mean[name] = mean_a + delta * n_b / n
        self.m2[name] = m2_a + m2_b + delta**2 * n_a * n_b / n

    def table(self) -> pd.DataFrame:
        """One row per variable: ``variable, mean, std, count`` (population std)."""
        rows = [{"variable": k, "mean": self.mean[k],
                 "std": float(np.sqrt(self.m2[k] / self.count[k])), "count": int(self.count[k])}
                for k in self.count]
        return pd.DataFrame(rows, columns=["variable", "mean", "std", "count"])


def check_year_dataset(ds: xr.Dataset) -> None:
    """Check that one source year has the stage-01 structure; raise ``ValueError`` if not."""
    missing = [v for v in (*FEATURE_NAMES, TARGET_NAME) if v not in ds.data_vars]
    if missing:
        raise ValueError(f"dataset lacks variables {missing[:5]}{'...' if len(missing) > 5 else ''}")
    for dim in ("cell", "year", "step"):
        if dim not in ds.dims:
            raise ValueError(f"dataset lacks the dimension {dim!r}")
    lat = ds["lat"].values
    if np.any(np.abs(lat) > 90):
        raise ValueError("latitudes outside [-90, 90] in the dataset")


def write_gpp_dataset(years: Iterable[xr.Dataset], out_dir: str | Path,
                      train_years: tuple[int, ...], test_years: tuple[int, ...],
                      cells: pd.DataFrame, ground_truth: pd.DataFrame | None = None,
                      manifest_extra: dict | None = None, n_years: int | None = None,
                      progress: bool = True) -> dict:
    """Stream year datasets into ``gpp_dataset.zarr`` and write stats, tables and manifest.

    Normalisation statistics are accumulated from ``train_years`` only, so nothing of the
    test year leaks into the features' scaling (paper 4.1). All artefacts are staged and
    published together, the manifest last (:func:`geohet_lib.stages.staged`): a later stage
    sees this run's complete result or the previous one, never a mix.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    overlap = set(train_years) & set(test_years)
    if overlap:
        raise ValueError(f"years {sorted(overlap)} are both training and test years")
    t0 = time.perf_counter()
    with staged(out_dir, STAGE01_UNIT, MANIFEST_NAME, owns=STAGE01_OWNS) as st:
        seen_years, shapes, moments = _write_years(years, st.path(GPP_DATASET_NAME),
                                                   train_years, n_years, progress)
        missing_train = [y for y in train_years if y not in seen_years]
        if missing_train:
            raise ValueError(f"training years {missing_train} are not in the data")
        stats = moments.table()
        if (stats["std"] <= 0).any():
            flat = stats.loc[stats["std"] <= 0, "variable"].tolist()
            LOG.warning("constant features %s: std set to 1 so normalisation leaves them at 0",
                        flat)
            stats.loc[stats["std"] <= 0, "std"] = 1.0
        write_parquet(stats, st.path(NORMALISATION_NAME))
        write_parquet(cells, st.path(CELLS_NAME))
        if ground_truth is not None:  # synthetic data only; a real run removes an old one
            write_parquet(ground_truth, st.path(TRUTH_NAME))
        for name in shapes:
            shapes[name][1] = len(seen_years)
        st.manifest = {
            "stage": "01_dataset_building",
            "study": "gpp",
            "geohet_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "seconds": round(time.perf_counter() - t0, 2),
            "years": seen_years,
            "train_years": [y for y in seen_years if y in train_years],
            "test_years": [y for y in seen_years if y in test_years],
            "n_cells": int(len(cells)),
            "n_samples": int(len(cells) * len(seen_years) * shapes[TARGET_NAME][2]),
            "features": list(FEATURE_NAMES),
            "target": TARGET_NAME,
            "variables": {v: {"units": CATALOGUE[v].units,
                              "aggregation": CATALOGUE[v].aggregation,
                              "dims": ["cell", "year", "step"] if len(shapes[v]) == 3
                              else ["cell", "year"], "shape": shapes[v]} for v in shapes},
            "normalisation": "z-score of every feature except GPP, statistics from train_years",
            **(manifest_extra or {}),
        }
    return st.manifest


def _write_years(years: Iterable[xr.Dataset], target: Path, train_years: tuple[int, ...],
                 n_years: int | None, progress: bool
                 ) -> tuple[list[int], dict[str, list[int]], RunningMoments]:
    """Append each year to the Zarr store ``target``, folding the training years into the
    normalisation moments; returns the years seen, the variables' shapes and the moments."""
    moments = RunningMoments()
    seen_years: list[int] = []
    shapes: dict[str, list[int]] = {}
    for ds in progress_bar(years, total=n_years, desc="stage 01: writing years",
                           disable=not progress, unit="year"):
        check_year_dataset(ds)
        year = int(ds["year"].values[0])
        if seen_years and year <= seen_years[-1]:
            raise ValueError(f"years must arrive in increasing order: {year} after "
                             f"{seen_years[-1]}")
        if year in train_years:
            for name in FEATURE_NAMES:
                moments.update(name, ds[name].values)
        encoding = _encoding(ds, cells_per_chunk=min(ds.sizes["cell"], 8192))
        if not seen_years:
            ds.to_zarr(target, mode="w", encoding=encoding, consolidated=False)
        else:
            ds.to_zarr(target, append_dim="year", consolidated=False)
        seen_years.append(year)
        shapes = {v: [int(s) for s in ds[v].shape] for v in ds.data_vars}
    return seen_years, shapes, moments


def _encoding(ds: xr.Dataset, cells_per_chunk: int) -> dict:
    enc = {}
    for name, da in ds.data_vars.items():
        chunks = [cells_per_chunk if d == "cell" else (1 if d == "year" else ds.sizes[d])
                  for d in da.dims]
        enc[name] = {"chunks": tuple(chunks)}
    return enc


def open_gpp_dataset(data_dir: str | Path) -> xr.Dataset:
    """Open stage 01's dataset lazily (no dask needed); errors if stage 01 did not finish
    or its artefacts changed since (:func:`read_manifest`)."""
    read_manifest(data_dir)
    return xr.open_dataset(Path(data_dir) / GPP_DATASET_NAME, engine="zarr", chunks=None,
                           consolidated=False)


def read_manifest(data_dir: str | Path, profile: str | None = None, seed: int | None = None,
                  source: str | None = None) -> dict:
    """The manifest stage 01 wrote, its artefacts checked (:func:`geohet_lib.stages.
    read_unit_manifest`); given ``profile`` / ``seed`` / ``source`` must match it, else
    :class:`~geohet_lib.stages.StageMismatchError` naming notebook 01."""
    manifest = read_unit_manifest(data_dir, MANIFEST_NAME, NOTEBOOK_01)
    check_built_for(manifest, f"stage 01's data in {data_dir}", NOTEBOOK_01,
                    profile=profile, seed=seed, source=source)
    return manifest


def read_normalisation(data_dir: str | Path) -> pd.DataFrame:
    """The training-year normalisation statistics, indexed by variable."""
    return pd.read_parquet(Path(data_dir) / NORMALISATION_NAME).set_index("variable")


def normalise(ds: xr.Dataset, stats: pd.DataFrame) -> xr.Dataset:
    """Z-score every feature that has statistics; GPP and coordinates stay as they are."""
    out = ds.copy()
    for name in FEATURE_NAMES:
        if name in out.data_vars and name in stats.index:
            m, s = stats.loc[name, "mean"], stats.loc[name, "std"]
            out[name] = ((out[name] - m) / s).astype(np.float32)
            out[name].attrs = {**ds[name].attrs, "units": "1 (z-score)",
                               "normalised_from": ds[name].attrs.get("units", "")}
    return out


def split_by_year(ds: xr.Dataset, test_years: Iterable[int]) -> tuple[xr.Dataset, xr.Dataset]:
    """(train, test) views of ``ds`` split along ``year`` (paper: 2001-2019 / 2020)."""
    test_years = [int(y) for y in test_years]
    years = [int(y) for y in ds["year"].values]
    absent = [y for y in test_years if y not in years]
    if absent:
        raise ValueError(f"test years {absent} are not in the dataset (years: {years})")
    train = [y for y in years if y not in test_years]
    return ds.sel(year=train), ds.sel(year=test_years)

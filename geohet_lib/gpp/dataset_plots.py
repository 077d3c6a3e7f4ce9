"""Figures of stage 01 (GPP study): the land grid, GPP, seasonality and the ground truth."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
import numpy as np
import pandas as pd
import xarray as xr

from ..maps import finish_figure, world_map


def _marker_size(n_cells: int) -> float:
    return float(np.clip(9000.0 / max(n_cells, 1), 0.3, 30.0))


def map_cells(ax, lat, lon, values, cmap="viridis", **kw):
    """Scatter per-cell values on a cartopy map axis (square markers, lon/lat input)."""
    import cartopy.crs as ccrs

    return ax.scatter(lon, lat, c=values, s=kw.pop("s", _marker_size(len(lat))), marker="s",
                      cmap=cmap, transform=ccrs.PlateCarree(), linewidths=0, zorder=2, **kw)


def plot_land_grid(cells: pd.DataFrame, figures_dir: str | Path, caption: str) -> Figure:
    """Map of the land cells, coloured by the fraction of land inside each cell."""
    fig, ax = world_map()
    sc = map_cells(ax, cells["lat"], cells["lon"], cells["land_fraction"], cmap="YlGn",
                   vmin=0.5, vmax=1.0)
    fig.colorbar(sc, ax=ax, shrink=0.6, label="land fraction of cell")
    ax.set_title(f"Land grid: {len(cells):,} cells (ice sheets excluded)")
    return finish_figure(fig, "gpp_01_land_grid", figures_dir, caption)


def plot_annual_gpp(ds: xr.Dataset, year: int, figures_dir: str | Path,
                    caption: str) -> Figure:
    """Map of the annual GPP total of ``year`` per cell."""
    annual = ds["gpp"].sel(year=year).sum("step").values
    fig, ax = world_map()
    sc = map_cells(ax, ds["lat"].values, ds["lon"].values, annual, cmap="YlGn")
    units = ds["gpp"].attrs.get("units", "")
    fig.colorbar(sc, ax=ax, shrink=0.6, label=f"annual sum of 8-day GPP ({units})")
    ax.set_title(f"GPP, {year}")
    return finish_figure(fig, "gpp_01_annual_gpp", figures_dir, caption)


LAT_BANDS = {"60-75N": (60, 75), "35-60N": (35, 60), "10S-10N": (-10, 10),
             "35-15S": (-35, -15)}


def seasonal_cycles(ds: xr.Dataset, variable: str) -> pd.DataFrame:
    """Mean of ``variable`` per 8-day step (over years and cells) in each latitude band."""
    lat = ds["lat"].values
    mean_over_years = ds[variable].mean("year").values  # cell x step
    out = {}
    for band, (lo, hi) in LAT_BANDS.items():
        sel = (lat >= lo) & (lat < hi)
        if sel.any():
            out[band] = mean_over_years[sel].mean(axis=0)
    return pd.DataFrame(out, index=pd.Index(ds["step"].values, name="step"))


def plot_seasonal_cycles(ds: xr.Dataset, figures_dir: str | Path, caption: str) -> Figure:
    """GPP and 2 m temperature through the year by latitude band (hemispheres in antiphase)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, var, scale, label in ((axes[0], "gpp", 1.0, f"GPP ({ds['gpp'].attrs['units']})"),
                                  (axes[1], "temperature_2m", 1.0, "temperature_2m (K)")):
        cyc = seasonal_cycles(ds, var) * scale
        for band in cyc.columns:
            ax.plot(cyc.index + 1, cyc[band], label=band)
        ax.set_xlabel("8-day step of the year (1-46)")
        ax.set_ylabel(label)
    axes[0].legend(title="latitude band", fontsize=8)
    fig.suptitle("Seasonal cycles by latitude band (mean over years and cells)")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return finish_figure(fig, "gpp_01_seasonal_cycles", figures_dir, caption)


def plot_ground_truth(truth: pd.DataFrame, figures_dir: str | Path, caption: str,
                      columns: tuple[str, ...] = ("hidden_nutrient", "hidden_species_1",
                                                  "hidden_altitude_km", "lue_max", "t_opt",
                                                  "water_beta")) -> Figure:
    """Maps of hidden fields and the true, spatially varying GPP-response parameters."""
    import cartopy.crs as ccrs

    fig = plt.figure(figsize=(14, 6.5))
    for i, col in enumerate(columns):
        ax = fig.add_subplot(2, 3, i + 1, projection=ccrs.Robinson())
        world_map(ax=ax)
        sc = map_cells(ax, truth["lat"], truth["lon"], truth[col], cmap="RdYlBu_r")
        fig.colorbar(sc, ax=ax, shrink=0.7, orientation="horizontal", pad=0.03)
        ax.set_title(col, fontsize=10)
    fig.suptitle("Ground truth: hidden fields (top) and true GPP-response parameters (bottom)")
    return finish_figure(fig, "gpp_01_ground_truth", figures_dir, caption)

"""The Climate2GPP variables (GPP paper appendix A.3) with their units and 8-day rules.

26 ERA5-Land daily-aggregate variables (names as in Google Earth Engine's
``ECMWF/ERA5_LAND/DAILY_AGGR``), 17 MODIS MCD12C1 land-cover fractions (IGBP classes 0-16)
and the PML-V2 target GPP. The aggregation to 8-day steps follows paper 4.1: solar
radiation, evaporation, precipitation and GPP are summed over the period; everything else
is averaged.

ERA5 conventions are kept: temperatures in K, accumulations in metres of water equivalent
with evaporation negative (upward flux), radiation in J m-2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Variable:
    """One dataset variable: name, units (per 8-day step), aggregation rule, plausible range."""

    name: str
    units: str
    aggregation: str  # "sum" or "mean" over the days of an 8-day step
    long_name: str
    valid_min: float
    valid_max: float
    source: str  # "era5" | "modis" | "pml"


def _v(name: str, units: str, agg: str, long: str, lo: float, hi: float, src: str = "era5"):
    return Variable(name, units, agg, long, lo, hi, src)


# Plausible ranges are for 8-day aggregates (sums over up to 8 days).
ERA5_VARIABLES: tuple[Variable, ...] = (
    _v("temperature_2m", "K", "mean", "Temperature at 2 m", 190.0, 340.0),
    _v("temperature_2m_max", "K", "mean", "Daily maximum temperature at 2 m", 190.0, 345.0),
    _v("temperature_2m_min", "K", "mean", "Daily minimum temperature at 2 m", 185.0, 335.0),
    _v("dewpoint_temperature_2m", "K", "mean", "Dew point temperature at 2 m", 180.0, 310.0),
    _v("skin_temperature", "K", "mean", "Temperature of the surface", 185.0, 350.0),
    *(_v(f"soil_temperature_level_{k}", "K", "mean", f"Soil temperature, layer {k}",
         200.0, 335.0) for k in range(1, 5)),
    _v("evaporation_from_bare_soil_sum", "m of water equivalent", "sum",
       "Evaporation from bare soil", -0.08, 0.01),
    _v("evaporation_from_open_water_surfaces_excluding_oceans_sum", "m of water equivalent",
       "sum", "Evaporation from open water surfaces excluding oceans", -0.08, 0.01),
    _v("evaporation_from_the_top_of_canopy_max", "m of water equivalent", "mean",
       "Daily maximum of hourly evaporation from the top of canopy", -0.005, 0.001),
    _v("evaporation_from_the_top_of_canopy_min", "m of water equivalent", "mean",
       "Daily minimum of hourly evaporation from the top of canopy", -0.005, 0.001),
    _v("evaporation_from_the_top_of_canopy_sum", "m of water equivalent", "sum",
       "Evaporation from the top of canopy", -0.08, 0.01),
    _v("evaporation_from_vegetation_transpiration_max", "m of water equivalent", "mean",
       "Daily maximum of hourly transpiration", -0.005, 0.001),
    _v("evaporation_from_vegetation_transpiration_min", "m of water equivalent", "mean",
       "Daily minimum of hourly transpiration", -0.005, 0.001),
    _v("evaporation_from_vegetation_transpiration_sum", "m of water equivalent", "sum",
       "Transpiration from vegetation", -0.08, 0.01),
    _v("total_evaporation_sum", "m of water equivalent", "sum", "Total evaporation",
       -0.12, 0.02),
    _v("leaf_area_index_high_vegetation", "m2 m-2", "mean",
       "Leaf area index, high vegetation", 0.0, 8.0),
    _v("leaf_area_index_low_vegetation", "m2 m-2", "mean",
       "Leaf area index, low vegetation", 0.0, 8.0),
    _v("surface_net_solar_radiation_sum", "J m-2", "sum", "Surface net solar radiation",
       0.0, 3.0e8),
    *(_v(f"volumetric_soil_water_layer_{k}", "m3 m-3", "mean",
         f"Volumetric soil water, layer {k}", 0.0, 0.77) for k in range(1, 5)),
    _v("total_precipitation_sum", "m", "sum", "Total precipitation", 0.0, 1.5),
)

IGBP_CLASSES: tuple[str, ...] = (
    "water", "evergreen needleleaf forest", "evergreen broadleaf forest",
    "deciduous needleleaf forest", "deciduous broadleaf forest", "mixed forest",
    "closed shrubland", "open shrubland", "woody savanna", "savanna", "grassland",
    "permanent wetland", "cropland", "urban and built-up", "cropland/natural mosaic",
    "permanent snow and ice", "barren",
)

LAND_COVER_VARIABLES: tuple[Variable, ...] = tuple(
    Variable(f"land_cover_type_{k}", "1", "mean", f"Fraction of IGBP class {k} ({c})",
             0.0, 1.0, "modis")
    for k, c in enumerate(IGBP_CLASSES)
)

GPP_VARIABLE = Variable("gpp", "g C m-2", "sum",
                        "Gross primary productivity, summed over the 8-day step",
                        0.0, 200.0, "pml")

ERA5_NAMES: tuple[str, ...] = tuple(v.name for v in ERA5_VARIABLES)
LAND_COVER_NAMES: tuple[str, ...] = tuple(v.name for v in LAND_COVER_VARIABLES)
FEATURE_NAMES: tuple[str, ...] = ERA5_NAMES + LAND_COVER_NAMES
TARGET_NAME = GPP_VARIABLE.name
CATALOGUE: dict[str, Variable] = {
    v.name: v for v in (*ERA5_VARIABLES, *LAND_COVER_VARIABLES, GPP_VARIABLE)
}

assert len(ERA5_VARIABLES) == 26 and len(LAND_COVER_VARIABLES) == 17


def step_calendar(year: int, steps_per_year: int = 46) -> tuple[np.ndarray, np.ndarray]:
    """Start dates and lengths (days) of the 8-day steps of ``year`` (MODIS convention).

    Step k starts on day-of-year ``1 + 8k``; the last step runs to 31 December, so it is
    5 days long (6 in leap years).
    """
    start = np.datetime64(f"{year}-01-01")
    end = np.datetime64(f"{year + 1}-01-01")
    starts = start + np.arange(steps_per_year) * np.timedelta64(8, "D")
    ends = np.minimum(starts + np.timedelta64(8, "D"), end)
    return starts.astype("datetime64[ns]"), (ends - starts).astype("timedelta64[D]").astype(int)

"""A Climate2GPP-like synthetic generator with ground truth (GPP paper 4.1, appendix A.3).

It produces, per land cell and 8-day step, the paper's 26 ERA5-Land variables (names and
ERA5 units), the 17 MODIS land-cover fractions per cell and year, and GPP. The climate is a
set of simple, vectorised process models (FAO-56 top-of-atmosphere insolation, a seasonal
temperature cycle by latitude and hemisphere with damped and lagged soil layers, a bucket
soil-water model within porosity, LAI phenology, a partitioned evaporation budget).

GPP follows a light-use-efficiency model

    GPP = eps(i, t) * fAPAR(LAI) * PAR * f_T(T; T_opt(i), width(i)) * f_W(theta; beta(i))

whose parameters vary over space and season through **hidden fields** (nutrient, two
species axes, altitude, a seasonal-phase field) that are not among the features. This is
the spatial heterogeneity the GPP paper models (its section 1 and appendix A.1: soil
nutrients, species and altitude change the response of GPP to climate). The hidden fields
and the true per-cell response parameters are returned as ground truth, so later stages
can score how well a method recovers them.

Everything is a deterministic function of ``seed``: noise is drawn per fixed block of
``NOISE_BLOCK`` cells from a generator seeded by ``(seed, year, block)``, so the chunk size used
for streaming does not change any value.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..fields import smooth_sphere_field
from ..geo import lonlat_to_unit_sphere
from .variables import (CATALOGUE, ERA5_NAMES, LAND_COVER_NAMES, TARGET_NAME,
                        step_calendar)

DAYS_PER_YEAR = 365.25
SOIL_DEPTH_DAMPING = np.array([0.95, 0.80, 0.55, 0.30])  # ERA5 layers 0-7, 7-28, 28-100, 100-289 cm
SOIL_DEPTH_LAG_DAYS = np.array([3.0, 10.0, 30.0, 70.0])
SOIL_WATER_MEMORY = np.array([0.0, 0.55, 0.80, 0.93])  # smoothing of layers 2-4 towards layer 1

# Land-cover climate niches: (T_ann centre degC, T width, aridity centre, aridity width, bias)
_NICHES = np.array([
    [10.0, 40.0, 0.30, 1.00, -3.0],   # 0 water
    [2.0, 6.0, 0.30, 0.25, 0.0],      # 1 evergreen needleleaf
    [26.0, 3.0, 0.12, 0.15, 0.5],     # 2 evergreen broadleaf
    [-8.0, 4.0, 0.35, 0.25, -0.5],    # 3 deciduous needleleaf
    [11.0, 5.0, 0.25, 0.20, -0.2],    # 4 deciduous broadleaf
    [6.0, 6.0, 0.25, 0.20, 0.0],      # 5 mixed forest
    [18.0, 8.0, 0.55, 0.15, -1.0],    # 6 closed shrubland
    [5.0, 14.0, 0.70, 0.20, 0.0],     # 7 open shrubland
    [23.0, 4.0, 0.35, 0.15, 0.0],     # 8 woody savanna
    [25.0, 4.0, 0.50, 0.15, 0.0],     # 9 savanna
    [10.0, 10.0, 0.50, 0.20, 0.2],    # 10 grassland
    [0.0, 8.0, 0.15, 0.20, -1.5],     # 11 permanent wetland
    [14.0, 8.0, 0.40, 0.20, 0.2],     # 12 cropland
    [14.0, 15.0, 0.40, 0.40, -3.5],   # 13 urban
    [16.0, 8.0, 0.35, 0.20, -0.5],    # 14 cropland/natural mosaic
    [-18.0, 5.0, 0.50, 0.60, -0.5],   # 15 snow and ice
    [22.0, 12.0, 0.95, 0.12, 0.3],    # 16 barren
])
_EVERGREEN = np.array([1, 2])
_DECIDUOUS_TREES = np.array([3, 4, 5, 8])
_LOW_VEG = np.array([6, 7, 9, 10, 11, 12, 14])

HIDDEN_FIELDS = ("hidden_nutrient", "hidden_species_1", "hidden_species_2",
                 "hidden_altitude_km", "hidden_season")
TRUE_PARAMETERS = ("lue_max", "t_opt", "t_width", "water_beta", "season_amp", "season_phase")


@dataclass(frozen=True)
class NoiseModel:
    """Observation noise on GPP: multiplicative log-normal then additive Gaussian."""

    rel_sd: float = 0.08  # log-scale sd of the multiplicative error
    abs_sd: float = 0.5  # g C m-2 per 8 days


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def cell_fields(lat: np.ndarray, lon: np.ndarray, seed: int) -> pd.DataFrame:
    """Static per-cell fields: climate drivers, hidden fields and true GPP parameters.

    The hidden fields are smooth random fields on the sphere; the response parameters
    are fixed functions of them (the "true" spatially varying coefficients).
    """
    rng = np.random.default_rng([seed, 7919])
    xyz = lonlat_to_unit_sphere(lon, lat)
    slat = np.sin(np.deg2rad(np.abs(lat)))
    continentality = _sigmoid(1.5 * smooth_sphere_field(xyz, rng, max_freq=2.0))
    elev = np.clip(0.35 + 0.6 * smooth_sphere_field(xyz, rng, max_freq=4.0), 0.0, None) ** 1.5
    t_ann = 27.0 - 30.0 * slat**2 - 10.0 * continentality * slat - 6.5 * elev
    alat = np.abs(lat)
    aridity = (0.30 + 0.45 * np.exp(-(((alat - 24.0) / 9.0) ** 2))
               - 0.20 * np.exp(-((lat / 8.0) ** 2)) + 0.18 * (continentality - 0.5)
               + 0.15 * smooth_sphere_field(xyz, rng, max_freq=3.0))
    aridity = np.clip(aridity, 0.02, 0.98)
    porosity = 0.40 + 0.06 * smooth_sphere_field(xyz, rng, max_freq=4.0)
    porosity = np.clip(porosity, 0.30, 0.55)

    nutrient = smooth_sphere_field(xyz, rng, max_freq=3.0)
    species1 = smooth_sphere_field(xyz, rng, max_freq=5.0)
    species2 = smooth_sphere_field(xyz, rng, max_freq=5.0)
    season = smooth_sphere_field(xyz, rng, max_freq=2.5)

    lue_max = 1.2 * (0.45 + 0.55 * _sigmoid(1.5 * nutrient)) * (1.0 - 0.08 * elev)
    t_opt = np.clip(0.45 * t_ann + 13.0 + 3.5 * species1, 6.0, 34.0)
    t_width = 9.0 + 5.0 * _sigmoid(species1 + species2)
    water_beta = 0.25 + 1.75 * _sigmoid(1.5 * species2)
    season_amp = 0.30 * _sigmoid(1.5 * season + 0.5)
    north_peak = np.where(lat >= 0, 190.0, 190.0 - DAYS_PER_YEAR / 2)
    season_phase = np.mod(north_peak + 45.0 * season, DAYS_PER_YEAR)

    return pd.DataFrame({
        "lat": lat, "lon": lon, "t_ann_c": t_ann, "continentality": continentality,
        "aridity": aridity, "porosity": porosity,
        "hidden_nutrient": nutrient, "hidden_species_1": species1,
        "hidden_species_2": species2, "hidden_altitude_km": elev, "hidden_season": season,
        "lue_max": lue_max, "t_opt": t_opt, "t_width": t_width, "water_beta": water_beta,
        "season_amp": season_amp, "season_phase": season_phase,
    })


def land_cover_fractions(fields: pd.DataFrame, year: int, seed: int) -> np.ndarray:
    """17 IGBP fractions per cell for ``year`` (cells x 17, rows sum to 1).

    Softmax of climate-niche logits plus a static spatial field per class and a small
    year-to-year drift (land-cover change).
    """
    xyz = lonlat_to_unit_sphere(fields["lon"].to_numpy(), fields["lat"].to_numpy())
    rng_static = np.random.default_rng([seed, 104729])
    rng_year = np.random.default_rng([seed, 15485863, year])
    t = fields["t_ann_c"].to_numpy()[:, None]
    a = fields["aridity"].to_numpy()[:, None]
    tc, tw, ac, aw, bias = (_NICHES[:, k][None, :] for k in range(5))
    logits = bias - ((t - tc) / tw) ** 2 - ((a - ac) / aw) ** 2
    static = np.stack([smooth_sphere_field(xyz, rng_static, n_waves=24, max_freq=6.0)
                       for _ in range(17)], axis=1)
    drift = np.stack([smooth_sphere_field(xyz, rng_year, n_waves=12, max_freq=4.0)
                      for _ in range(17)], axis=1)
    logits = 1.6 * logits + 1.0 * static + 0.12 * drift
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def toa_insolation_mj(lat: np.ndarray, doy: np.ndarray) -> np.ndarray:
    """Daily top-of-atmosphere solar radiation (MJ m-2 d-1), FAO-56 equation 21."""
    phi = np.deg2rad(lat)[:, None]
    j = np.asarray(doy, float)[None, :]
    dr = 1 + 0.033 * np.cos(2 * np.pi * j / 365.0)
    delta = 0.409 * np.sin(2 * np.pi * j / 365.0 - 1.39)
    ws = np.arccos(np.clip(-np.tan(phi) * np.tan(delta), -1.0, 1.0))
    ra = (24 * 60 / np.pi) * 0.0820 * dr * (ws * np.sin(phi) * np.sin(delta)
                                            + np.cos(phi) * np.cos(delta) * np.sin(ws))
    return np.clip(ra, 0.0, None)


NOISE_BLOCK = 64


class _BlockNoise:
    """Noise for cells ``[start, start + n)`` drawn per fixed block of ``NOISE_BLOCK`` cells."""

    def __init__(self, seed: int, year: int, start: int, n: int):
        if start % NOISE_BLOCK:
            raise ValueError(f"chunks must start on a multiple of {NOISE_BLOCK} cells")
        self.parts = []
        for b0 in range(start, start + n, NOISE_BLOCK):
            m = min(NOISE_BLOCK, start + n - b0)
            self.parts.append((np.random.default_rng([seed, year, b0 // NOISE_BLOCK]), m))

    def normal(self, scale: float = 1.0, size: tuple[int, ...] = ()) -> np.ndarray:
        return np.concatenate([r.normal(scale=scale, size=(m, *size)) for r, m in self.parts])

    def gamma(self, shape: float, scale: float, size: tuple[int, ...] = ()) -> np.ndarray:
        return np.concatenate([r.gamma(shape, scale, size=(m, *size)) for r, m in self.parts])


@dataclass
class _State:
    """Soil-water wetness (0..1) of the four layers, carried from year to year."""

    wetness: np.ndarray  # cells x 4


def _year_chunk(f: pd.DataFrame, lc: np.ndarray, year: int, state: _State, seed: int,
                chunk_start: int, steps: int, noise: NoiseModel) -> dict[str, np.ndarray]:
    """Generate every variable for one year and a chunk of cells (cells x steps)."""
    n = len(f)
    rng = _BlockNoise(seed, year, chunk_start, n)
    starts, ndays = step_calendar(year, steps)
    doy0 = (starts - np.datetime64(f"{year}-01-01", "ns")) / np.timedelta64(1, "D")
    doy = doy0 + ndays / 2.0  # mid-step day of year
    nd = ndays[None, :].astype(float)
    lat = f["lat"].to_numpy()
    xyz = lonlat_to_unit_sphere(f["lon"].to_numpy(), lat)
    slat = np.sin(np.deg2rad(np.abs(lat)))[:, None]
    t_ann = f["t_ann_c"].to_numpy()[:, None]
    cont = f["continentality"].to_numpy()[:, None]
    arid = f["aridity"].to_numpy()[:, None]
    poro = f["porosity"].to_numpy()[:, None]

    # interannual anomalies: smooth in space, one field per year (same for every chunk)
    rng_year = np.random.default_rng([seed, 31337, year])
    t_anom = (0.7 * smooth_sphere_field(xyz, rng_year, n_waves=24, max_freq=2.0)
              + 0.02 * (year - 2000))[:, None]
    p_factor = np.exp(0.20 * smooth_sphere_field(xyz, rng_year, n_waves=24, max_freq=2.0))[:, None]

    peak = np.where(lat >= 0, 200.0, 200.0 - DAYS_PER_YEAR / 2)[:, None]
    phase = 2 * np.pi * (doy[None, :] - peak) / DAYS_PER_YEAR
    amp = 1.0 + 17.0 * slat**1.5 * (0.4 + cont)
    weather = rng.normal(size=(steps,)) * (0.8 + 1.2 * slat)
    t2m = t_ann + amp * np.cos(phase) + t_anom + weather  # degC
    dtr = 5.0 + 9.0 * arid + rng.normal(scale=0.8, size=(steps,))
    dtr = np.clip(dtr, 1.5, None)
    tmax = t2m + 0.5 * dtr
    tmin = t2m - 0.5 * dtr
    dew_dep = np.clip(1.5 + 14.0 * arid**1.3 + 0.15 * np.clip(t2m, 0, None)
                      + rng.normal(scale=0.7, size=(steps,)), 0.3, None)
    dew = t2m - dew_dep

    # radiation
    toa = toa_insolation_mj(lat, doy)  # MJ m-2 d-1
    cloud = np.clip(0.55 - 0.45 * arid + 0.12 * rng.normal(size=(steps,)), 0.05, 0.9)
    snow_cover = _sigmoid(-(t2m + 1.0) / 1.5)
    barren = lc[:, 16][:, None]
    albedo = 0.14 + 0.16 * barren + 0.50 * snow_cover
    incoming = toa * (0.78 - 0.45 * cloud)  # MJ m-2 d-1 at the surface
    net_solar = incoming * (1.0 - albedo)
    skin = t2m + 0.18 * (net_solar - 8.0) + rng.normal(scale=0.6, size=(steps,))

    soil = []
    for k in range(4):
        lag_phase = phase - 2 * np.pi * SOIL_DEPTH_LAG_DAYS[k] / DAYS_PER_YEAR
        insulation = 1.0 + 1.5 * snow_cover.mean(axis=1, keepdims=True) * (k + 1) / 4
        soil.append(t_ann + 1.0 + (amp * SOIL_DEPTH_DAMPING[k] / insulation) * np.cos(lag_phase)
                    + t_anom + weather * SOIL_DEPTH_DAMPING[k] ** 3)

    # precipitation (mm d-1), monsoon-like seasonality in the tropics and subtropics
    p_mean = (0.3 + 7.0 * (1.0 - arid) ** 2) * p_factor
    monsoon = 0.9 * np.exp(-(((np.abs(lat) - 12.0) / 14.0) ** 2))[:, None]
    p_season = 1.0 + monsoon * np.cos(phase) + 0.15 * np.cos(2 * phase)
    shape = 1.2
    p_day = p_mean * np.clip(p_season, 0.05, None) * rng.gamma(shape, 1.0 / shape, size=(steps,))

    # potential evaporation (mm d-1): radiation- and temperature-driven
    pet = 0.40 * net_solar / 2.45 * _sigmoid((t2m - 2.0) / 4.0)

    # land cover and LAI phenology
    lai_max_high = 6.0 * lc[:, _EVERGREEN].sum(1) + 4.5 * lc[:, _DECIDUOUS_TREES].sum(1)
    evergreen_share = lc[:, _EVERGREEN].sum(1) / np.clip(
        lc[:, np.r_[_EVERGREEN, _DECIDUOUS_TREES]].sum(1), 1e-6, None)
    lai_max_low = 3.2 * lc[:, _LOW_VEG].sum(1)
    water_frac = lc[:, 0][:, None]

    # bucket soil-water model, step by step (the only recursion)
    wet = np.empty((n, steps, 4))
    w = state.wetness.copy()
    for s in range(steps):
        w1 = w[:, 0]
        stress = np.clip(w1 / 0.6, 0.0, 1.0)
        et_pot = pet[:, s] * stress
        infil = p_day[:, s] * 8.0 / 40.0  # 8 mm of rain per day-step into a 40 mm bucket
        loss = et_pot * 8.0 / 60.0 + 0.05 * w1
        w1 = np.clip(w1 + infil - loss, 0.02, 1.0)
        w[:, 0] = w1
        for k in range(1, 4):
            m = SOIL_WATER_MEMORY[k]
            w[:, k] = m * w[:, k] + (1 - m) * w[:, k - 1]
        wet[:, s] = w
    state.wetness = w
    theta_wilt = 0.06 + 0.08 * (poro - 0.30) / 0.25
    theta = theta_wilt[..., None] + (poro[..., None] - theta_wilt[..., None]) * wet
    theta = np.clip(theta + rng.normal(scale=0.005, size=theta.shape[1:]), 0.01,
                    poro[..., None] - 1e-3)

    root_w = wet[:, :, 1:3].mean(axis=2)
    green = _sigmoid((t2m - 5.0) / 3.0) * np.sqrt(np.clip(root_w, 0, 1))
    lai_high = lai_max_high[:, None] * (evergreen_share[:, None] * 0.85
                                        + (1 - evergreen_share[:, None]) * green)
    lai_low = lai_max_low[:, None] * (0.1 + 0.9 * green)
    lai_high = np.clip(lai_high * (1 + 0.05 * rng.normal(size=(steps,))), 0.0, 7.5)
    lai_low = np.clip(lai_low * (1 + 0.05 * rng.normal(size=(steps,))), 0.0, 7.5)
    fapar = 1.0 - np.exp(-0.5 * (lai_high + lai_low))

    # evaporation budget (mm d-1, positive upward here; stored negative as in ERA5)
    et = pet * np.clip(wet[:, :, 0] / 0.6, 0.0, 1.0)
    transp = 0.75 * et * fapar * np.clip(root_w / 0.5, 0, 1)
    canopy = np.minimum(0.20 * p_day * fapar, 0.3 * pet)
    bare = 0.8 * et * (1.0 - fapar)
    open_water = pet * water_frac * 1.1
    total = transp + canopy + bare + open_water
    dew_flux = 0.02 * _sigmoid(-dew_dep + 2.0)  # mm per hour of condensation at night

    to_m_sum = nd / 1000.0  # mm d-1 -> m per step
    peak_hour = 2.6 / 24.0  # the strongest hour carries ~2.6 x the mean hourly rate

    # GPP: light-use efficiency with spatially and seasonally varying parameters
    par = 0.48 * incoming * nd  # MJ m-2 per step
    t_opt = f["t_opt"].to_numpy()[:, None]
    t_width = f["t_width"].to_numpy()[:, None]
    f_t = np.exp(-(((t2m - t_opt) / t_width) ** 2)) * _sigmoid((tmin + 2.0) / 1.5)
    f_w = np.clip(root_w, 1e-3, 1.0) ** f["water_beta"].to_numpy()[:, None]
    eps = f["lue_max"].to_numpy()[:, None] * (1.0 + f["season_amp"].to_numpy()[:, None] * np.cos(
        2 * np.pi * (doy[None, :] - f["season_phase"].to_numpy()[:, None]) / DAYS_PER_YEAR))
    gpp_true = eps * fapar * par * f_t * f_w
    gpp = gpp_true * np.exp(rng.normal(scale=noise.rel_sd, size=(steps,))
                            - 0.5 * noise.rel_sd**2)
    gpp = np.clip(gpp + rng.normal(scale=noise.abs_sd, size=(steps,)) * np.sqrt(nd / 8.0),
                  0.0, None)

    k0 = 273.15
    out = {
        "temperature_2m": t2m + k0, "temperature_2m_max": tmax + k0,
        "temperature_2m_min": tmin + k0, "dewpoint_temperature_2m": dew + k0,
        "skin_temperature": skin + k0,
        **{f"soil_temperature_level_{k + 1}": soil[k] + k0 for k in range(4)},
        "evaporation_from_bare_soil_sum": -bare * to_m_sum,
        "evaporation_from_open_water_surfaces_excluding_oceans_sum": -open_water * to_m_sum,
        "evaporation_from_the_top_of_canopy_max": np.broadcast_to(dew_flux * 0.3 / 1000.0,
                                                                   (n, steps)),
        "evaporation_from_the_top_of_canopy_min": -canopy * peak_hour / 1000.0,
        "evaporation_from_the_top_of_canopy_sum": -canopy * to_m_sum,
        "evaporation_from_vegetation_transpiration_max": -transp * (0.05 / 24.0) / 1000.0,
        "evaporation_from_vegetation_transpiration_min": -transp * peak_hour / 1000.0,
        "evaporation_from_vegetation_transpiration_sum": -transp * to_m_sum,
        "total_evaporation_sum": -(total - 0.3 * dew_flux * 24) * to_m_sum,
        "leaf_area_index_high_vegetation": lai_high,
        "leaf_area_index_low_vegetation": lai_low,
        "surface_net_solar_radiation_sum": net_solar * nd * 1.0e6,
        **{f"volumetric_soil_water_layer_{k + 1}": theta[:, :, k] for k in range(4)},
        "total_precipitation_sum": p_day * to_m_sum,
        TARGET_NAME: gpp,
    }
    return out


class SyntheticGPP:
    """The synthetic Climate2GPP generator over a land grid, one year at a time.

    ``cells`` is the land-grid table (``build_land_grid``); :meth:`iter_years` yields one
    ``xarray.Dataset`` per year with dims (cell, year=1, step), the structure every stage-01
    source produces. Memory is bounded by one year of the grid.
    """

    def __init__(self, cells: pd.DataFrame, years: tuple[int, ...], seed: int = 0,
                 steps_per_year: int = 46, cells_per_chunk: int = 8192,
                 gpp_aggregation: str = "sum", noise: NoiseModel = NoiseModel()):
        if gpp_aggregation not in ("sum", "mean"):
            raise ValueError("gpp_aggregation must be 'sum' (paper 4.1) or 'mean' (daily rate)")
        if len(years) == 0 or list(years) != sorted(set(years)):
            raise ValueError(f"years must be non-empty, sorted and unique, got {years}")
        self.cells = cells.reset_index(drop=True)
        self.years = tuple(int(y) for y in years)
        self.seed = int(seed)
        self.steps = int(steps_per_year)
        # chunks start on noise-block boundaries so values do not depend on the chunk size
        self.chunk = max(NOISE_BLOCK, -(-int(cells_per_chunk) // NOISE_BLOCK) * NOISE_BLOCK)
        self.gpp_aggregation = gpp_aggregation
        self.noise = noise
        self.fields = cell_fields(self.cells["lat"].to_numpy(), self.cells["lon"].to_numpy(),
                                  self.seed)

    def ground_truth(self) -> pd.DataFrame:
        """Per-cell hidden fields and true response parameters (plus climate drivers)."""
        gt = self.fields.copy()
        gt.insert(0, "cell", self.cells["cell"].to_numpy())
        return gt

    def iter_years(self) -> Iterator[xr.Dataset]:
        """Yield one Dataset per year (cells x 1 year x steps), soil water carried over."""
        n = len(self.cells)
        arid = self.fields["aridity"].to_numpy()
        state = _State(wetness=np.repeat((1.0 - arid)[:, None], 4, axis=1))
        for year in self.years:
            lc = land_cover_fractions(self.fields, year, self.seed)
            arrays = {name: np.empty((n, self.steps), np.float32)
                      for name in (*ERA5_NAMES, TARGET_NAME)}
            for c0 in range(0, n, self.chunk):
                sl = slice(c0, min(n, c0 + self.chunk))
                st = _State(wetness=state.wetness[sl])
                out = _year_chunk(self.fields.iloc[sl], lc[sl], year, st, self.seed, c0,
                                  self.steps, self.noise)
                state.wetness[sl] = st.wetness
                for name, a in out.items():
                    arrays[name][sl] = a
            if self.gpp_aggregation == "mean":
                _, nd = step_calendar(year, self.steps)
                arrays[TARGET_NAME] /= nd[None, :]
            yield self._to_dataset(year, arrays, lc)

    def _to_dataset(self, year: int, arrays: dict[str, np.ndarray], lc: np.ndarray) -> xr.Dataset:
        starts, nd = step_calendar(year, self.steps)
        data_vars = {}
        for name in (*ERA5_NAMES, TARGET_NAME):
            data_vars[name] = (("cell", "year", "step"), arrays[name][:, None, :],
                               _attrs(name, self.gpp_aggregation))
        for k, name in enumerate(LAND_COVER_NAMES):
            data_vars[name] = (("cell", "year"), lc[:, k:k + 1].astype(np.float32), _attrs(name))
        coords = {
            "cell": self.cells["cell"].to_numpy(),
            "lat": ("cell", self.cells["lat"].to_numpy()),
            "lon": ("cell", self.cells["lon"].to_numpy()),
            "year": [year],
            "step": np.arange(self.steps),
            "time": (("year", "step"), starts[None, :]),
            "step_days": (("year", "step"), nd[None, :].astype(np.int16)),
        }
        return xr.Dataset(data_vars, coords=coords, attrs={"source": "synthetic",
                                                           "seed": self.seed})


def _attrs(name: str, gpp_aggregation: str = "sum") -> dict[str, str]:
    v = CATALOGUE[name]
    units = v.units
    if name == TARGET_NAME and gpp_aggregation == "mean":
        units = "g C m-2 d-1"
    return {"units": units, "long_name": v.long_name, "aggregation": v.aggregation}

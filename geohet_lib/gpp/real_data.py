"""Real Climate2GPP inputs -> the stage-01 dataset (GPP paper 4.1, appendix A.3).

Users export the paper's sources themselves and hand us the files:

- ERA5-Land daily aggregates (GEE ``ECMWF/ERA5_LAND/DAILY_AGGR`` or CDS): NetCDF, or one
  GeoTIFF per day (band descriptions = variable names, date in the file name).
- MODIS MCD12C1 yearly land cover: ``Land_Cover_Type_1_Percent`` with a 17-class dimension,
  or the 17 GEE bands ``Land_Cover_Type_1_Percent_Class_0`` .. ``_16``, in percent.
- PML-V2 GPP: the ``GPP`` band in g C m-2 d-1, daily or 8-day (a mean daily rate per step).

The paper's preparation (4.1): everything on the 0.5 degree land grid and 8-day steps
(MODIS calendar: step k starts on day-of-year 1 + 8k, the last step has 5 or 6 days), with
solar radiation, evaporation, precipitation and GPP summed over each step and the other
variables averaged (:func:`aggregate_to_8day`, rules from ``CATALOGUE``).

Incomplete steps: a step's value uses the days present, the mean over them (sums: that mean
times the step's length), and is NaN unless the days present cover at least
``min_coverage`` of the step (default 1.0: all days). Missing days include NaN values.

Regridding (:func:`regrid_to_cells`): a source finer than the grid is averaged over the
source pixels whose centres fall in each cell (NaN-aware); a coarser or equal source is
interpolated bilinearly at the cell centres (longitude wrapped across the antimeridian on
global grids), falling back to the nearest pixel where a neighbour is no-data (coasts).

Memory: the loaders take ``cells``/``res_deg`` to regrid each file as it is read, so a
year of global daily fields never sits in memory; call :func:`build_real_dataset` a year at
a time for the paper's scale. Inputs are never modified (validation works on copies).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np
import pandas as pd
import scipy.sparse
import xarray as xr

from ..errors import InputDataError
from .validation import (LOG, check_land_cells, check_latitudes, check_not_all_nan, check_not_swapped,
                         check_ranges,
                         check_variables, convert_units, fix_longitudes, fix_times,
                         standardise_coords, unit_conversion)
from .variables import (CATALOGUE, ERA5_NAMES, ERA5_VARIABLES, LAND_COVER_NAMES, TARGET_NAME,
                        step_calendar)

Source = Union[xr.Dataset, str, Path, Sequence[Union[str, Path, tuple[Any, Union[str, Path]]]]]

MODIS_PERCENT_VAR = "Land_Cover_Type_1_Percent"
MODIS_CLASS_VARS = tuple(f"Land_Cover_Type_1_Percent_Class_{k}" for k in range(17))
PML_GPP_VAR = "GPP"
PML_INPUT_UNITS = "g C m-2 d-1"
NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf", ".cdf")
GEOTIFF_SUFFIXES = (".tif", ".tiff")


# ----------------------------------------------------------------------------- reading files
def read_geotiff(path: str | Path, band_names: Sequence[str] | None = None) -> xr.Dataset:
    """One GeoTIFF as a Dataset (dims lat, lon): one variable per band, named by its description.

    Nodata becomes NaN; band scales/offsets and units (when set) are applied. The raster must
    be on a geographic (EPSG:4326-like) grid without rotation.
    """
    import rasterio

    path = Path(path)
    with rasterio.open(path) as src:
        if src.crs is not None and not src.crs.is_geographic:
            raise InputDataError(f"{path.name}: CRS {src.crs} is projected. Fix: export on a "
                                 "geographic grid (EPSG:4326).")
        t = src.transform
        if t.b != 0 or t.d != 0:
            raise InputDataError(f"{path.name}: rotated raster. Fix: export north-up.")
        names = list(band_names) if band_names is not None else list(src.descriptions)
        if len(names) != src.count or not all(names):
            raise InputDataError(
                f"{path.name}: band descriptions {tuple(src.descriptions)} do not name all "
                f"{src.count} bands. Fix: set each band's description to its variable name "
                "(rasterio dst.set_band_description) or pass band_names=[...].")
        data = src.read(masked=True).astype(np.float32).filled(np.nan)
        scales, offsets, units = src.scales, src.offsets, src.units
        width, height = src.width, src.height
    lon = t.c + (np.arange(width) + 0.5) * t.a
    lat = t.f + (np.arange(height) + 0.5) * t.e
    data_vars = {n: (("lat", "lon"), data[i] * np.float32(scales[i]) + np.float32(offsets[i]),
                     {"units": units[i]} if units[i] else {}) for i, n in enumerate(names)}
    return xr.Dataset(data_vars, coords={"lat": lat, "lon": lon})


def _date_from_name(path: Path, year_only: bool) -> pd.Timestamp | None:
    m = re.search(r"(?<!\d)((?:19|20)\d{2})[-_.]?(\d{2})[-_.]?(\d{2})(?!\d)", path.stem)
    if m:
        try:
            return pd.Timestamp(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            pass
    m = re.search(r"(?<!\d)((?:19|20)\d{2})(?!\d)", path.stem) if year_only else None
    return pd.Timestamp(int(m[1]), 1, 1) if m else None


def _file_items(source: Source) -> list[tuple[Any, Path]]:
    if isinstance(source, (str, Path)):
        p = Path(source)
        if not p.exists():
            raise InputDataError(f"{p}: no such file or folder. Fix: give the path of a NetCDF "
                                 "or GeoTIFF file, or of a folder of them.")
        if p.is_dir():
            files = [f for f in sorted(p.iterdir())
                     if f.suffix.lower() in NETCDF_SUFFIXES + GEOTIFF_SUFFIXES]
            hidden = [f.name for f in files if f.name.startswith(".")]
            if hidden:  # macOS AppleDouble "._x.nc" and other hidden files are not data
                LOG.warning("%s: skipping hidden file(s) %s", p, hidden[:5])
            return [(None, f) for f in files if not f.name.startswith(".")]
        return [(None, p)]
    return [(item[0], Path(item[1])) if isinstance(item, tuple) else (None, Path(item))
            for item in source]


def _with_time(ds: xr.Dataset, date: Any, name: str, year_only: bool) -> xr.Dataset:
    """Give ``ds`` a ``time`` dimension (from the data, the given date or the file name)."""
    ds = ds.drop_vars([c for c in ds.coords if c not in ("lat", "lon", "time", "cell")
                       and ds[c].ndim == 0])
    if "time" in ds.dims:
        return ds
    if "year" in ds.dims:  # a yearly dataset (already loaded land cover)
        times = pd.to_datetime([f"{int(y)}-01-01" for y in ds["year"].values])
        return ds.assign_coords(time=("year", times)).swap_dims(year="time").drop_vars("year")
    if "time" in ds.coords:
        return ds.expand_dims("time")
    if date is None and name:
        date = _date_from_name(Path(name), year_only)
    if date is None:
        raise InputDataError(
            f"{name or 'dataset'}: no time coordinate and no date in the file name. Fix: add "
            "a time coordinate, name files by date (e.g. 20010101.tif) or pass "
            "[(date, path), ...].")
    if isinstance(date, (int, np.integer)):
        date = f"{int(date)}-01-01"
    return ds.expand_dims(time=[pd.Timestamp(date)])


def _read(date: Any, path: Path, year_only: bool) -> tuple[xr.Dataset, bool]:
    """Read one file (NetCDF or GeoTIFF); returns the dataset and whether it was a GeoTIFF."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise InputDataError(f"{path}: no such file. Fix: check the path.")
    if suffix not in NETCDF_SUFFIXES + GEOTIFF_SUFFIXES:
        raise InputDataError(f"{path.name}: unknown format {suffix!r}. Fix: give NetCDF "
                             f"({', '.join(NETCDF_SUFFIXES)}) or GeoTIFF (.tif) files.")
    if path.stat().st_size == 0:
        raise InputDataError(f"{path}: the file is empty (0 bytes). Fix: export it again.")
    kind = "NetCDF" if suffix in NETCDF_SUFFIXES else "GeoTIFF"
    try:
        if suffix in NETCDF_SUFFIXES:
            with xr.open_dataset(path) as f:
                ds = f.load()
            tif = False
        else:
            ds, tif = read_geotiff(path), True
    except InputDataError:
        raise
    except Exception as err:  # noqa: BLE001 - every reader failure names the file
        raise InputDataError(f"{path}: could not be read as {kind} ({type(err).__name__}: "
                             f"{err}). Fix: check that it is a complete {kind} file (not "
                             "truncated, not a CSV or another format renamed).") from err
    ds = standardise_coords(ds, path.name)
    return _with_time(ds, date, path.name, year_only), tif


def _load(source: Source, name: str, prepare: Callable[[xr.Dataset, str, bool], xr.Dataset],
          year_only: bool = False, date: Any = None) -> xr.Dataset:
    """Read every file (or the Dataset), ``prepare`` each (validate, regrid), concat on time."""
    if isinstance(source, xr.Dataset):
        ds = _with_time(standardise_coords(source, name), date, "", year_only)
        parts = [prepare(ds, name, False)]
    else:
        items = _file_items(source)
        if not items:
            raise InputDataError(f"{name}: no input files in {source!r}. Fix: give NetCDF or "
                                 "GeoTIFF files.")
        parts = []
        for d, p in items:
            ds, tif = _read(d if d is not None else date, p, year_only)
            parts.append(prepare(ds, f"{name} ({p.name})", tif))
    try:
        ds = parts[0] if len(parts) == 1 else xr.concat(parts, dim="time", join="exact",
                                                         combine_attrs="override")
    except ValueError as e:
        raise InputDataError(f"{name}: the files are on different grids ({e}). Fix: export "
                             "every file on the same grid.") from e
    return fix_times(ds, name)


def _plausible_ranges(names: Sequence[str]) -> dict[str, tuple[float, float]]:
    """The catalogue's range of each input variable on the daily input scale: a mean as it
    is; a daily sum or rate within its 8-day sum's range (PML's daily GPP rate as ``gpp``)."""
    out = {}
    for name in names:
        var = CATALOGUE.get(TARGET_NAME if name == PML_GPP_VAR else name)
        if var is not None:
            out[name] = (var.valid_min, var.valid_max)
    return out


def _validate_grid(ds: xr.Dataset, names: Sequence[str], units: dict[str, str], source: str,
                   assume_units: bool, cells: pd.DataFrame | None,
                   res_deg: float | None) -> xr.Dataset:
    """Shared per-file checks, then an optional regrid to ``cells``."""
    check_variables(ds, names, source)
    ds = ds[list(names)]
    check_latitudes(ds, source)
    ds = fix_longitudes(ds, source)
    check_not_swapped(ds, source)
    ds = convert_units(ds, units, source, assume_missing=assume_units)
    check_not_all_nan(ds, source)
    check_ranges(ds, _plausible_ranges(names), source)
    if cells is not None:
        if res_deg is None:
            raise ValueError("res_deg is needed with cells")
        ds = regrid_to_cells(ds, cells, res_deg)
    return ds


# ----------------------------------------------------------------------------- loaders
def load_era5_land(source: Source, cells: pd.DataFrame | None = None,
                   res_deg: float | None = None) -> xr.Dataset:
    """ERA5-Land daily aggregates (paper 4.1, A.3): the 26 catalogue variables, validated.

    ``source``: a Dataset, a NetCDF/GeoTIFF path, a folder, or a list of paths or
    ``(date, path)`` pairs. Returns dims (time, lat, lon), or (cell, time) with ``cells``.
    GeoTIFFs without band units are taken to be in ERA5's units (K, m, J m-2, ...).
    """
    units = {v.name: v.units for v in ERA5_VARIABLES}
    return _load(source, "ERA5-Land", lambda ds, src, tif: _validate_grid(
        ds, ERA5_NAMES, units, src, tif, cells, res_deg))


def normalise_land_cover(ds: xr.Dataset) -> xr.Dataset:
    """Renormalise the 17 class fractions to sum to 1 (a copy); a zero sum becomes NaN.

    MCD12C1 percentages are rounded and regridding mixes pixels, so sums drift from 1; the
    fix divides each class by the sum. All-zero (no-data) pixels are NaN, which
    :func:`build_real_dataset` reports as an error when it hits a land cell.
    """
    total = sum(ds[n] for n in LAND_COVER_NAMES)
    total = total.where(total > 0)
    return ds.assign({n: (ds[n] / total).assign_attrs(ds[n].attrs) for n in LAND_COVER_NAMES})


def _modis_classes(ds: xr.Dataset, source: str) -> xr.Dataset:
    """The two MCD12C1 layouts -> 17 variables ``land_cover_type_k``."""
    if all(n in ds.data_vars for n in LAND_COVER_NAMES):
        return ds
    if MODIS_PERCENT_VAR in ds.data_vars:
        da = ds[MODIS_PERCENT_VAR]
        extra = [d for d in da.dims if d not in ("time", "lat", "lon")]
        if len(extra) != 1 or da.sizes[extra[0]] != 17:
            raise InputDataError(
                f"{source}: {MODIS_PERCENT_VAR} has dims {da.dims}; expected one class "
                "dimension of size 17 besides time/lat/lon. Fix: export all 17 IGBP classes.")
        parts = {n: da.isel({extra[0]: k}, drop=True) for k, n in enumerate(LAND_COVER_NAMES)}
    else:
        check_variables(ds, MODIS_CLASS_VARS, source)
        parts = {n: ds[c] for n, c in zip(LAND_COVER_NAMES, MODIS_CLASS_VARS)}
    # MCD12C1 stores percent (the name says so; GEE exports carry no units): -> fraction
    out = {}
    for n, p in parts.items():
        units = p.attrs.get("units") or "%"
        if unit_conversion(units, "1") == (0.01, 0.0):
            p = (p.astype(np.float32) * np.float32(0.01)).assign_attrs(p.attrs)
            units = "1"
        out[n] = p.assign_attrs(units=units)
    return xr.Dataset(out)


def load_modis_land_cover(source: Source, cells: pd.DataFrame | None = None,
                          res_deg: float | None = None, year: int | None = None) -> xr.Dataset:
    """MODIS MCD12C1 yearly land cover (paper 4.1) as 17 fractions summing to 1.

    Accepts ``Land_Cover_Type_1_Percent`` with a 17-class dimension or the 17 GEE bands
    ``..._Class_k``; percent -> fraction, then renormalised per pixel
    (:func:`normalise_land_cover`). Years come from the time coordinate, the file name,
    ``(year, path)`` pairs or ``year``. Returns dims (year, lat, lon) or (cell, year).
    """
    units = {n: "1" for n in LAND_COVER_NAMES}

    def prepare(ds: xr.Dataset, src: str, tif: bool) -> xr.Dataset:
        ds = _modis_classes(ds, src)
        return normalise_land_cover(_validate_grid(ds, LAND_COVER_NAMES, units, src, tif,
                                                   cells, res_deg))

    ds = _load(source, "MODIS MCD12C1", prepare, year_only=True, date=year)
    years = pd.DatetimeIndex(ds["time"].values).year
    if years.has_duplicates:
        raise InputDataError(f"MODIS MCD12C1: year {years[years.duplicated()][0]} appears "
                             "twice. Fix: give one land-cover map per year.")
    return ds.assign_coords(year=("time", years.to_numpy())).swap_dims(time="year").drop_vars(
        "time")


def load_pml_gpp(source: Source, cells: pd.DataFrame | None = None,
                 res_deg: float | None = None) -> xr.Dataset:
    """PML-V2 GPP (paper 4.1): the ``GPP`` band as variable ``gpp`` in g C m-2 d-1.

    Daily or 8-day time steps (8-day values are the mean daily rate of the step);
    :func:`aggregate_to_8day` turns either into the 8-day sum. Dims (time, lat, lon), or
    (cell, time) with ``cells``.
    """
    def prepare(ds: xr.Dataset, src: str, tif: bool) -> xr.Dataset:
        if TARGET_NAME in ds.data_vars and PML_GPP_VAR not in ds.data_vars:
            ds = ds.rename({TARGET_NAME: PML_GPP_VAR})  # already loaded
        ds = _validate_grid(ds, [PML_GPP_VAR], {PML_GPP_VAR: PML_INPUT_UNITS}, src, tif,
                            cells, res_deg)
        return ds.rename({PML_GPP_VAR: TARGET_NAME})

    return _load(source, "PML-V2", prepare)


# ----------------------------------------------------------------------------- 8-day steps
def _sub_daily_to_daily(ds: xr.Dataset) -> xr.Dataset:
    """Hourly (any sub-daily) values -> daily, by each variable's catalogue rule (paper 4.1).

    "mean" variables: the mean of the day's steps. "sum" variables (amounts per step, e.g.
    ERA5 hourly precipitation in m or radiation in J m-2): the day's total, taken as the mean
    of the steps present x the steps in a full day (a day with missing hours is not read as a
    dry one). Logged, with the step found. Time stamps must be regular within each day.
    """
    t = pd.DatetimeIndex(ds["time"].values)
    step = pd.Timedelta(np.median(np.diff(t.values)))
    per_day = pd.Timedelta(days=1) / step
    if step <= pd.Timedelta(0) or abs(per_day - round(per_day)) > 1e-6:
        raise InputDataError(f"sub-daily time steps of {step} do not divide a day. Fix: give "
                             "daily data or regular hourly / 3-hourly / 6-hourly steps.")
    per_day = int(round(per_day))
    out = {}
    rules = []
    for name, da in ds.data_vars.items():
        if "time" not in da.dims:
            out[name] = da
            continue
        if name not in CATALOGUE:
            raise InputDataError(f"{name} is not a catalogue variable, so its daily rule (mean or "
                                 "sum) is unknown. Fix: rename it to its catalogue name "
                                 "(variables.CATALOGUE).")
        daily = da.resample(time="1D").mean()
        if CATALOGUE[name].aggregation == "sum":
            daily = daily * per_day
        rules.append(f"{name} {CATALOGUE[name].aggregation}")
        out[name] = daily.assign_attrs(da.attrs)
    LOG.warning("input has %d time steps per day (every %s): aggregated to daily first (%s)",
                per_day, step, ", ".join(rules))
    return xr.Dataset(out, attrs=ds.attrs)


def _detect_period(t: pd.DatetimeIndex) -> str:
    if t.size < 2 or np.median(np.diff(t.values).astype("timedelta64[D]").astype(int)) <= 1:
        return "daily"
    if np.all((t.day_of_year - 1) % 8 == 0):
        return "8day"
    raise InputDataError("time steps are neither daily nor on the 8-day MODIS calendar "
                         f"(first times {list(t[:3].date)}). Fix: give daily data or values "
                         "dated on day-of-year 1, 9, 17, ... (or pass period=).")


def aggregate_to_8day(daily: xr.Dataset, steps_per_year: int = 46, min_coverage: float = 1.0,
                      period: str = "auto") -> xr.Dataset:
    """Daily (or 8-day) values -> dims (..., year, step), the paper's 8-day steps (4.1).

    Sub-daily input (hourly ERA5, say) is first aggregated to daily by the same rules and
    logged (:func:`_sub_daily_to_daily`), never read as one day per time stamp.

    Per ``CATALOGUE[name].aggregation``: "mean" averages the days of a step, "sum" adds them
    (radiation, evaporation, precipitation, GPP: a daily rate g C m-2 d-1 summed gives
    g C m-2). With ``period="8day"`` (auto-detected from the time stamps) each value is a
    mean daily rate of its step and is weighted by the step's length, so sums are value x
    ``step_days``. Incomplete steps: mean of the days present (sums: x days in the step);
    NaN when the days present are fewer than ``min_coverage`` x days in the step.
    """
    if "time" not in daily.dims:
        raise InputDataError("aggregate_to_8day: no 'time' dimension. Fix: give daily data.")
    if not 0.0 < min_coverage <= 1.0:
        raise ValueError(f"min_coverage must be in (0, 1], got {min_coverage}")
    daily = fix_times(daily, "aggregate_to_8day input")
    raw = pd.DatetimeIndex(daily["time"].values)
    if raw.size > 1 and pd.Timedelta(np.median(np.diff(raw.values))) < pd.Timedelta(days=1):
        daily = _sub_daily_to_daily(daily)
    t = pd.DatetimeIndex(daily["time"].values).normalize()
    period = _detect_period(t) if period == "auto" else period
    if period not in ("daily", "8day"):
        raise ValueError(f"period must be 'auto', 'daily' or '8day', got {period!r}")
    year, doy = t.year.to_numpy(), t.day_of_year.to_numpy()
    step = (doy - 1) // 8
    years = np.unique(year)
    cal = [step_calendar(int(y), steps_per_year) for y in years]
    starts, nd = np.stack([c[0] for c in cal]), np.stack([c[1] for c in cal])
    yi, n_key = np.searchsorted(years, year), years.size * steps_per_year
    keep = np.nonzero(step < steps_per_year)[0]
    if period == "8day":
        if np.any((doy - 1) % 8):
            raise InputDataError("8-day values must be dated on a step start (day-of-year 1, "
                                 "9, 17, ...). Fix: re-date them or pass period='daily'.")
        weight = nd[yi[keep], step[keep]].astype(float)
    else:
        weight = np.ones(keep.size)
    # M[time, (year, step)]: how many days each time stamp stands for in its step
    m = np.zeros((t.size, n_key))
    m[keep, yi[keep] * steps_per_year + step[keep]] = weight
    expected = nd.ravel().astype(float)
    short = np.nonzero(m.sum(0) < expected)[0]
    if short.size:
        LOG.warning("8-day aggregation: %d of %d steps miss days (first: %s); values there "
                    "are NaN unless the days present cover >= %.0f%% of the step",
                    short.size, n_key, pd.Timestamp(starts.ravel()[short[0]]).date(),
                    100 * min_coverage)
    data_vars = {}
    for name, da in daily.data_vars.items():
        if "time" not in da.dims:
            continue
        if name not in CATALOGUE:
            raise InputDataError(f"aggregate_to_8day: {name} is not a catalogue variable, so "
                                 "its 8-day rule is unknown. Fix: rename it to its catalogue "
                                 "name (variables.CATALOGUE).")
        var = CATALOGUE[name]
        da = da.transpose(..., "time")
        x = da.values.astype(np.float64)
        valid = ~np.isnan(x)
        days = valid @ m
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (np.where(valid, x, 0.0) @ m) / days
        val = mean * expected if var.aggregation == "sum" else mean
        val[days < min_coverage * expected - 1e-9] = np.nan
        data_vars[name] = (da.dims[:-1] + ("year", "step"),
                           val.reshape(*x.shape[:-1], years.size, steps_per_year)
                           .astype(np.float32), _attrs(name))
    coords = {k: c for k, c in daily.coords.items() if "time" not in c.dims}
    coords.update(year=years.astype(int), step=np.arange(steps_per_year),
                  time=(("year", "step"), starts), step_days=(("year", "step"),
                                                              nd.astype(np.int16)))
    return xr.Dataset(data_vars, coords=coords, attrs=dict(daily.attrs))


def _attrs(name: str) -> dict[str, str]:
    v = CATALOGUE[name]
    return {"units": v.units, "long_name": v.long_name, "aggregation": v.aggregation}


# ----------------------------------------------------------------------------- regridding
def _spacing(x: np.ndarray, name: str) -> float:
    if x.size < 2:
        raise InputDataError(f"regrid: the source has {x.size} {name} value(s); need at least "
                             "2 to know its resolution. Fix: export a larger region.")
    return float(np.median(np.abs(np.diff(x))))


def _cell_grid_index(lat: np.ndarray, lon: np.ndarray, res_deg: float) -> np.ndarray:
    """Flat index (row * n_col + col) of the global ``res_deg`` cell holding each point."""
    n_col = round(360.0 / res_deg)
    row = np.floor((90.0 - lat) / res_deg).astype(np.int64)
    col = np.floor(((lon + 180.0) % 360.0) / res_deg).astype(np.int64) % n_col
    return row * n_col + col


def _block_mean(ds: xr.Dataset, cells: pd.DataFrame, res_deg: float) -> xr.Dataset:
    lat, lon = ds["lat"].values, ds["lon"].values
    pix = _cell_grid_index(np.repeat(lat, lon.size), np.tile(lon, lat.size), res_deg)
    target = _cell_grid_index(cells["lat"].to_numpy(float), cells["lon"].to_numpy(float),
                              res_deg)
    owner = pd.Index(target).get_indexer(pix)  # -1: pixel outside every land cell
    inside = np.nonzero(owner >= 0)[0]
    w = scipy.sparse.csr_matrix((np.ones(inside.size), (owner[inside], inside)),
                                shape=(len(cells), pix.size))
    out = {}
    for name, da in ds.data_vars.items():
        da = da.transpose("lat", "lon", ...)
        x = da.values.reshape(pix.size, -1).astype(np.float64)
        valid = ~np.isnan(x)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (w @ np.where(valid, x, 0.0)) / (w @ valid.astype(np.float64))
        rest = da.dims[2:]
        dtype = da.dtype if da.dtype.kind == "f" else np.float32
        out[name] = xr.DataArray(mean.reshape(len(cells), *da.shape[2:]).astype(dtype),
                                 dims=("cell", *rest), attrs=da.attrs,
                                 coords={d: da[d] for d in rest if d in da.coords})
    return xr.Dataset(out)


def _bilinear(ds: xr.Dataset, cells: pd.DataFrame, dlat: float, dlon: float) -> xr.Dataset:
    lon = ds["lon"].values
    if abs(lon.size * dlon - 360.0) < dlon / 2:  # global: wrap across the antimeridian
        ds = xr.concat([ds.isel(lon=[-1]).assign_coords(lon=[lon[-1] - 360.0]), ds,
                        ds.isel(lon=[0]).assign_coords(lon=[lon[0] + 360.0])], dim="lon",
                       join="outer")
        lo, hi = -np.inf, np.inf
    else:
        lo, hi = lon[0] - dlon / 2, lon[-1] + dlon / 2
    tlat = xr.DataArray(cells["lat"].to_numpy(float), dims="cell")
    tlon = xr.DataArray(cells["lon"].to_numpy(float), dims="cell")
    bil = ds.interp(lat=tlat, lon=tlon, method="linear")
    # nearest pixel where a neighbour is no-data (coasts) or past the outermost centres
    near = ds.interp(lat=tlat, lon=tlon, method="nearest", kwargs={"fill_value": None})
    lat = ds["lat"].values
    inside = ((tlat >= lat[0] - dlat / 2) & (tlat <= lat[-1] + dlat / 2)
              & (tlon >= lo) & (tlon <= hi))
    out = bil.fillna(near.where(inside))
    return out.drop_vars(["lat", "lon"], errors="ignore")


def regrid_to_cells(data: xr.Dataset | xr.DataArray, cells: pd.DataFrame,
                    res_deg: float) -> xr.Dataset:
    """Source grid (lat, lon) -> the land cells of a ``res_deg`` grid (dim ``cell``; paper 4.1).

    Finer source: NaN-aware mean of the source pixels whose centres fall in each cell.
    Coarser or equal: bilinear at the cell centres (longitude wrapped on global grids),
    nearest pixel where a bilinear neighbour is NaN. Latitude may be ascending or
    descending, longitude -180..180 or 0..360. Data already on ``cells`` pass through.
    """
    ds = data.to_dataset(name=data.name or "data") if isinstance(data, xr.DataArray) else data
    ids = cells["cell"].to_numpy(np.int64)
    coords = {"cell": ids, "lat": ("cell", cells["lat"].to_numpy(float)),
              "lon": ("cell", cells["lon"].to_numpy(float))}
    if "cell" in ds.dims:
        if ds.sizes["cell"] != ids.size or not np.array_equal(ds["cell"].values, ids):
            raise InputDataError("regrid: the data are on other cells than `cells`. Fix: "
                                 "build every source with the same land grid.")
        return ds
    ds = fix_longitudes(standardise_coords(ds, "regrid input"), "regrid input")
    ds = ds[[n for n, v in ds.data_vars.items() if {"lat", "lon"} <= set(v.dims)]]
    ds = ds.sortby(["lat", "lon"])
    dlat = _spacing(ds["lat"].values, "latitude")
    dlon = _spacing(ds["lon"].values, "longitude")
    if max(dlat, dlon) < res_deg * (1 - 1e-6):
        out = _block_mean(ds, cells, res_deg)
    else:
        out = _bilinear(ds, cells, dlat, dlon)
    return out.assign_coords(coords).transpose("cell", ...)


# ----------------------------------------------------------------------------- assembly
def _years_of(ds: xr.Dataset) -> set[int]:
    if "year" in ds.dims:
        return {int(y) for y in ds["year"].values}
    return set(pd.DatetimeIndex(ds["time"].values).year.tolist())


def build_real_dataset(era5: Source, modis: Source, pml: Source, cells: pd.DataFrame,
                       res_deg: float, years: Iterable[int] | None = None,
                       steps_per_year: int = 46, min_coverage: float = 1.0) -> xr.Dataset:
    """The stage-01 dataset from real inputs (paper 4.1): dims (cell, year, step).

    ``era5``/``modis``/``pml``: what the loaders accept, or their outputs. Years are those
    present in all three sources (and in ``years`` if given); none is an error. Everything
    is regridded to ``cells``, aggregated to 8-day steps, land cover renormalised and
    broadcast per year; a NaN left in a land cell is an error naming it.
    """
    era5, modis, pml = load_era5_land(era5), load_modis_land_cover(modis), load_pml_gpp(pml)
    have = {"ERA5-Land": _years_of(era5), "MODIS MCD12C1": _years_of(modis),
            "PML-V2": _years_of(pml)}
    common = set.intersection(*have.values())
    if years is not None:
        common &= {int(y) for y in years}
    if not common:
        found = "; ".join(f"{k}: {sorted(v)}" for k, v in have.items())
        raise InputDataError(f"no year is present in all sources ({found}"
                             f"{'; asked ' + str(sorted(years)) if years is not None else ''})."
                             " Fix: export the same years from every source.")
    keep = sorted(common)
    for name, ys in have.items():  # a year one source lacks drops out of every source: say so
        dropped = sorted(set(ys) - common)
        if dropped:
            missing_from = [k for k, v in have.items() if not set(dropped) <= v]
            LOG.warning("%s: year(s) %s not used (%s); the dataset keeps %s", name, dropped,
                        f"missing from {', '.join(missing_from)}" if missing_from
                        else "not asked for", keep)

    def on_cells(ds: xr.Dataset) -> xr.Dataset:
        in_years = ds["time"].dt.year.isin(keep)
        ds = regrid_to_cells(ds.isel(time=np.nonzero(in_years.values)[0]), cells, res_deg)
        return aggregate_to_8day(ds, steps_per_year, min_coverage).sel(year=keep)

    climate, gpp = on_cells(era5), on_cells(pml)
    lc = normalise_land_cover(regrid_to_cells(modis.sel(year=keep), cells, res_deg))
    starts, nd = climate["time"], climate["step_days"]
    data_vars = {}
    for name in ERA5_NAMES:
        data_vars[name] = (("cell", "year", "step"), climate[name].transpose(
            "cell", "year", "step").values.astype(np.float32), _attrs(name))
    for name in LAND_COVER_NAMES:
        data_vars[name] = (("cell", "year"), lc[name].transpose("cell", "year").values
                           .astype(np.float32), _attrs(name))
    data_vars[TARGET_NAME] = (("cell", "year", "step"), gpp[TARGET_NAME].transpose(
        "cell", "year", "step").values.astype(np.float32), _attrs(TARGET_NAME))
    coords = {"cell": cells["cell"].to_numpy(np.int64),
              "lat": ("cell", cells["lat"].to_numpy(float)),
              "lon": ("cell", cells["lon"].to_numpy(float)),
              "year": np.asarray(keep, dtype=int), "step": np.arange(steps_per_year),
              "time": (("year", "step"), starts.values),
              "step_days": (("year", "step"), nd.values)}
    out = xr.Dataset(data_vars, coords=coords,
                     attrs={"source": "real", "grid_res_deg": float(res_deg)})
    check_land_cells(out)
    return out

"""Checks on user-supplied GPP inputs (ERA5-Land, MODIS MCD12C1, PML-V2; paper 4.1, A.3).

Every rule either raises :class:`InputDataError` (a ``ValueError``) whose message names the
variable or coordinate, the bad value and the fix, or applies a documented fix to a **copy**
and logs a warning on the ``geohet`` logger. Nothing the user passed in (object or file) is
modified.

Rules
-----
- coordinates: ``latitude``/``y`` -> ``lat``, ``longitude``/``x`` -> ``lon``,
  ``valid_time``/``date`` -> ``time`` (renamed in a copy); no latitude/longitude: error.
- variables: a required name missing is an error that suggests the present name it most
  likely is (ERA5 short names such as ``t2m``, else ``difflib``).
- units: the ``units`` attribute must be the expected unit or an alias of it, or a unit with
  a safe conversion in :data:`UNIT_TABLE` (converted in a copy), or -- for every other
  spelling -- a unit UDUNITS-2 (``cf-units``, the CF conventions' units library) parses and
  converts to the expected one (``degrees_C``, ``deg_C``, ``kJ m-2``, ``mm``, ...); anything
  else is an error.
- NaN: no-data pixels (ocean) are fine on source grids; a variable NaN everywhere is an
  error. After regridding, NaN in a land cell is an error naming the cell's lat/lon.
- latitude outside [-90, 90]: error. Longitudes in 0..360: normalised to -180..180 and
  re-sorted (copy, warning). Land-only data whose valid pixels lie mostly in the sea but
  mostly on land with lat and lon exchanged: error (swapped coordinates).
- duplicate times: error. Unsorted times: sorted (copy, warning).
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputDataError

LOG = logging.getLogger("geohet")

COORD_ALIASES = {
    "lat": ("lat", "latitude", "y", "Latitude", "LAT"),
    "lon": ("lon", "longitude", "x", "Longitude", "LON"),
    "time": ("time", "valid_time", "date", "Time"),
}

# ERA5 / ERA5-Land short names (CDS, GRIB) of the catalogue's long GEE names.
ERA5_SHORT_NAMES = {
    "t2m": "temperature_2m", "mx2t": "temperature_2m_max", "mn2t": "temperature_2m_min",
    "d2m": "dewpoint_temperature_2m", "skt": "skin_temperature",
    **{f"stl{k}": f"soil_temperature_level_{k}" for k in range(1, 5)},
    **{f"swvl{k}": f"volumetric_soil_water_layer_{k}" for k in range(1, 5)},
    "evabs": "evaporation_from_bare_soil_sum",
    "evaow": "evaporation_from_open_water_surfaces_excluding_oceans_sum",
    "evatc": "evaporation_from_the_top_of_canopy_sum",
    "evavt": "evaporation_from_vegetation_transpiration_sum",
    "e": "total_evaporation_sum", "tp": "total_precipitation_sum",
    "ssr": "surface_net_solar_radiation_sum",
    "lai_hv": "leaf_area_index_high_vegetation", "lai_lv": "leaf_area_index_low_vegetation",
}

# Unit families: the spellings taken as the same unit, and safe conversions
# ``unit -> (scale, offset)`` giving ``value * scale + offset`` in the family's unit.
# Spellings are compared after normalisation (lower case, ``**``/``^`` dropped, blanks collapsed).
UNIT_TABLE: tuple[tuple[frozenset[str], dict[str, tuple[float, float]]], ...] = (
    (frozenset({"k", "kelvin", "degk", "deg k"}),
     {u: (1.0, 273.15) for u in ("degc", "deg c", "°c", "c", "celsius", "degrees_celsius",
                                 "degree_celsius", "degrees c")}),
    (frozenset({"m", "m of water equivalent", "m w.e.", "m water equivalent", "metre",
                "metres", "meter", "meters"}),
     {u: (1e-3, 0.0) for u in ("mm", "mm of water equivalent", "mm w.e.", "kg m-2",
                               "kg/m2")}),
    (frozenset({"j m-2", "j/m2"}),
     {"kj m-2": (1e3, 0.0), "kj/m2": (1e3, 0.0), "mj m-2": (1e6, 0.0), "mj/m2": (1e6, 0.0)}),
    (frozenset({"m3 m-3", "m3/m3"}), {"%": (0.01, 0.0), "percent": (0.01, 0.0)}),
    (frozenset({"m2 m-2", "m2/m2"}), {}),
    (frozenset({"1", "fraction", "dimensionless"}), {"%": (0.01, 0.0), "percent": (0.01, 0.0)}),
    (frozenset({"g c m-2 d-1", "gc m-2 d-1", "g c m-2 day-1", "gc m-2 day-1", "gc/m2/d",
                "gc/m2/day", "g m-2 d-1"}),
     {"kg c m-2 s-1": (86400e3, 0.0), "kg m-2 s-1": (86400e3, 0.0)}),
)


def _norm_unit(u: str) -> str:
    u = str(u).strip().lower().replace("**", "").replace("^", "")
    return re.sub(r"\s+", " ", u)


def unit_conversion(units: str, expected: str) -> tuple[float, float] | None:
    """``(scale, offset)`` taking ``units`` to ``expected``; ``None`` if there is none."""
    have, want = _norm_unit(units), _norm_unit(expected)
    if have == want:
        return 1.0, 0.0
    for same, conv in UNIT_TABLE:
        if want in same:
            if have in same:
                return 1.0, 0.0
            if have in conv:
                return conv[have]
            break
    return _udunits_conversion(units, expected)


def _udunits_conversion(units: str, expected: str) -> tuple[float, float] | None:
    """``(scale, offset)`` from UDUNITS-2 (``cf_units``) when both spellings parse and are
    convertible (an affine map, e.g. degrees_C -> K); ``None`` otherwise."""
    try:
        import cf_units
    except ImportError:  # pragma: no cover - a core dependency
        return None
    table_want = next((next(iter(same)) for same, _ in UNIT_TABLE if _norm_unit(expected) in same), None)
    try:
        have = cf_units.Unit(str(units).strip())
        want = cf_units.Unit(str(expected).strip())
    except ValueError:
        try:  # the table's canonical spelling of the expected unit, when it has one
            have, want = cf_units.Unit(str(units).strip()), cf_units.Unit(table_want or "")
        except ValueError:
            return None
    if have.is_unknown() or want.is_unknown() or not have.is_convertible(want):
        return None
    offset = float(have.convert(0.0, want))
    return float(have.convert(1.0, want)) - offset, offset


def standardise_coords(ds: xr.Dataset, source: str) -> xr.Dataset:
    """Rename coordinate aliases to ``lat``/``lon``/``time`` (a copy); error if lat/lon lack."""
    rename = {}
    for canon, aliases in COORD_ALIASES.items():
        found = [a for a in aliases if a in ds.variables or a in ds.dims]
        if canon not in found and found:
            rename[found[0]] = canon
    ds = ds.rename(rename) if rename else ds
    for c in ("lat", "lon"):
        if c not in ds.variables:
            raise InputDataError(
                f"{source}: no {c} coordinate (looked for {COORD_ALIASES[c]}); found "
                f"{sorted(map(str, ds.variables))}. Fix: name the coordinate "
                f"'{COORD_ALIASES[c][1]}' or '{c}' (ds = ds.rename({{'<name>': '{c}'}})).")
    return ds


def suggest_name(missing: str, present: Iterable[str]) -> str | None:
    """The present variable name that most likely means ``missing`` (or ``None``)."""
    present = [str(p) for p in present]
    for short, long in ERA5_SHORT_NAMES.items():
        if long == missing and short in present:
            return short
    close = difflib.get_close_matches(missing, present, n=1, cutoff=0.6)
    if not close:
        lower = {p.lower(): p for p in present}
        close = [lower[m] for m in difflib.get_close_matches(missing.lower(), lower, n=1,
                                                             cutoff=0.6)]
    return close[0] if close else None


def check_variables(ds: xr.Dataset, required: Iterable[str], source: str) -> None:
    """Raise if a required variable is missing, suggesting the likely misnamed one."""
    required = list(required)
    missing = [v for v in required if v not in ds.data_vars]
    if not missing:
        return
    extra = [str(v) for v in ds.data_vars if v not in required]
    lines = []
    for name in missing:
        guess = suggest_name(name, extra)
        if guess is not None:
            lines.append(f"  - {guess!r} looks like {name}: rename it "
                         f"(ds = ds.rename({{{guess!r}: {name!r}}}))")
        else:
            lines.append(f"  - {name}: not found; export it from the source")
    raise InputDataError(f"{source}: {len(missing)} required variable(s) missing: {missing}. "
                         "Fix:\n" + "\n".join(lines))


def check_latitudes(ds: xr.Dataset, source: str) -> None:
    """Raise if a latitude lies outside [-90, 90] degrees."""
    lat = np.asarray(ds["lat"].values, float)
    bad = lat[np.abs(lat) > 90]
    if bad.size:
        raise InputDataError(
            f"{source}: latitude {bad.flat[0]} outside [-90, 90] ({bad.size} values). Fix: "
            "give latitudes in degrees north on a geographic (EPSG:4326) grid; swapped "
            "lat/lon or a projected CRS give this.")


_SWAP_CHECKED: dict[bytes, tuple[float, float]] = {}


def check_not_swapped(ds: xr.Dataset, source: str, min_pixels: int = 50) -> None:
    """Raise when lat and lon look swapped: land-only data (ocean pixels NaN, as ERA5-Land,
    MCD12C1 and PML-V2 are) whose valid pixels fall mostly in the sea as given but mostly on
    land with the two coordinates exchanged. Grids without NaN, or with fewer than
    ``min_pixels`` valid pixels, cannot tell and pass. One check per distinct grid and mask.
    """
    import hashlib

    first = next(iter(ds.data_vars.values()))
    da = first.isel({d: 0 for d in first.dims if d not in ("lat", "lon")}).transpose("lat", "lon")
    valid = np.isfinite(np.asarray(da.values, float))
    lat = np.asarray(ds["lat"].values, float)
    lon = np.asarray(ds["lon"].values, float)
    if valid.all() or valid.sum() < min_pixels or np.abs(lon).max(initial=0) > 90:
        return
    key = hashlib.sha1(lat.tobytes() + lon.tobytes() + np.packbits(valid).tobytes()).digest()
    if key not in _SWAP_CHECKED:
        from ..land import is_land

        la, lo = np.meshgrid(lat, lon, indexing="ij")
        la, lo = la[valid], lo[valid]
        _SWAP_CHECKED[key] = (float(is_land(la, lo).mean()), float(is_land(lo, la).mean()))
    as_given, swapped = _SWAP_CHECKED[key]
    if as_given < 0.5 and swapped >= 0.8:
        raise InputDataError(
            f"{source}: latitude and longitude look swapped: {100 * (1 - as_given):.0f}% of the "
            f"valid (land-only) pixels fall in the sea as given, {100 * swapped:.0f}% on land "
            "with the two exchanged. Fix: exchange the coordinates "
            "(ds = ds.rename({'lat': 'lon', 'lon': 'lat'})) or correct the file's attributes.")


def fix_longitudes(ds: xr.Dataset, source: str) -> xr.Dataset:
    """Longitudes in 0..360 -> -180..180, re-sorted along ``lon`` (a copy, with a warning)."""
    lon = np.asarray(ds["lon"].values, float)
    if lon.size == 0 or np.nanmax(lon) <= 180:
        return ds
    if np.nanmin(lon) < -180 or np.nanmax(lon) > 360:
        raise InputDataError(f"{source}: longitude {np.nanmax(lon)} outside -180..360. Fix: "
                             "give longitudes in degrees east.")
    LOG.warning("%s: longitudes in 0..360 (max %.3f) normalised to -180..180 in a copy",
                source, np.nanmax(lon))
    out = ds.assign_coords(lon=(ds["lon"].dims, ((lon + 180.0) % 360.0) - 180.0,
                                ds["lon"].attrs))
    if "lon" in out.dims:
        out = out.sortby("lon").drop_duplicates("lon")
    return out


def fix_times(ds: xr.Dataset, source: str) -> xr.Dataset:
    """Raise on duplicate times; sort unsorted times (a copy, with a warning)."""
    if "time" not in ds.dims:
        return ds
    t = pd.DatetimeIndex(ds["time"].values)
    dup = t[t.duplicated()]
    if len(dup):
        raise InputDataError(
            f"{source}: time {dup[0].date()} appears more than once ({len(dup)} duplicates). "
            "Fix: remove repeated files or dates (e.g. ds = ds.drop_duplicates('time')).")
    if not t.is_monotonic_increasing:
        LOG.warning("%s: times were not in order; sorted in a copy", source)
        ds = ds.sortby("time")
    return ds


def convert_units(ds: xr.Dataset, expected: Mapping[str, str], source: str,
                  assume_missing: bool = False) -> xr.Dataset:
    """Bring each variable in ``expected`` to its expected units (a copy when converting).

    A variable without a ``units`` attribute is an error unless ``assume_missing`` (GeoTIFF
    exports carry no units: they are taken as the source's native units).
    """
    out, converted = ds, []
    for name, want in expected.items():
        if name not in ds.data_vars:
            continue
        units = ds[name].attrs.get("units")
        if units is None or str(units).strip() == "":
            if not assume_missing:
                raise InputDataError(
                    f"{source}: variable {name} has no 'units' attribute. Fix: set it, e.g. "
                    f"ds[{name!r}].attrs['units'] = {want!r} if the values are in {want}.")
            conv = (1.0, 0.0)
        else:
            conv = unit_conversion(units, want)
        if conv is None:
            raise InputDataError(
                f"{source}: variable {name} has units {units!r}, expected {want!r} and no safe "
                f"conversion is known. Fix: convert the values to {want} and set "
                f"attrs['units'] = {want!r}.")
        if units == want:
            continue
        scale, offset = conv
        da = ds[name]
        if (scale, offset) != (1.0, 0.0):
            converted.append(f"{name} {units} -> {want} (x {scale:g} + {offset:g})")
            dtype = da.dtype if da.dtype.kind == "f" else np.float32
            da = (da * scale + offset).astype(dtype)
        out = out.copy() if out is ds else out
        out[name] = da.assign_attrs({**ds[name].attrs, "units": want})
    if converted:
        LOG.warning("%s: units converted in a copy: %s", source, "; ".join(converted))
    return out


def check_not_all_nan(ds: xr.Dataset, source: str) -> None:
    """Raise if a variable is NaN everywhere (no-data pixels elsewhere are fine)."""
    for name, da in ds.data_vars.items():
        n_nan = int(da.isnull().sum())
        if da.size and n_nan == da.size:
            raise InputDataError(
                f"{source}: variable {name} is NaN in all {n_nan} values. Fix: check the "
                "nodata value, scale factor and the region/date range of the export.")


def check_ranges(ds: xr.Dataset, ranges: Mapping[str, tuple[float, float]], source: str
                 ) -> None:
    """Raise if a variable leaves its plausible range (the catalogue's, after unit
    conversion), naming the variable, the value found, the source and the likely fix:
    mislabelled units (a degC field labelled K reads as a 17 K temperature), a scale factor
    not applied, or sub-daily steps. NaN (no-data) values are ignored."""
    for name, (lo, hi) in ranges.items():
        if name not in ds.data_vars:
            continue
        vmin, vmax = float(ds[name].min(skipna=True)), float(ds[name].max(skipna=True))
        tol = 1e-6 * max(abs(lo), abs(hi), 1.0)
        if (np.isfinite(vmin) and vmin < lo - tol) or (np.isfinite(vmax) and vmax > hi + tol):
            bad = vmin if vmin < lo - tol else vmax
            raise InputDataError(
                f"{source}: variable {name} has value {bad:g} "
                f"({ds[name].attrs.get('units', '?')}), outside its plausible range "
                f"[{lo:g}, {hi:g}]. Fix: check the units attribute (e.g. degC labelled K, mm "
                "labelled m), the scale factor and offset, and that the time step is daily.")


def check_land_cells(ds: xr.Dataset, names: Iterable[str] | None = None) -> None:
    """After regridding: raise if a land cell has NaN, naming the cell's lat/lon and time."""
    for name in names if names is not None else ds.data_vars:
        da = ds[name]
        isnan = da.isnull()
        n_nan = int(isnan.sum())
        if not n_nan:
            continue
        idx = dict(zip(da.dims, (int(i[0]) for i in np.nonzero(isnan.values))))
        at = da.isel(idx)
        where = f"lat {float(at['lat']):.3f}, lon {float(at['lon']):.3f}"
        when = ", ".join(f"{d} {int(at[d])}" for d in ("year", "step") if d in at.coords)
        if "time" in at.coords and at["time"].size == 1:
            when += f" ({pd.Timestamp(at['time'].values).date()})"
        raise InputDataError(
            f"variable {name}: {n_nan} NaN value(s) in land cells, first at {where}"
            f"{', ' + when if when else ''}. Fix: the source has no data there: supply the "
            "missing days / extend the export's region or mask, or drop such cells from "
            "`cells` before building.")

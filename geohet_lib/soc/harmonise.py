"""Real soil samples -> the harmonised SOC corpus (SOC paper 4.1).

Input schema (CSV, or a GeoPackage / other OGR vector file read with geopandas)
-------------------------------------------------------------------------------
==================  =========================================================================
column              meaning
==================  =========================================================================
``sample_id``       identifier (optional: ``row_<n>`` from the file row when absent); kept as
                    text
``lat``, ``lon``    WGS 84 degrees; **or** ``x``, ``y`` in the CRS of column ``crs`` (any
                    pyproj string, e.g. ``EPSG:32736``) or of the ``crs=`` argument. A vector
                    file's point geometry gives ``x``, ``y`` and the file's CRS.
``crs``             optional per-row CRS of the coordinates (default ``EPSG:4326``)
``date``            sampling date (ISO 8601 preferred) **or** ``year`` (integer)
``depth_top_cm``    upper depth of the sampled interval (cm)
``depth_bottom_cm`` lower depth (cm)
``soc_value``       soil organic carbon (or organic matter, see ``soc_unit``)
``soc_unit``        unit of ``soc_value``: one of :data:`ACCEPTED_UNITS`
``source``          source database (optional: the file name when absent)
covariates          optional: any of the 63 names of :mod:`geohet_lib.soc.covariates`
==================  =========================================================================

Other columns are ignored (listed in the report).

Harmonisation (paper 4.1), each step a public function on a copy, counted in
:class:`HarmonisationReport`, in this order (each step's input is then well defined):

1. :func:`convert_soc_units`: SOC to g/kg. ``%``, ``g/100g``, ``dag/kg`` x 10; ``g/kg``,
   ``mg/g``, ``‰`` x 1; ``mg/kg`` x 0.001; soil organic matter ``SOM %`` x 10 / 1.724 and
   ``SOM g/kg`` / 1.724 (van Bemmelen factor, the ``som_to_soc`` parameter). An unknown unit
   is an error that lists the accepted ones.
2. :func:`drop_incomplete_metadata`: no date and no year, no depth interval, no SOC value
   (or one that is not a number) or no unit.
3. :func:`drop_missing_coordinates`: either coordinate missing; (0, 0) counts as missing.
4. :func:`reproject_to_wgs84`: rows whose CRS is not EPSG:4326 are transformed with pyproj;
   longitudes in (180, 360] are wrapped to (-180, 0].
5. :func:`drop_implausible`: latitude outside [-90, 90] or longitude outside [-180, 180];
   SOC <= 0 or > 600 g/kg (above pure peat). Then :func:`check_not_swapped`: most samples in
   the sea but on land with lat and lon exchanged is an error.
6. :func:`select_topsoil`: keep samples whose interval lies within 0-30 cm, i.e.
   ``0 <= depth_top_cm < depth_bottom_cm <= 30``; ``top >= bottom`` or a negative top is an
   invalid interval (counted apart).
7. :func:`deduplicate`: samples within ``dedupe_m`` metres (default 1 m) of an earlier one
   with the same date (the year when there is no date) are dropped; the first in file order
   is kept.

The user's file is only read and the DataFrame passed in is never modified.
:func:`assign_area` labels each sample ``africa`` / ``europe`` / ``other``, the rule the
synthetic generator uses too.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputDataError  # one error type for bad user input
from ..geo import EARTH_RADIUS_KM, lonlat_to_unit_sphere
from ..land import natural_earth_countries
from .covariates import COVARIATE_NAMES

LOG = logging.getLogger("geohet")

VAN_BEMMELEN = 1.724  # soil organic matter / soil organic carbon
SOC_MAX_PLAUSIBLE_GKG = 600.0
TOPSOIL_MAX_CM = 30.0
WGS84 = "EPSG:4326"

#: accepted SOC units (as written, case-insensitive) -> (factor to g/kg, is organic matter)
_UNIT_FACTORS: dict[str, tuple[float, bool]] = {
    "g/kg": (1.0, False), "g kg-1": (1.0, False), "g kg^-1": (1.0, False),
    "g.kg-1": (1.0, False), "mg/g": (1.0, False), "mg g-1": (1.0, False),
    "‰": (1.0, False), "permille": (1.0, False), "per mille": (1.0, False),
    "%": (10.0, False), "percent": (10.0, False), "wt%": (10.0, False),
    "g/100g": (10.0, False), "g/100 g": (10.0, False), "dag/kg": (10.0, False),
    "mg/kg": (1e-3, False), "mg kg-1": (1e-3, False),
    "som %": (10.0, True), "som%": (10.0, True), "som percent": (10.0, True),
    "om %": (10.0, True), "om%": (10.0, True),
    "som g/kg": (1.0, True), "som g kg-1": (1.0, True),
}
#: the accepted spellings of ``soc_unit``
ACCEPTED_UNITS: tuple[str, ...] = tuple(_UNIT_FACTORS)

REQUIRED_COLUMNS = ("depth_top_cm", "depth_bottom_cm", "soc_value", "soc_unit")
_ALIASES = {"latitude": "lat", "longitude": "lon", "long": "lon", "lng": "lon",
            "soc": "soc_value", "unit": "soc_unit", "id": "sample_id"}


def _shapefile_names() -> dict[str, str]:
    """Schema column -> the 10-character name a Shapefile (dBase) stores for it, for the names
    longer than that whose truncation is unambiguous (``depth_top_`` -> ``depth_top_cm``)."""
    names = [*REQUIRED_COLUMNS, "sample_id", "date", "year", "source", *COVARIATE_NAMES]
    cut: dict[str, list[str]] = {}
    for n in names:
        if len(n) > 10:
            cut.setdefault(n[:10], []).append(n)
    return {k: v[0] for k, v in cut.items() if len(v) == 1 and k not in names}


_TRUNCATED = _shapefile_names()

AREAS = ("africa", "europe", "other")
# Europe (LUCAS-like extent): Natural Earth Europe without these, inside this box
_EUROPE_EXCLUDED = ("Russia", "Belarus", "Ukraine", "Moldova")
_EUROPE_BOX = (-25.0, 34.0, 45.0, 72.0)  # lon0, lat0, lon1, lat1 (drops French Guiana)


# ----------------------------------------------------------------------------- report
@dataclass
class HarmonisationReport:
    """Rows in, rows out, and what each harmonisation step did (SOC paper 4.1)."""

    n_input: int = 0
    units: dict[str, int] = field(default_factory=dict)  # rows per original unit
    som_converted: int = 0  # rows given as organic matter (van Bemmelen)
    incomplete_metadata: int = 0
    missing_coordinates: int = 0
    reprojected: int = 0  # rows transformed to WGS 84 (kept)
    longitudes_wrapped: int = 0  # 0-360 longitudes moved to -180..180 (kept)
    implausible_coordinates: int = 0
    implausible_soc: int = 0
    invalid_depth: int = 0
    not_topsoil: int = 0
    duplicates: int = 0
    n_output: int = 0
    ignored_columns: list[str] = field(default_factory=list)

    _DROPS = ("incomplete_metadata", "missing_coordinates", "implausible_coordinates",
              "implausible_soc", "invalid_depth", "not_topsoil", "duplicates")

    @property
    def dropped(self) -> int:
        """Rows removed by all steps."""
        return sum(getattr(self, k) for k in self._DROPS)

    def to_frame(self) -> pd.DataFrame:
        """One row per step: rows removed (or changed) and rows left."""
        rows, left = [("input", 0, self.n_input, "")], self.n_input
        units = ", ".join(f"{u}: {k}" for u, k in self.units.items())
        rows.append(("convert units to g/kg", 0, left, units))
        notes = {"reprojected": "rows transformed", "longitudes_wrapped": "rows changed"}
        order = ("incomplete_metadata", "missing_coordinates", "reprojected",
                 "longitudes_wrapped", "implausible_coordinates", "implausible_soc",
                 "invalid_depth", "not_topsoil", "duplicates")
        for k in order:
            v = getattr(self, k)
            if k in notes:
                rows.append((k.replace("_", " "), 0, left, f"{v} {notes[k]}"))
            else:
                left -= v
                rows.append((k.replace("_", " "), v, left, ""))
        rows.append(("output", 0, self.n_output, ""))
        return pd.DataFrame(rows, columns=["step", "removed", "remaining", "note"])

    def __str__(self) -> str:
        return self.to_frame().to_string(index=False)


# ----------------------------------------------------------------------------- reading
def _text_encoding(path: Path, encoding: str | None) -> str:
    """``encoding``, or the first of UTF-8 (BOM allowed), UTF-16 (with its BOM) and
    Windows-1252 that decodes the file; the choice is logged when not UTF-8."""
    if encoding is not None:
        return encoding
    raw = path.read_bytes()
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        LOG.info("%s: read as UTF-16 (byte-order mark)", path.name)
        return "utf-16"
    try:
        raw.decode("utf-8")
        return "utf-8-sig"
    except UnicodeDecodeError as err:
        try:
            raw.decode("cp1252")
        except UnicodeDecodeError:
            raise InputDataError(f"{path.name}: not UTF-8, UTF-16 or Windows-1252 text "
                                 f"({err}). Fix: save it as UTF-8, or pass encoding=") from None
        LOG.warning("%s: not UTF-8 (byte %r at %d); read as Windows-1252. Pass encoding= if "
                    "that is wrong", path.name, raw[err.start:err.start + 1], err.start)
        return "cp1252"


def _csv_dialect(path: Path, encoding: str, sep: str | None, decimal: str | None
                 ) -> tuple[str, str]:
    """The field separator (``,``, ``;``, tab or ``|``, sniffed from the header unless given)
    and the decimal mark (``,`` for ``;``-separated European exports unless given)."""
    if sep is None:
        with open(path, encoding=encoding, newline="") as fh:
            head = fh.readline()
        counts = {c: head.count(c) for c in (",", ";", "\t", "|")}
        sep = max(counts, key=counts.get) if max(counts.values()) else ","
        if path.suffix.lower() == ".tsv" and counts["\t"]:
            sep = "\t"
    if decimal is None:
        decimal = "," if sep == ";" else "."
    if (sep, decimal) != (",", "."):
        LOG.info("%s: read with separator %r and decimal mark %r (pass sep= / decimal= to "
                 "change)", path.name, sep, decimal)
    return sep, decimal


def read_soil_samples(path: str | Path, layer: str | None = None,
                      crs: str | None = None, *, sep: str | None = None,
                      decimal: str | None = None, encoding: str | None = None) -> pd.DataFrame:
    """Read a CSV or a vector file (GeoPackage, GeoJSON, Shapefile) into a plain DataFrame.

    CSV: the separator is sniffed from the header (``,``, ``;``, tab, ``|``) and the text
    encoding detected (UTF-8, UTF-16 with a byte-order mark, Windows-1252), each logged when
    not the default; ``;``-separated files take ``,`` as the decimal mark; ``sep=``,
    ``decimal=`` and ``encoding=`` override. A vector file's point geometry becomes ``x``,
    ``y`` and, where there is no ``crs`` column, ``crs`` = the file's CRS (``crs=`` overrides
    a file without one). The file is only read.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"soil sample file {path} does not exist")
    if path.suffix.lower() in (".csv", ".txt", ".tsv"):
        enc = _text_encoding(path, encoding)
        sep, decimal = _csv_dialect(path, enc, sep, decimal)
        try:
            return pd.read_csv(path, sep=sep, decimal=decimal, encoding=enc)
        except (UnicodeDecodeError, pd.errors.ParserError) as err:
            raise InputDataError(f"{path.name}: could not be read as a {enc} CSV with "
                                 f"separator {sep!r} ({err}). Fix: pass sep=, decimal= or "
                                 "encoding=") from None
    import geopandas as gpd

    gdf = gpd.read_file(path, layer=layer)
    df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    geom = gdf.geometry
    if geom.notna().any():
        if not (geom.dropna().geom_type == "Point").all():
            raise InputDataError(f"{path.name}: geometry must be points (one per sample), "
                                 f"found {sorted(set(geom.dropna().geom_type))}. Fix: export "
                                 "sample locations as points.")
        df["x"] = geom.x.where(geom.notna())
        df["y"] = geom.y.where(geom.notna())
        df = df.drop(columns=[c for c in ("lat", "lon") if c in df.columns])
        if "crs" in df.columns and gdf.crs is not None:
            _check_crs_column(df["crs"], gdf.crs, path.name)
        if "crs" not in df.columns:
            if gdf.crs is None and crs is None:
                LOG.warning("%s has no CRS; assuming %s", path.name, WGS84)
            df["crs"] = crs or (gdf.crs.to_string() if gdf.crs is not None else WGS84)
    return df


_DECIMAL_COMMA = r"^\s*[-+]?\d+,\d+\s*$"
_SLASH_DATE = r"^\s*(\d{1,2})[/.](\d{1,2})[/.](\d{2,4})\s*$"


def _to_number(values: pd.Series, name: str) -> pd.Series:
    """Numbers from a column, with decimal commas ("1,5", as quoted European exports write
    them) read as decimal points and counted in the log; anything else not numeric is NaN."""
    if not pd.api.types.is_numeric_dtype(values):
        text = values.astype("string")
        comma = text.str.match(_DECIMAL_COMMA, na=False)
        if comma.any():
            LOG.warning("column %r: %d value(s) with a decimal comma (e.g. %r) read as decimals",
                        name, int(comma.sum()), str(text[comma].iloc[0]))
            values = values.where(~comma, text.str.replace(",", ".", regex=False))
    return pd.to_numeric(values, errors="coerce")


def _parse_dates(values: pd.Series, dayfirst: bool | None) -> pd.Series:
    """Dates of a column. Slash- or dot-separated dates (``01/05/2018``) are day-first or
    month-first only by convention: the file decides where a field exceeds 12 (and must not
    contradict itself), ``dayfirst=`` where none does; otherwise an error asks for it."""
    text = values.astype("string")
    parts = text.str.extract(_SLASH_DATE).astype("Float64")
    slashed = parts[0].notna()
    if slashed.any():
        day_first_seen = bool((parts.loc[slashed, 0] > 12).any())
        month_first_seen = bool((parts.loc[slashed, 1] > 12).any())
        if day_first_seen and month_first_seen:
            raise InputDataError(f"date: both day-first ({text[slashed & (parts[0] > 12)].iloc[0]!r}) "
                                 f"and month-first ({text[slashed & (parts[1] > 12)].iloc[0]!r}) "
                                 "dates in one column. Fix: write dates as YYYY-MM-DD.")
        inferred = True if day_first_seen else False if month_first_seen else None
        if dayfirst is None and inferred is None:
            raise InputDataError(f"date: {text[slashed].iloc[0]!r} and the other slash dates "
                                 "could be day/month or month/day. Fix: pass dayfirst=True "
                                 "(31/12/2018) or dayfirst=False (12/31/2018), or write "
                                 "YYYY-MM-DD.")
        if dayfirst is not None and inferred is not None and dayfirst != inferred:
            raise InputDataError(f"date: dayfirst={dayfirst} contradicts "
                                 f"{text[slashed & (parts[0 if inferred else 1] > 12)].iloc[0]!r}. "
                                 "Fix: pass the other dayfirst, or none.")
        dayfirst = inferred if inferred is not None else dayfirst
        LOG.info("date: slash dates read %s", "day-first" if dayfirst else "month-first")
    return pd.to_datetime(values, errors="coerce", format="mixed", dayfirst=bool(dayfirst))


def _check_crs_column(column: pd.Series, layer_crs, name: str) -> None:
    """A ``crs`` attribute column must agree with the layer's own CRS, which places the
    geometry; a conflict is an error (before, the column won and every point moved)."""
    from pyproj import CRS

    for value in column.dropna().astype(str).str.strip().unique():
        try:
            same = CRS.from_user_input(value) == CRS.from_user_input(layer_crs)
        except Exception:  # noqa: BLE001 - an unreadable CRS is a conflict too
            same = False
        if not same:
            raise InputDataError(
                f"{name}: the attribute column crs says {value!r} but the layer's geometry is in "
                f"{CRS.from_user_input(layer_crs).to_string()}. Fix: drop the crs column (the "
                "layer's CRS places the points) or reproject the layer to match it.")


def check_schema(df: pd.DataFrame, source: str = "user", crs: str | None = None,
                 dayfirst: bool | None = None) -> tuple[pd.DataFrame, list[str]]:
    """A copy with standard column names and types, and the list of ignored columns.

    Raises :class:`InputDataError` naming missing columns and the fix.
    """
    df = df.rename(columns={c: _ALIASES.get(c.strip().lower(), c.strip()) for c in df.columns})
    short = {c: _TRUNCATED[c] for c in df.columns
             if c in _TRUNCATED and _TRUNCATED[c] not in df.columns}
    if short:  # Shapefiles keep 10 characters of a field name
        LOG.info("soil samples: truncated (Shapefile) column names read as %s", short)
        df = df.rename(columns=short)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    has_ll = {"lat", "lon"} <= set(df.columns)
    has_xy = {"x", "y"} <= set(df.columns)
    if not (has_ll or has_xy):
        missing.append("lat/lon (or x/y with crs)")
    if "date" not in df.columns and "year" not in df.columns:
        missing.append("date (or year)")
    if missing:
        raise InputDataError(
            f"soil samples: missing column(s) {missing}; present: {list(df.columns)}. Fix: "
            "name the columns as in geohet_lib.soc.harmonise's schema (sample_id, lat, lon or "
            "x, y, crs, date or year, depth_top_cm, depth_bottom_cm, soc_value, soc_unit, "
            "source).")
    out = pd.DataFrame(index=df.index)
    n = len(df)
    out["input_row"] = np.arange(n, dtype=np.int64)
    rows = pd.Series([f"row_{i}" for i in range(n)], index=df.index)
    if "sample_id" in df.columns:  # a missing identifier becomes row_<n>
        sid = df["sample_id"].astype(object)
        out["sample_id"] = sid.where(sid.notna(), rows).astype(str)
    else:
        out["sample_id"] = rows
    if "source" in df.columns:
        src = df["source"].astype(object)
        out["source"] = src.where(src.notna(), source).astype(str)
    else:
        out["source"] = source
    if has_xy:
        x, y = df["x"], df["y"]
        if has_ll:  # geographic columns fill rows without x/y
            x = x.where(x.notna(), df["lon"])
            y = y.where(y.notna(), df["lat"])
    else:
        x, y = df["lon"], df["lat"]
    out["x"] = _to_number(x, "x" if has_xy else "lon")
    out["y"] = _to_number(y, "y" if has_xy else "lat")
    if "crs" in df.columns:
        c = df["crs"].astype(object).where(df["crs"].notna(), crs or WGS84)
        out["crs"] = c.astype(str).str.strip()
    else:
        out["crs"] = crs or WGS84
    date = (_parse_dates(df["date"], dayfirst)
            if "date" in df.columns else pd.Series(pd.NaT, index=df.index))
    if "date" in df.columns:
        bad = df["date"].notna() & date.isna()
        if bad.any():
            LOG.warning("soil samples: %d unparseable date(s), e.g. %r; those rows fall back "
                        "to 'year' or count as incomplete", int(bad.sum()),
                        df.loc[bad, "date"].iloc[0])
    year = pd.to_numeric(df["year"], errors="coerce") if "year" in df.columns else None
    out["year"] = date.dt.year.astype("Float64")
    if year is not None:
        out["year"] = out["year"].fillna(year.astype("Float64"))
    out["doy"] = date.dt.day_of_year.astype("Float64")
    out["date"] = date.dt.strftime("%Y-%m-%d").where(date.notna(), None)
    for c in ("depth_top_cm", "depth_bottom_cm", "soc_value"):
        out[c] = _to_number(df[c], c)
    out["soc_unit"] = df["soc_unit"].astype(object).where(df["soc_unit"].notna(), None)
    covs = [c for c in COVARIATE_NAMES if c in df.columns]
    for c in covs:
        out[c] = _to_number(df[c], c)
    known = set(out.columns) | {"lat", "lon", "x", "y", "crs", "date", "year"}
    ignored = [c for c in df.columns if c not in known]
    return out.reset_index(drop=True), ignored


# ----------------------------------------------------------------------------- steps
def _norm_unit(u: object) -> str | None:
    if u is None or (isinstance(u, float) and np.isnan(u)):
        return None
    s = re.sub(r"\s+", " ", str(u).strip().lower())
    return s or None


def convert_soc_units(df: pd.DataFrame, som_to_soc: float = VAN_BEMMELEN,
                      report: HarmonisationReport | None = None) -> pd.DataFrame:
    """A copy with ``soc_gkg`` (SOC in g/kg) from ``soc_value`` and ``soc_unit``.

    Organic-matter units are divided by ``som_to_soc`` (van Bemmelen, 1.724). Rows without a
    unit get NaN (dropped as incomplete metadata). Unknown units raise :class:`InputDataError`.
    """
    if som_to_soc <= 0:
        raise ValueError(f"som_to_soc must be positive, got {som_to_soc}")
    out = df.copy()
    units = out["soc_unit"].map(_norm_unit)
    present = units[units.map(lambda u: isinstance(u, str)).astype(bool)]
    unknown = sorted(set(present) - set(_UNIT_FACTORS))
    if unknown:
        rows = present[present.isin(unknown)]
        ids = out.loc[rows.index[:3], "sample_id"].tolist() if "sample_id" in out else []
        raise InputDataError(
            f"soc_unit: unknown unit(s) {unknown} in {len(rows)} row(s) (e.g. sample_id "
            f"{ids}). Accepted: {', '.join(repr(u) for u in ACCEPTED_UNITS)}. Fix: convert "
            "those values or relabel the unit with one of these spellings.")
    ok = units.map(lambda u: isinstance(u, str)).astype(bool)
    factor = units.map(lambda u: _UNIT_FACTORS[u][0] if isinstance(u, str) else np.nan)
    factor = factor.astype(float)
    som = units.map(lambda u: isinstance(u, str) and _UNIT_FACTORS[u][1]).astype(bool)
    factor = np.where(som, factor / som_to_soc, factor)
    out["soc_gkg"] = out["soc_value"].to_numpy(float) * factor
    if report is not None:
        report.units = {str(k): int(v) for k, v in
                        out["soc_unit"].astype(object).where(ok, "(missing)")
                        .value_counts(sort=False).items()}
        report.som_converted = int(som.sum())
    return out


def drop_incomplete_metadata(df: pd.DataFrame, report: HarmonisationReport | None = None
                             ) -> pd.DataFrame:
    """Drop rows with no date and no year, no depth interval, no SOC value or no unit."""
    bad = (df["year"].isna() | df["depth_top_cm"].isna() | df["depth_bottom_cm"].isna()
           | df["soc_value"].isna()
           | ~df["soc_unit"].map(lambda u: isinstance(_norm_unit(u), str)).astype(bool))
    if report is not None:
        report.incomplete_metadata += int(bad.sum())
    return df.loc[~bad.to_numpy()].copy()


def drop_missing_coordinates(df: pd.DataFrame, report: HarmonisationReport | None = None
                             ) -> pd.DataFrame:
    """Drop rows with a missing coordinate; (0, 0), a common no-data code, counts as missing."""
    bad = df["x"].isna() | df["y"].isna() | ((df["x"] == 0) & (df["y"] == 0))
    if report is not None:
        report.missing_coordinates += int(bad.sum())
    return df.loc[~bad.to_numpy()].copy()


def _is_wgs84(crs: str) -> bool:
    return crs.replace(" ", "").upper() in ("EPSG:4326", "WGS84", "WGS 84", "4326",
                                           "OGC:CRS84", "URN:OGC:DEF:CRS:OGC:1.3:CRS84")


def reproject_to_wgs84(df: pd.DataFrame, report: HarmonisationReport | None = None
                       ) -> pd.DataFrame:
    """A copy with ``lat``, ``lon`` in WGS 84 from ``x``, ``y``, ``crs`` (pyproj).

    Longitudes in (180, 360] are wrapped to (-180, 0]. An unknown CRS is an error.
    """
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    out = df.copy()
    lon = out["x"].to_numpy(float).copy()
    lat = out["y"].to_numpy(float).copy()
    n_proj = 0
    for crs in pd.unique(out["crs"]):
        if _is_wgs84(crs):
            continue
        rows = (out["crs"] == crs).to_numpy()
        try:
            src = CRS.from_user_input(crs)
        except CRSError as e:
            raise InputDataError(f"crs: {crs!r} ({int(rows.sum())} rows) is not a CRS pyproj "
                                 f"knows ({e}). Fix: use an EPSG code such as 'EPSG:32736'."
                                 ) from e
        if src.equals(CRS.from_epsg(4326), ignore_axis_order=True):
            continue
        t = Transformer.from_crs(src, "EPSG:4326", always_xy=True)
        lon[rows], lat[rows] = t.transform(lon[rows], lat[rows])
        n_proj += int(rows.sum())
    wrap = (lon > 180.0) & (lon <= 360.0)
    if wrap.any():
        LOG.warning("soil samples: %d longitude(s) in 0-360 wrapped to -180..180",
                    int(wrap.sum()))
    lon = np.where(wrap, lon - 360.0, lon)
    out["lat"], out["lon"] = lat, lon
    if report is not None:
        report.reprojected += n_proj
        report.longitudes_wrapped += int(wrap.sum())
    return out


def drop_implausible(df: pd.DataFrame, max_soc_gkg: float = SOC_MAX_PLAUSIBLE_GKG,
                     report: HarmonisationReport | None = None) -> pd.DataFrame:
    """Drop coordinates out of range (lat in [-90, 90], lon in [-180, 180]) and SOC <= 0
    or > ``max_soc_gkg`` g/kg (also non-finite values)."""
    lat, lon = df["lat"].to_numpy(float), df["lon"].to_numpy(float)
    bad_xy = ~((np.abs(lat) <= 90.0) & (np.abs(lon) <= 180.0))
    soc = df["soc_gkg"].to_numpy(float)
    bad_soc = ~((soc > 0.0) & (soc <= max_soc_gkg)) & ~bad_xy
    if report is not None:
        report.implausible_coordinates += int(bad_xy.sum())
        report.implausible_soc += int(bad_soc.sum())
    return df.loc[~(bad_xy | bad_soc)].copy()


def select_topsoil(df: pd.DataFrame, max_depth_cm: float = TOPSOIL_MAX_CM,
                   report: HarmonisationReport | None = None) -> pd.DataFrame:
    """Keep samples whose interval lies within 0-``max_depth_cm`` cm.

    Rule: ``0 <= depth_top_cm < depth_bottom_cm <= max_depth_cm``. A negative top or a top
    not above the bottom is an invalid interval (counted as ``invalid_depth``); a valid
    interval reaching below ``max_depth_cm`` is ``not_topsoil``.
    """
    top, bot = df["depth_top_cm"].to_numpy(float), df["depth_bottom_cm"].to_numpy(float)
    invalid = ~((top >= 0.0) & (top < bot))
    deep = ~invalid & (bot > max_depth_cm)
    if report is not None:
        report.invalid_depth += int(invalid.sum())
        report.not_topsoil += int(deep.sum())
    return df.loc[~(invalid | deep)].copy()


def deduplicate(df: pd.DataFrame, tolerance_m: float = 1.0,
                report: HarmonisationReport | None = None) -> pd.DataFrame:
    """Drop samples within ``tolerance_m`` metres of an earlier sample with the same date.

    The date is the sampling date, or the year where a row has none. The earlier row (file
    order) is kept; in a chain of near points every later one is dropped.
    """
    from scipy.spatial import cKDTree

    if len(df) < 2:
        return df.copy()
    metres = EARTH_RADIUS_KM * 1000.0  # chords in metres (= arcs at metre scale)
    xyz = lonlat_to_unit_sphere(df["lon"].to_numpy(float), df["lat"].to_numpy(float)) * metres
    pairs = cKDTree(xyz).query_pairs(r=tolerance_m, output_type="ndarray")
    key = df["date"].astype(object).where(df["date"].notna(),
                                          df["year"].astype(object)).astype(str).to_numpy()
    drop = np.zeros(len(df), bool)
    if len(pairs):
        i, j = pairs.min(axis=1), pairs.max(axis=1)
        same = key[i] == key[j]
        drop[j[same]] = True
    if report is not None:
        report.duplicates += int(drop.sum())
    return df.loc[~drop].copy()


# ----------------------------------------------------------------------------- areas
@lru_cache(maxsize=1)
def _area_geometries():
    import shapely

    countries = natural_earth_countries()
    africa = shapely.union_all(countries.loc[countries["continent"] == "Africa",
                                             "geometry"].to_numpy())
    eu = countries[(countries["continent"] == "Europe")
                   & ~countries["name"].isin(_EUROPE_EXCLUDED)]
    europe = shapely.intersection(shapely.union_all(eu["geometry"].to_numpy()),
                                  shapely.box(*_EUROPE_BOX))
    shapely.prepare(africa)
    shapely.prepare(europe)
    return africa, europe


def assign_area(lat: np.ndarray, lon: np.ndarray, coast_deg: float = 0.5) -> np.ndarray:
    """``"africa"``, ``"europe"`` or ``"other"`` per point (Natural Earth 110m outlines).

    Africa: the African countries. Europe (a LUCAS-like extent): the European countries
    without Russia, Belarus, Ukraine and Moldova, north of 34 N and west of 45 E. A point
    outside both outlines but within ``coast_deg`` degrees of one (coasts, islands the
    coarse outlines miss) takes that area. Everything else is ``"other"`` (part of the
    global corpus only).
    """
    import shapely

    lat = np.asarray(lat, float)
    lon = np.asarray(lon, float)
    out = np.full(lat.shape, "other", dtype=object)
    if lat.size == 0:
        return out
    africa, europe = _area_geometries()
    in_af = shapely.contains_xy(africa, lon, lat)
    in_eu = shapely.contains_xy(europe, lon, lat) & ~in_af
    out[in_af], out[in_eu] = "africa", "europe"
    rest = ~(in_af | in_eu)
    if rest.any() and coast_deg > 0:
        pts = shapely.points(lon[rest], lat[rest])
        near_af = shapely.dwithin(africa, pts, coast_deg)
        near_eu = shapely.dwithin(europe, pts, coast_deg) & ~near_af
        idx = np.flatnonzero(rest)
        out[idx[near_af]] = "africa"
        out[idx[near_eu]] = "europe"
    return out


# ----------------------------------------------------------------------------- pipeline
def check_not_swapped(df: pd.DataFrame, source: str = "user", min_samples: int = 10) -> None:
    """Soil samples lie on land: raise when most fall in the sea as given but most land on
    land with ``lat`` and ``lon`` exchanged (a Paris sample in the Indian Ocean), or when
    under 70 % are on land as given and at least 90 % with the two exchanged (Kenyan samples
    scattered over the Mediterranean and its shores). Fewer than ``min_samples`` samples, or
    longitudes beyond +-90 (which cannot be latitudes), cannot tell and pass."""
    from ..land import is_land

    lat, lon = df["lat"].to_numpy(float), df["lon"].to_numpy(float)
    if lat.size < min_samples or np.abs(lon).max(initial=0.0) > 90.0:
        return
    land, land_swapped = is_land(lat, lon), is_land(lon, lat)
    given, swapped = land.mean(), land_swapped.mean()
    if (given < 0.5 and swapped >= 0.8) or (given < 0.7 and swapped >= 0.9):
        i = int(np.flatnonzero(~land)[0])
        sid = df["sample_id"].iloc[i] if "sample_id" in df.columns else i
        raise InputDataError(
            f"{source}: lat and lon look swapped: {100 * (1 - given):.0f}% of the samples "
            f"fall in the sea as given (sample {sid!r} at lat {lat[i]:g}, lon {lon[i]:g}), "
            f"{100 * swapped:.0f}% on land with the two exchanged. Fix: exchange the "
            "lat and lon columns (or their names) in the file.")


def harmonise(df: pd.DataFrame, source: str = "user", crs: str | None = None,
              som_to_soc: float = VAN_BEMMELEN, max_depth_cm: float = TOPSOIL_MAX_CM,
              max_soc_gkg: float = SOC_MAX_PLAUSIBLE_GKG, dedupe_m: float = 1.0,
              dayfirst: bool | None = None) -> tuple[pd.DataFrame, HarmonisationReport]:
    """Run every harmonisation step on a copy of ``df``; return the corpus and the report.

    Output columns: ``sample_id, area, source, lat, lon, year, doy, date, depth_top_cm,
    depth_bottom_cm, soc_gkg, soc_value_original, soc_unit_original, crs_original,
    input_row`` (the row position in ``df``) and the covariates present in the input
    (float). ``doy`` is missing (NA) where only a year was given. ``dayfirst``: how to read
    slash dates such as ``01/05/2018`` when the file itself does not tell (see
    :func:`_parse_dates`).
    """
    report = HarmonisationReport(n_input=len(df))
    d, report.ignored_columns = check_schema(df, source=source, crs=crs, dayfirst=dayfirst)
    d = convert_soc_units(d, som_to_soc=som_to_soc, report=report)
    d = drop_incomplete_metadata(d, report)
    d = drop_missing_coordinates(d, report)
    d = reproject_to_wgs84(d, report)
    d = drop_implausible(d, max_soc_gkg=max_soc_gkg, report=report)
    check_not_swapped(d, source)
    d = select_topsoil(d, max_depth_cm=max_depth_cm, report=report)
    d = deduplicate(d, tolerance_m=dedupe_m, report=report)
    dup_ids = d["sample_id"][d["sample_id"].duplicated()]
    if len(dup_ids):
        raise InputDataError(f"sample_id: {len(dup_ids)} identifier(s) used by more than one "
                             f"kept sample, e.g. {dup_ids.iloc[:3].tolist()}. Fix: give each "
                             "sample its own sample_id (or drop the column to number rows).")
    report.n_output = len(d)
    covs = [c for c in COVARIATE_NAMES if c in d.columns]
    out = pd.DataFrame({
        "sample_id": d["sample_id"].to_numpy(),
        "area": assign_area(d["lat"].to_numpy(), d["lon"].to_numpy()),
        "source": d["source"].to_numpy(),
        "lat": d["lat"].to_numpy(float), "lon": d["lon"].to_numpy(float),
        "year": d["year"].astype("Int64").array, "doy": d["doy"].astype("Int64").array,
        "date": d["date"].to_numpy(),
        "depth_top_cm": d["depth_top_cm"].to_numpy(float),
        "depth_bottom_cm": d["depth_bottom_cm"].to_numpy(float),
        "soc_gkg": d["soc_gkg"].to_numpy(float),
        "soc_value_original": d["soc_value"].to_numpy(float),
        "soc_unit_original": d["soc_unit"].to_numpy(),
        "crs_original": d["crs"].to_numpy(),
        "input_row": d["input_row"].to_numpy(),
    })
    for c in covs:
        out[c] = d[c].to_numpy(float)
    assert report.n_input - report.dropped == report.n_output
    LOG.info("harmonised %d of %d soil samples (%d dropped)", report.n_output, report.n_input,
             report.dropped)
    return out, report


def harmonise_file(path: str | Path, layer: str | None = None, crs: str | None = None,
                   source: str | None = None, **kwargs) -> tuple[pd.DataFrame, HarmonisationReport]:
    """Read a CSV / GeoPackage of soil samples and harmonise it (see :func:`harmonise`).

    ``source`` defaults to the file name (used when the file has no ``source`` column);
    ``sep``, ``decimal`` and ``encoding`` go to :func:`read_soil_samples`.
    """
    path = Path(path)
    read_kw = {k: kwargs.pop(k) for k in ("sep", "decimal", "encoding") if k in kwargs}
    df = read_soil_samples(path, layer=layer, crs=crs, **read_kw)
    return harmonise(df, source=source or path.stem, crs=crs, **kwargs)

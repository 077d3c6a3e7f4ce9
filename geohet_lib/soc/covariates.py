"""The 63 tabular covariates of the SOC study (SOC paper 4.3, Table 2), with units.

Eight groups, named as a Google Earth Engine export would name them:

- spectral statistics (21): annual 10th / 50th / 90th percentiles of Sentinel-2 surface
  reflectance in six bands and of NDVI;
- phenology (11): start / end / peak / length of season, EVI base / peak / amplitude /
  integral, green-up and senescence rates, number of growing cycles;
- vegetation structure (4): LAI and fAPAR mean and standard deviation;
- topography (6): elevation, slope, aspect, topographic position index, topographic
  diversity, CHILI (continuous heat-insolation load index);
- precipitation climate (7) and temperature climate (8): WorldClim-style bioclimatic
  variables (BIO12-BIO18 and BIO1, BIO2, BIO4, BIO7-BIO11);
- land characteristics (3): land use, parent material, agro-ecological zone, integer-coded
  categories (labels in :data:`CATEGORY_LABELS`);
- other (3): fire frequency, bare-surface frequency, net primary production.

The graph of SOC paper 3.5 uses NDVI (:data:`NDVI_COLUMN`), elevation
(:data:`ELEVATION_COLUMN`) and slope (:data:`SLOPE_COLUMN`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Covariate:
    """One tabular covariate: name, group, units, meaning and plausible range."""

    name: str
    group: str
    units: str
    description: str
    valid_min: float
    valid_max: float
    categorical: bool = False


_BANDS = (("blue", "B2"), ("green", "B3"), ("red", "B4"), ("nir", "B8"), ("swir1", "B11"),
          ("swir2", "B12"))
_PCT = ("p10", "p50", "p90")

_SPECTRAL = [Covariate(f"{b}_{p}", "spectral", "reflectance (0-1)",
                       f"Sentinel-2 L2A {band} ({b}) surface reflectance, annual {p[1:]}th "
                       "percentile", 0.0, 1.0) for b, band in _BANDS for p in _PCT]
_SPECTRAL += [Covariate(f"ndvi_{p}", "spectral", "1",
                        f"NDVI (B8-B4)/(B8+B4), annual {p[1:]}th percentile", -1.0, 1.0)
              for p in _PCT]

_PHENOLOGY = [
    Covariate("sos", "phenology", "day of year", "start of season", 1, 366),
    Covariate("eos", "phenology", "day of year", "end of season", 1, 366),
    Covariate("pos", "phenology", "day of year", "peak of season", 1, 366),
    Covariate("los", "phenology", "days", "length of season", 0, 366),
    Covariate("evi_base", "phenology", "1", "EVI base level (dormant season)", -0.2, 1.0),
    Covariate("evi_peak", "phenology", "1", "EVI at the peak of season", -0.2, 1.0),
    Covariate("evi_amplitude", "phenology", "1", "EVI amplitude (peak minus base)", 0.0, 1.0),
    Covariate("evi_integral", "phenology", "EVI day", "EVI integrated over the season", 0.0,
              366.0),
    Covariate("greenup_rate", "phenology", "EVI d-1", "mean EVI increase from sos to pos",
              0.0, 0.1),
    Covariate("senescence_rate", "phenology", "EVI d-1", "mean EVI decrease from pos to eos",
              0.0, 0.1),
    Covariate("n_cycles", "phenology", "count", "number of growing cycles in the year", 0, 3),
]

_VEGETATION = [
    Covariate("lai_mean", "vegetation_structure", "m2 m-2", "leaf area index, annual mean",
              0.0, 8.0),
    Covariate("lai_std", "vegetation_structure", "m2 m-2",
              "leaf area index, annual standard deviation", 0.0, 4.0),
    Covariate("fapar_mean", "vegetation_structure", "1",
              "fraction of absorbed PAR, annual mean", 0.0, 1.0),
    Covariate("fapar_std", "vegetation_structure", "1",
              "fraction of absorbed PAR, annual standard deviation", 0.0, 0.5),
]

_TOPOGRAPHY = [
    Covariate("elevation", "topography", "m", "elevation above sea level (Copernicus GLO-30)",
              -450.0, 6000.0),
    Covariate("slope", "topography", "degree", "terrain slope", 0.0, 75.0),
    Covariate("aspect", "topography", "degree", "terrain aspect, clockwise from north", 0.0,
              360.0),
    Covariate("tpi", "topography", "m", "topographic position index (elevation minus the "
              "mean of a 300 m neighbourhood)", -200.0, 200.0),
    Covariate("topo_diversity", "topography", "1", "topographic diversity (ALOS)", 0.0, 1.0),
    Covariate("chi", "topography", "index (0-255)",
              "continuous heat-insolation load index (ALOS CHILI)", 0.0, 255.0),
]

_PRECIPITATION = [
    Covariate("precip_annual", "precipitation", "mm", "annual precipitation (BIO12)", 0.0,
              12000.0),
    Covariate("precip_seasonality", "precipitation", "%",
              "precipitation seasonality, coefficient of variation of monthly totals (BIO15)",
              0.0, 350.0),
    Covariate("precip_wettest_month", "precipitation", "mm",
              "precipitation of the wettest month (BIO13)", 0.0, 3000.0),
    Covariate("precip_driest_month", "precipitation", "mm",
              "precipitation of the driest month (BIO14)", 0.0, 1000.0),
    Covariate("precip_wettest_quarter", "precipitation", "mm",
              "precipitation of the wettest quarter (BIO16)", 0.0, 8000.0),
    Covariate("precip_driest_quarter", "precipitation", "mm",
              "precipitation of the driest quarter (BIO17)", 0.0, 3000.0),
    Covariate("precip_warmest_quarter", "precipitation", "mm",
              "precipitation of the warmest quarter (BIO18)", 0.0, 8000.0),
]

_TEMPERATURE = [
    Covariate("temp_mean_annual", "temperature", "degC", "annual mean temperature (BIO1)",
              -30.0, 35.0),
    Covariate("temp_diurnal_range", "temperature", "degC", "mean diurnal range (BIO2)", 0.0,
              30.0),
    Covariate("temp_seasonality", "temperature", "degC x 100",
              "temperature seasonality, standard deviation of monthly means x 100 (BIO4)", 0.0,
              2500.0),
    Covariate("temp_annual_range", "temperature", "degC", "temperature annual range (BIO7)",
              0.0, 80.0),
    Covariate("temp_wettest_quarter", "temperature", "degC",
              "mean temperature of the wettest quarter (BIO8)", -45.0, 40.0),
    Covariate("temp_driest_quarter", "temperature", "degC",
              "mean temperature of the driest quarter (BIO9)", -45.0, 40.0),
    Covariate("temp_warmest_quarter", "temperature", "degC",
              "mean temperature of the warmest quarter (BIO10)", -20.0, 40.0),
    Covariate("temp_coldest_quarter", "temperature", "degC",
              "mean temperature of the coldest quarter (BIO11)", -50.0, 35.0),
]

#: integer codes of the three categorical land characteristics
CATEGORY_LABELS: dict[str, tuple[str, ...]] = {
    "land_use": ("cropland", "grassland", "shrubland", "forest", "bare or sparse", "wetland",
                 "artificial"),
    "parent_material": ("acid igneous", "basic igneous", "carbonate sedimentary",
                        "siliciclastic sedimentary", "metamorphic", "alluvial",
                        "aeolian", "organic"),
    # FAO GAEZ-style: thermal zone (tropical, subtropical, temperate, boreal) x moisture
    # regime (arid, semi-arid, humid), code = 3 * thermal + moisture
    "agro_ecological_zone": tuple(f"{t} {m}" for t in ("tropical", "subtropical", "temperate",
                                                        "boreal")
                                  for m in ("arid", "semi-arid", "humid")),
}

_LAND = [
    Covariate("land_use", "land_characteristics", "category",
              "land use (codes: " + ", ".join(f"{i} {v}" for i, v in
                                              enumerate(CATEGORY_LABELS["land_use"])) + ")",
              0, len(CATEGORY_LABELS["land_use"]) - 1, categorical=True),
    Covariate("parent_material", "land_characteristics", "category",
              "parent material (codes: " + ", ".join(f"{i} {v}" for i, v in enumerate(
                  CATEGORY_LABELS["parent_material"])) + ")",
              0, len(CATEGORY_LABELS["parent_material"]) - 1, categorical=True),
    Covariate("agro_ecological_zone", "land_characteristics", "category",
              "agro-ecological zone, 3 x thermal zone + moisture regime (codes 0-11)",
              0, len(CATEGORY_LABELS["agro_ecological_zone"]) - 1, categorical=True),
]

_OTHER = [
    Covariate("fire_frequency", "other", "1", "fraction of years with a burn (MODIS burned "
              "area)", 0.0, 1.0),
    Covariate("bare_surface_frequency", "other", "1",
              "fraction of clear observations with bare soil", 0.0, 1.0),
    Covariate("npp", "other", "g C m-2 yr-1", "net primary production (MODIS MOD17)", 0.0,
              3000.0),
]

#: Table 2's group names, in the table's order
GROUP_NAMES: tuple[str, ...] = ("spectral", "phenology", "vegetation_structure", "topography",
                                "precipitation", "temperature", "land_characteristics",
                                "other")
#: the number of features per group in Table 2
GROUP_SIZES: dict[str, int] = {"spectral": 21, "phenology": 11, "vegetation_structure": 4,
                               "topography": 6, "precipitation": 7, "temperature": 8,
                               "land_characteristics": 3, "other": 3}

_ALL = (_SPECTRAL + _PHENOLOGY + _VEGETATION + _TOPOGRAPHY + _PRECIPITATION + _TEMPERATURE
        + _LAND + _OTHER)

#: every covariate by name
CATALOGUE: dict[str, Covariate] = {c.name: c for c in _ALL}
#: covariate names per group (Table 2)
COVARIATE_GROUPS: dict[str, tuple[str, ...]] = {
    g: tuple(c.name for c in _ALL if c.group == g) for g in GROUP_NAMES}
#: the 63 covariate names, in group order
COVARIATE_NAMES: tuple[str, ...] = tuple(c.name for c in _ALL)
#: units of each covariate
UNITS: dict[str, str] = {c.name: c.units for c in _ALL}
#: the integer-coded categorical covariates (land characteristics)
CATEGORICAL_COLUMNS: tuple[str, ...] = tuple(c.name for c in _ALL if c.categorical)
#: the continuous covariates (all but the categorical ones)
CONTINUOUS_COLUMNS: tuple[str, ...] = tuple(c.name for c in _ALL if not c.categorical)

NDVI_COLUMN = "ndvi_p50"  # vegetation relation of the graph (SOC paper 3.5, Table 1)
ELEVATION_COLUMN = "elevation"  # elevation relation of the graph
SLOPE_COLUMN = "slope"  # |grad z| of the elevation edge weight

assert len(COVARIATE_NAMES) == 63 == len(set(COVARIATE_NAMES)), "Table 2 has 63 features"
assert {g: len(v) for g, v in COVARIATE_GROUPS.items()} == GROUP_SIZES, "Table 2 group sizes"
assert {NDVI_COLUMN, ELEVATION_COLUMN, SLOPE_COLUMN} <= set(COVARIATE_NAMES)


def covariate_table() -> "pd.DataFrame":  # noqa: F821
    """The catalogue as a table (name, group, units, description, range, categorical)."""
    import pandas as pd

    return pd.DataFrame([{"name": c.name, "group": c.group, "units": c.units,
                          "description": c.description, "valid_min": c.valid_min,
                          "valid_max": c.valid_max, "categorical": c.categorical}
                         for c in _ALL])

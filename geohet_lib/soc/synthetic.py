"""A synthetic harmonised SOC corpus with ground truth (SOC paper 4.1-4.4, Tables 2 and 3).

Sampling design (paper 4.1, Figure 5): three areas, as in the paper's corpus.

- ``africa``: AfSIS-like campaigns, a few dozen sentinel sites (10 x 10 km) of 16 tight
  clusters each, half of the sites in Southeast Africa, plus iSDAsoil-like scattered points;
- ``europe``: a LUCAS-like regular grid in the LAEA Europe projection (EPSG:3035) over the
  EU-like extent, subsampled to the profile's count and slightly jittered;
- ``other``: sparse points elsewhere on land (SOCPDB-like random points, SoDaH-like clusters
  in North America, a Chilean database, mangrove coasts, a field survey).

Areas follow :func:`geohet_lib.soc.harmonise.assign_area`, the rule real samples get too.
Sampling years lie in ``SOCConfig.years`` (LUCAS in 2015 / 2018, AfSIS per campaign), with a
day of year.

Covariates (the 63 of Table 2): a monthly climate (temperature and precipitation by
latitude, continentality, elevation and smooth random fields) from which the bioclimatic
variables are computed exactly; vegetation (NDVI percentiles ordered p10 < p50 < p90,
reflectances mixed from soil and vegetation spectra, phenology, LAI / fAPAR) from warmth and
water; topography from a large-scale mountain field and local relief; land use, parent
material and agro-ecological zone as integer codes. Smooth fields are random Fourier
features on the unit sphere (:func:`band_field`), from continental (~2000 km) down to field
(~1 km) scales, so samples of one site differ. Values go missing (NaN) at random (1.5 % of
each covariate) and in blocks (spectral and vegetation-structure groups under persistent
cloud, phenology where the season fit fails).

SOC (g/kg), log-normal-like (:class:`SOCModel`)::

    log SOC = mu0 + b_T(s) zT + b_P(s) zP + b_N(s) zN + b_E(s) zE      (varying coefficients)
              + land-use, fire and cold-wet (peat) effects + cropland trend over years
              + w_clay clay(s) + w_man management(s)                    (hidden soil fields)
              + w_img image(s)                                           (only in the patches)
              + e_spatial(s)                                             (autocorrelated noise)
              + N(0, sd(s)^2)                                            (heteroscedastic)

clipped to [1, 61.4] g/kg (the paper's range, Table 3). ``b_*(s)`` vary over space through
two continental **hidden regime fields**; clay content and land management are hidden soil
fields; ``image(s)`` is a field-scale signal that only the image patches carry
(:mod:`geohet_lib.soc.patches`); ``sd(s)`` depends on a regime field and on aridity. None of
the hidden fields is a covariate. The ground truth table keeps them all per sample, with the
true log-mean, the noise sd and the noise draws.

Everything is a deterministic function of ``seed`` (each component draws from its own
``numpy`` generator seeded by ``(seed, component)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..fields import smooth_sphere_field
from ..geo import EARTH_RADIUS_KM, lonlat_to_unit_sphere
from ..land import in_greenland, is_land
from .covariates import CATALOGUE, CATEGORY_LABELS, COVARIATE_GROUPS, COVARIATE_NAMES

SOC_MIN_GKG = 1.0  # Table 3 range
SOC_MAX_GKG = 61.4

AREAS = ("africa", "europe", "other")

#: hidden fields of the generator (ground truth only, never covariates)
HIDDEN_FIELDS = ("hidden_regime_1", "hidden_regime_2", "hidden_clay", "hidden_management",
                 "image_signal")
#: the spatially varying coefficients of the standardised drivers (ground truth)
TRUE_COEFFICIENTS = ("coef_temperature", "coef_precipitation", "coef_ndvi", "coef_elevation")
#: covariates kept complete (before missing values) in the ground truth, for the patches
PATCH_TRUTH_COLUMNS = ("ndvi_p50", "blue_p50", "green_p50", "red_p50", "nir_p50", "swir1_p50",
                       "swir2_p50", "elevation", "slope", "aspect")

# source databases of SOC paper 4.1, per area, with the topsoil interval each reports
SOURCE_DEPTH_CM = {"AfSIS": (0.0, 20.0), "iSDAsoil": (0.0, 20.0), "LUCAS": (0.0, 20.0),
                   "SOCPDB": (0.0, 30.0), "SoDaH": (0.0, 30.0), "Chilean SOCDB": (0.0, 30.0),
                   "MangrovesDB": (0.0, 30.0), "field survey": (0.0, 30.0)}
_OTHER_SOURCES = (("SOCPDB", 0.50), ("SoDaH", 0.15), ("Chilean SOCDB", 0.12),
                  ("MangrovesDB", 0.08), ("field survey", 0.15))


@dataclass(frozen=True)
class SOCModel:
    """Coefficients of the log-SOC model (see the module docstring).

    Drivers are standardised with fixed reference values (not sample statistics), so the
    function does not depend on which samples are drawn:
    ``zT = (BIO1 - 15) / 10``, ``zP = ln(BIO12 / 800) / 0.7``, ``zN = (NDVI p50 - 0.5) / 0.2``,
    ``zE = (elevation - 500) / 600``.
    """

    mu0: float = 2.44
    b_temperature: float = -0.15  # colder soils keep more carbon
    b_precipitation: float = 0.16
    b_ndvi: float = 0.20
    b_elevation: float = 0.08
    vary_temperature: float = 0.6  # relative variation of each coefficient with the regimes
    vary_precipitation: float = 0.7
    vary_ndvi: float = 0.5
    vary_elevation: float = 1.0
    land_use_effects: tuple[float, ...] = (-0.18, 0.05, -0.10, 0.20, -0.35, 0.60, -0.20)
    fire: float = -0.25
    peat: float = 0.35  # cold and wet
    crop_trend_per_year: float = -0.01  # cropland carbon loss, per year from 2018
    w_clay: float = 0.18
    w_management: float = 0.10
    w_image: float = 0.22
    spatial_noise_sd: float = 0.12
    noise_sd_min: float = 0.12
    noise_sd_range: float = 0.26


# ----------------------------------------------------------------------------- random fields
def band_field(xyz: np.ndarray, rng: np.random.Generator, wavelength_km: tuple[float, float],
               n_waves: int = 64) -> np.ndarray:
    """A random field on the sphere with unit variance and wavelengths in a band (km).

    Sum of plane waves with log-uniform wavelengths, amplitudes growing with wavelength
    (more variance at larger scales); continuous everywhere, antimeridian included.
    """
    lo, hi = wavelength_km
    if not 0 < lo <= hi:
        raise ValueError(f"wavelength band must satisfy 0 < lo <= hi, got {wavelength_km}")
    dirs = rng.normal(size=(n_waves, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    lam = np.exp(rng.uniform(np.log(lo), np.log(hi), size=n_waves)) / EARTH_RADIUS_KM
    k = 2 * np.pi / lam
    phase = rng.uniform(0, 2 * np.pi, size=n_waves)
    amp = rng.normal(size=n_waves) * np.sqrt(lam / lam.max())
    f = np.cos((xyz @ dirs.T) * k + phase) @ amp
    return f / np.sqrt(0.5 * np.sum(amp**2))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), *key])


# ----------------------------------------------------------------------------- locations
def _accept(lat: np.ndarray, lon: np.ndarray, area: str) -> np.ndarray:
    from .harmonise import assign_area

    ok = (lat > -56.0) & (lat < 75.0)
    ok[ok] = is_land(lat[ok], lon[ok])
    ok[ok] = assign_area(lat[ok], lon[ok]) == area
    if area == "other":
        ok[ok] = ~in_greenland(lat[ok], lon[ok])
    return ok


def _uniform_points(rng: np.random.Generator, n: int, area: str,
                    bbox: tuple[float, float, float, float] = (-56, 75, -180, 180),
                    extra=None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points uniform by area in ``bbox`` (lat0, lat1, lon0, lon1), on land in ``area``."""
    lat0, lat1, lon0, lon1 = bbox
    lats, lons, got = [], [], 0
    for _ in range(200):
        if got >= n:
            break
        m = max(256, 6 * (n - got))
        s = rng.uniform(np.sin(np.deg2rad(lat0)), np.sin(np.deg2rad(lat1)), m)
        la = np.rad2deg(np.arcsin(s))
        lo = rng.uniform(lon0, lon1, m)
        ok = _accept(la, lo, area)
        if extra is not None:
            ok[ok] = extra(la[ok], lo[ok])
        lats.append(la[ok])
        lons.append(lo[ok])
        got += int(ok.sum())
    if got < n:
        raise RuntimeError(f"could not place {n} points on land in {area} within {bbox}")
    return np.concatenate(lats)[:n], np.concatenate(lons)[:n]


def _offset_km(lat: np.ndarray, lon: np.ndarray, dx_km: np.ndarray,
               dy_km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    la = lat + dy_km / 111.195
    lo = lon + dx_km / (111.195 * np.cos(np.deg2rad(np.clip(la, -89, 89))))
    return la, ((lo + 180.0) % 360.0) - 180.0


def _clustered_points(rng: np.random.Generator, centres_lat: np.ndarray,
                      centres_lon: np.ndarray, site_of: np.ndarray, area: str,
                      site_half_km: float, n_clusters: int, cluster_sd_km: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Points in ``n_clusters`` tight clusters per site (AfSIS sentinel-site design).

    Each site is a square of side ``2 * site_half_km`` around its centre; cluster centres
    are uniform in it and points are Gaussian around their cluster centre. Points off land
    or outside ``area`` are redrawn.
    """
    n_sites = centres_lat.size
    cdx = rng.uniform(-site_half_km, site_half_km, (n_sites, n_clusters))
    cdy = rng.uniform(-site_half_km, site_half_km, (n_sites, n_clusters))
    cluster = rng.integers(0, n_clusters, site_of.size)
    lat = np.empty(site_of.size)
    lon = np.empty(site_of.size)
    todo = np.arange(site_of.size)
    for attempt in range(100):
        if todo.size == 0:
            break
        s, c = site_of[todo], cluster[todo]
        if attempt > 20:  # a cluster at sea: move the point to another cluster of its site
            c = rng.integers(0, n_clusters, todo.size)
        dx = cdx[s, c] + rng.normal(0, cluster_sd_km, todo.size)
        dy = cdy[s, c] + rng.normal(0, cluster_sd_km, todo.size)
        la, lo = _offset_km(centres_lat[s], centres_lon[s], dx, dy)
        ok = _accept(la, lo, area)
        lat[todo[ok]], lon[todo[ok]] = la[ok], lo[ok]
        todo = todo[~ok]
    if todo.size:  # pragma: no cover - site centres are on land, so this does not happen
        lat[todo], lon[todo] = centres_lat[site_of[todo]], centres_lon[site_of[todo]]
    return lat, lon


def _split_counts(n: int, weights: list[float]) -> np.ndarray:
    """Largest-remainder allocation of ``n`` over ``weights``."""
    w = np.asarray(weights, float) / np.sum(weights)
    raw = n * w
    out = np.floor(raw).astype(int)
    out[np.argsort(-(raw - out), kind="stable")[: n - out.sum()]] += 1
    return out


def _europe_grid(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """LUCAS-like: a regular grid in LAEA Europe, subsampled to ``n`` points and jittered."""
    from pyproj import Transformer

    if n == 0:
        return np.empty(0), np.empty(0)
    to_ll = Transformer.from_crs("EPSG:3035", "EPSG:4326", always_xy=True)
    x0, x1, y0, y1 = 2.55e6, 7.45e6, 1.35e6, 5.45e6

    def grid(step: float, off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xs = np.arange(x0 + off[0], x1, step)
        ys = np.arange(y0 + off[1], y1, step)
        gx, gy = np.meshgrid(xs, ys)
        lo, la = to_ll.transform(gx.ravel(), gy.ravel())
        ok = _accept(la, lo, "europe") & (lo <= 32.0)
        return la[ok], lo[ok]

    coarse = 25e3
    n_coarse = grid(coarse, np.zeros(2))[0].size
    step = float(np.sqrt(n_coarse * coarse**2 / (1.25 * n)))
    for _ in range(30):
        la, lo = grid(step, rng.uniform(0, step, 2))
        if la.size >= n:
            break
        step *= 0.9
    else:  # pragma: no cover
        raise RuntimeError(f"could not place {n} LUCAS-like grid points in Europe")
    pick = np.sort(rng.choice(la.size, n, replace=False))
    la, lo = la[pick], lo[pick]
    jitter = min(0.05 * step / 1e3, 0.5)  # km: GPS and relocation differences
    jla, jlo = _offset_km(la, lo, rng.normal(0, jitter, n), rng.normal(0, jitter, n))
    ok = _accept(jla, jlo, "europe")
    return np.where(ok, jla, la), np.where(ok, jlo, lo)


def sample_locations(n_africa: int, n_europe: int, n_other: int, years: tuple[int, int],
                     seed: int = 0) -> pd.DataFrame:
    """Sample locations, sources, sampling dates and depths of the three areas.

    Returns columns ``sample_id, area, source, site, lat, lon, year, doy, depth_top_cm,
    depth_bottom_cm`` (``site``: campaign site or cluster id, -1 for scattered points).
    """
    for name, v in (("n_africa", n_africa), ("n_europe", n_europe), ("n_other", n_other)):
        if v < 0:
            raise ValueError(f"{name} must be >= 0, got {v} (profile counts: 'global' must be "
                             "at least 'africa' + 'europe')")
    y0, y1 = int(years[0]), int(years[1])
    if y1 < y0:
        raise ValueError(f"years must be (first, last) with first <= last, got {years}")
    parts = []

    # --- Africa: AfSIS sentinel sites (80 %) + iSDAsoil-like scattered points (20 %)
    rng = _rng(seed, 101)
    n_afsis = int(round(0.8 * n_africa))
    n_isda = n_africa - n_afsis
    if n_afsis:
        n_sites = int(np.clip(round(np.sqrt(n_afsis) / 2.4), 4, 60))
        n_se = n_sites // 2  # Southeast Africa holds a large share (paper Figure 5b)
        la_se, lo_se = _uniform_points(rng, n_se, "africa", (-20.0, 5.0, 28.0, 42.0))
        la_ss, lo_ss = _uniform_points(rng, n_sites - n_se, "africa", (-35.0, 15.0, -18.0, 52.0))
        c_la, c_lo = np.r_[la_se, la_ss], np.r_[lo_se, lo_ss]
        site_of = np.sort(rng.integers(0, n_sites, n_afsis))
        la, lo = _clustered_points(rng, c_la, c_lo, site_of, "africa", site_half_km=5.0,
                                   n_clusters=16, cluster_sd_km=0.3)
        site_year = rng.integers(max(y0, min(2013, y1)), min(y1, max(2018, y0)) + 1, n_sites)
        site_doy = rng.integers(20, 330, n_sites)
        doy = np.clip(site_doy[site_of] + rng.integers(-12, 13, n_afsis), 1, 365)
        parts.append(pd.DataFrame({"area": "africa", "source": "AfSIS", "site": site_of,
                                   "lat": la, "lon": lo, "year": site_year[site_of],
                                   "doy": doy}))
    if n_isda:
        la, lo = _uniform_points(rng, n_isda, "africa", (-35.0, 25.0, -18.0, 52.0))
        parts.append(pd.DataFrame({"area": "africa", "source": "iSDAsoil", "site": -1,
                                   "lat": la, "lon": lo,
                                   "year": rng.integers(y0, y1 + 1, n_isda),
                                   "doy": rng.integers(1, 366, n_isda)}))

    # --- Europe: LUCAS grid, surveys of 2015 and 2018 (March to October)
    rng = _rng(seed, 202)
    la, lo = _europe_grid(rng, n_europe)
    survey = np.where(rng.random(n_europe) < 0.7, 2018, 2015)
    parts.append(pd.DataFrame({"area": "europe", "source": "LUCAS", "site": -1, "lat": la,
                               "lon": lo, "year": np.clip(survey, y0, y1),
                               "doy": rng.integers(75, 300, n_europe)}))

    # --- elsewhere: sparse points from several databases
    rng = _rng(seed, 303)
    counts = _split_counts(n_other, [w for _, w in _OTHER_SOURCES])
    site_base = 10_000
    for (src, _), m in zip(_OTHER_SOURCES, counts):
        if m == 0:
            continue
        site = np.full(m, -1)
        if src == "SOCPDB":
            la, lo = _uniform_points(rng, m, "other")
        elif src == "Chilean SOCDB":
            la, lo = _uniform_points(rng, m, "other", (-54.0, -18.0, -75.5, -68.0))
        elif src == "MangrovesDB":
            def coastal(a: np.ndarray, o: np.ndarray) -> np.ndarray:
                d = 0.15
                sea = ~(is_land(a + d, o) & is_land(a - d, o) & is_land(a, o + d)
                        & is_land(a, o - d))
                return sea
            la, lo = _uniform_points(rng, m, "other", (-25.0, 25.0, -180.0, 180.0),
                                     extra=coastal)
        else:  # clustered campaigns: SoDaH in North America, a field survey anywhere
            bbox = (25.0, 55.0, -125.0, -65.0) if src == "SoDaH" else (-40.0, 60.0, -180, 180)
            n_sites = max(1, int(round(np.sqrt(m) / 2)))
            c_la, c_lo = _uniform_points(rng, n_sites, "other", bbox)
            site = np.sort(rng.integers(0, n_sites, m))
            la, lo = _clustered_points(rng, c_la, c_lo, site, "other", site_half_km=15.0,
                                       n_clusters=6, cluster_sd_km=1.5)
            site = site + site_base
            site_base += 1000
        parts.append(pd.DataFrame({"area": "other", "source": src, "site": site, "lat": la,
                                   "lon": lo, "year": rng.integers(y0, y1 + 1, m),
                                   "doy": rng.integers(1, 366, m)}))

    df = pd.concat(parts, ignore_index=True)
    df.insert(0, "sample_id", np.arange(len(df), dtype=np.int64))
    df["site"] = df["site"].astype(np.int64)
    df["year"] = df["year"].astype(np.int64)
    df["doy"] = df["doy"].astype(np.int64)
    depth = np.array([SOURCE_DEPTH_CM[s] for s in df["source"]]).reshape(-1, 2)
    df["depth_top_cm"] = depth[:, 0]
    df["depth_bottom_cm"] = depth[:, 1]
    return df


# ----------------------------------------------------------------------------- covariates
def _rolling_quarters(m: np.ndarray, how: str) -> np.ndarray:
    """Three-month windows (wrapping the year) of monthly values (n x 12)."""
    w = m + np.roll(m, -1, axis=1) + np.roll(m, -2, axis=1)
    return w / 3.0 if how == "mean" else w


def covariate_fields(loc: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The 63 covariates (complete, no missing values) and the latent fields behind them.

    ``loc`` needs ``lat, lon, source, year``. Returns ``(covariates, latent)`` with one row
    per sample; ``latent`` holds aridity, continentality, the NDVI amplitude and the hidden
    fields of :data:`HIDDEN_FIELDS` used by the SOC model.
    """
    lat = loc["lat"].to_numpy(float)
    lon = loc["lon"].to_numpy(float)
    n = lat.size
    src = loc["source"].to_numpy()
    mangrove = src == "MangrovesDB"
    xyz = lonlat_to_unit_sphere(lon, lat)
    alat = np.abs(lat)
    slat = np.sin(np.deg2rad(alat))
    r = _rng(seed, 11)  # large-scale climate and terrain
    cont = _sigmoid(1.5 * smooth_sphere_field(xyz, r, max_freq=2.0))
    mount = np.clip(0.15 + 0.55 * smooth_sphere_field(xyz, r, max_freq=5.0), 0.0, None) ** 1.8
    t_field = smooth_sphere_field(xyz, r, max_freq=3.0)
    a_field = smooth_sphere_field(xyz, r, max_freq=3.0)
    p_field = smooth_sphere_field(xyz, r, max_freq=4.0)
    med_field = smooth_sphere_field(xyz, r, max_freq=3.0)
    s_field = smooth_sphere_field(xyz, r, max_freq=3.0)
    rl = _rng(seed, 12)  # local (field to landscape scale)
    relief = band_field(xyz, rl, (2.0, 40.0))
    rough = band_field(xyz, rl, (1.0, 20.0))
    asp_a, asp_b = band_field(xyz, rl, (0.5, 5.0)), band_field(xyz, rl, (0.5, 5.0))
    tpi_f = band_field(xyz, rl, (0.3, 3.0))
    veg_local = band_field(xyz, rl, (1.0, 30.0))
    soil_local = band_field(xyz, rl, (2.0, 50.0))
    lu_fields = np.stack([band_field(xyz, rl, (3.0, 80.0)) for _ in range(7)], axis=1)
    rn = _rng(seed, 13)  # per-sample measurement noise

    def noise(*shape: int) -> np.ndarray:
        return rn.normal(size=(n, *shape))

    # topography
    elev = 1800.0 * mount + 60.0 * np.exp(0.6 * relief)
    elev = np.where(mangrove, 0.05 * elev, elev)
    slope = np.clip(np.exp(np.log(1.0 + 10.0 * mount) + 0.6 * rough + 0.15 * noise()), 0.05, 60)
    slope = np.where(mangrove, 0.1 * slope, slope)
    aspect = np.mod(np.rad2deg(np.arctan2(asp_a, asp_b)), 360.0)
    tpi = np.clip(3.0 * slope**0.8 * tpi_f + noise(), -200, 200)
    topo_div = _sigmoid((np.log(slope) - 1.2) / 0.8 + 0.3 * relief)
    north = np.cos(np.deg2rad(aspect)) * np.sign(lat + 1e-9)
    chi = np.clip(170.0 - 150.0 * np.sin(np.deg2rad(slope)) * north + 8.0 * noise(), 0, 255)

    # monthly climate -> bioclimatic variables
    # zonal means at sea level ~27 degC (equator), 23.5 (30 deg), 12 (49 deg), 3 (60 deg)
    t_ann = (27.0 - 40.0 * slat**3.5 - 5.0 * (cont - 0.5) * slat - 6.5 * elev / 1000.0
             + 0.8 * t_field)
    amp_t = 1.0 + 17.0 * slat**1.5 * (0.4 + cont)
    arid = np.clip(0.30 + 0.45 * np.exp(-(((alat - 24.0) / 9.0) ** 2))
                   - 0.20 * np.exp(-((lat / 8.0) ** 2)) + 0.18 * (cont - 0.5)
                   + 0.15 * a_field, 0.02, 0.98)
    arid = np.where(mangrove, np.minimum(arid, 0.45), arid)
    p_ann = (60.0 + 2800.0 * (1.0 - arid) ** 2) * np.exp(0.15 * p_field) * (
        1.0 + 0.25 * np.clip(elev / 1000.0, 0, 3))
    seas = np.clip(0.25 + 1.0 * np.exp(-(((alat - 12.0) / 14.0) ** 2)) + 0.2 * s_field
                   + 0.3 * arid, 0.05, 1.6)
    pk_t = np.where(lat >= 0, 6.5, 0.5)  # month (0-based, mid-month) of the temperature peak
    med = _sigmoid(3.0 * med_field) * np.exp(-(((alat - 37.0) / 8.0) ** 2))  # winter rain
    pk_p = pk_t + 6.0 * (med > 0.5)
    months = np.arange(12) + 0.5
    t_m = t_ann[:, None] + amp_t[:, None] * np.cos(2 * np.pi * (months - pk_t[:, None]) / 12)
    p_w = np.clip(1.0 + seas[:, None] * np.cos(2 * np.pi * (months - pk_p[:, None]) / 12),
                  0.0, None) + 0.02
    p_m = p_ann[:, None] * p_w / p_w.sum(axis=1, keepdims=True)
    dtr = np.clip(6.0 + 10.0 * arid + noise(), 2.0, 25.0)
    tq, pq = _rolling_quarters(t_m, "mean"), _rolling_quarters(p_m, "sum")
    rows = np.arange(n)
    bio = {
        "temp_mean_annual": t_m.mean(axis=1),
        "temp_diurnal_range": dtr,
        "temp_seasonality": 100.0 * t_m.std(axis=1),
        "temp_annual_range": t_m.max(axis=1) - t_m.min(axis=1) + dtr,
        "temp_wettest_quarter": tq[rows, pq.argmax(axis=1)],
        "temp_driest_quarter": tq[rows, pq.argmin(axis=1)],
        "temp_warmest_quarter": tq.max(axis=1),
        "temp_coldest_quarter": tq.min(axis=1),
        "precip_annual": p_m.sum(axis=1),
        "precip_seasonality": 100.0 * p_m.std(axis=1) / p_m.mean(axis=1),
        "precip_wettest_month": p_m.max(axis=1),
        "precip_driest_month": p_m.min(axis=1),
        "precip_wettest_quarter": pq.max(axis=1),
        "precip_driest_quarter": pq.min(axis=1),
        "precip_warmest_quarter": pq[rows, tq.argmax(axis=1)],
    }

    # land use (categorical): climate-niche scores + landscape fields + Gumbel noise
    warm = _sigmoid((bio["temp_warmest_quarter"] - 6.0) / 3.0)
    water = 1.0 - np.exp(-p_ann / 700.0)
    veg = warm * water
    s10 = slope / 10.0
    scores = np.stack([
        1.0 - 4.0 * (arid - 0.40) ** 2 - 0.8 * s10 - 2.0 * (veg < 0.15),  # cropland
        0.6 - 3.0 * (arid - 0.50) ** 2,                                   # grassland
        -0.3 + 2.5 * (arid - 0.45),                                       # shrubland
        -0.6 + 1.6 * veg + 0.4 * s10 - 1.0 * arid,                        # forest
        -2.5 + 7.0 * (arid - 0.70),                                       # bare or sparse
        -2.6 + 6.0 * mangrove,                                            # wetland
        -2.8 * np.ones(n),                                                # artificial
    ], axis=1) + 0.6 * lu_fields + 0.5 * rn.gumbel(size=(n, 7))
    land_use = scores.argmax(axis=1)
    crop = land_use == 0
    lu_ndvi = np.array([-0.05, -0.03, -0.08, 0.10, -0.15, 0.05, -0.15])[land_use]

    # spectral statistics
    ndvi50 = np.clip(0.08 + 0.72 * veg + lu_ndvi + 0.05 * veg_local + 0.02 * noise(), -0.05,
                     0.92)
    amp_ndvi = np.clip(0.04 + 0.35 * veg * (0.4 * np.tanh(amp_t / 10.0) + 0.4 * np.minimum(
        seas, 1.0)) + 0.12 * crop + 0.02 * noise(), 0.03, 0.6)
    ndvi10 = np.maximum(ndvi50 - amp_ndvi * (0.55 + 0.05 * noise()).clip(0.3), -0.2)
    ndvi90 = np.minimum(ndvi50 + amp_ndvi * (0.45 + 0.05 * noise()).clip(0.2), 0.95)
    pm_fields = np.stack([smooth_sphere_field(xyz, _rng(seed, 14, k), max_freq=8.0)
                         for k in range(8)], axis=1)
    parent = pm_fields.argmax(axis=1)
    parent = np.where((slope < 1.0) & (soil_local > 1.0), 5, parent)  # alluvial plains
    brightness = np.clip(0.16 + 0.16 * arid + 0.03 * soil_local
                         + np.array([0.03, -0.04, 0.06, 0.02, 0.0, -0.02, 0.07, -0.08])[parent],
                         0.05, 0.45)
    fv = np.clip((ndvi50 - 0.05) / 0.8, 0.0, 1.0)[:, None]
    soil_spec = brightness[:, None] * np.array([0.55, 0.75, 1.0, 1.15, 1.5, 1.3])
    veg_spec = np.array([0.03, 0.07, 0.04, 0.40, 0.20, 0.09])
    b50 = np.clip((fv * veg_spec + (1 - fv) * soil_spec) * np.exp(0.03 * noise(6)), 0.005, 0.9)
    spread = amp_ndvi[:, None] * rn.uniform(0.7, 1.3, (n, 6))
    b10 = b50 * (1.0 - np.clip(0.06 + 0.5 * spread, 0, 0.8))
    b90 = np.clip(b50 * (1.0 + 0.08 + 0.6 * spread), None, 0.99)
    cov: dict[str, np.ndarray] = {}
    for j, b in enumerate(("blue", "green", "red", "nir", "swir1", "swir2")):
        cov[f"{b}_p10"], cov[f"{b}_p50"], cov[f"{b}_p90"] = b10[:, j], b50[:, j], b90[:, j]
    cov["ndvi_p10"], cov["ndvi_p50"], cov["ndvi_p90"] = ndvi10, ndvi50, ndvi90

    # phenology from the monthly climate: growing months are warm (> 5 degC) and not dry
    grow = (t_m > 5.0) & (p_m > 2.0 * np.maximum(t_m, 0.0))  # Gaussen: dry if P < 2T
    los = np.clip(30.4 * grow.sum(axis=1) + 10.0 * noise(), 30.0, 365.0)
    pk_doy = np.where(alat > 23.0, 30.4 * pk_t + 20.0, 30.4 * np.mod(pk_p, 12.0) + 35.0)
    pos = np.mod(pk_doy + 8.0 * noise(), 365.0)
    evi_base = np.clip(0.85 * ndvi10 - 0.02, -0.1, 0.9)
    evi_peak = np.clip(0.85 * ndvi90 - 0.02, evi_base + 0.005, 0.95)
    evi_amp = evi_peak - evi_base
    u = rn.random(n)
    n_cycles = np.where(evi_amp < 0.04, 0, 1)
    n_cycles = np.where((n_cycles == 1) & ((crop & (t_ann > 15.0) & (u < 0.35))
                                           | ((alat < 8.0) & (u < 0.5))), 2, n_cycles)
    cov.update({
        "sos": np.mod(pos - 0.45 * los, 365.0) + 1.0,
        "eos": np.mod(pos + 0.55 * los, 365.0) + 1.0,
        "pos": pos + 1.0,
        "los": los,
        "evi_base": evi_base,
        "evi_peak": evi_peak,
        "evi_amplitude": evi_amp,
        "evi_integral": np.clip(los * (evi_base + 0.6 * evi_amp), 0.0, 366.0),
        "greenup_rate": np.clip(evi_amp / (0.45 * los), 0.0, 0.1),
        "senescence_rate": np.clip(evi_amp / (0.55 * los), 0.0, 0.1),
        "n_cycles": n_cycles.astype(float),
    })

    # vegetation structure
    fapar = np.clip((1.05 * np.maximum(ndvi50, 0.0) - 0.08) * np.exp(0.03 * noise()), 0.01,
                    0.95)
    fapar_sd = np.clip(0.5 * amp_ndvi * np.exp(0.1 * noise()), 0.005, 0.45)
    cov.update({
        "lai_mean": np.clip(-2.0 * np.log(1.0 - fapar), 0.0, 8.0),
        "lai_std": np.clip(1.6 * fapar_sd / (1.0 - fapar), 0.0, 4.0),
        "fapar_mean": fapar,
        "fapar_std": fapar_sd,
    })
    cov.update({"elevation": elev, "slope": slope, "aspect": aspect, "tpi": tpi,
                "topo_diversity": topo_div, "chi": chi})
    cov.update(bio)

    # land characteristics
    wet_cold = (t_ann < 3.0) & (p_ann > 600.0)
    parent = np.where((land_use == 5) & (wet_cold | mangrove), 7, parent)  # organic
    thermal = np.select([bio["temp_coldest_quarter"] > 18.0, bio["temp_coldest_quarter"] > 5.0,
                         bio["temp_warmest_quarter"] > 10.0], [0, 1, 2], 3)
    moisture = np.select([p_ann < 300.0, p_ann < 800.0], [0, 1], 2)
    cov.update({"land_use": land_use.astype(float), "parent_material": parent.astype(float),
                "agro_ecological_zone": (3 * thermal + moisture).astype(float)})

    # other
    savanna = np.exp(-(((arid - 0.5) / 0.15) ** 2)) * _sigmoid((t_ann - 16.0) / 3.0)
    cov.update({
        "fire_frequency": np.clip(0.02 + 0.6 * savanna * (land_use != 0)
                                  + 0.03 * noise(), 0.0, 1.0),
        "bare_surface_frequency": np.clip(0.9 * _sigmoid((arid - 0.65) / 0.07)
                                          + 0.25 * crop * (1 - veg) + 0.03 * noise(), 0.0, 1.0),
        "npp": np.clip(2200.0 * fapar * _sigmoid((t_ann - 2.0) / 6.0) * (1.0 - 0.5 * arid)
                       + 40.0 * noise(), 5.0, 2800.0),
    })

    covs = pd.DataFrame({name: np.asarray(cov[name], np.float64) for name in COVARIATE_NAMES})
    for name in COVARIATE_NAMES:  # keep every value in its documented range
        c = CATALOGUE[name]
        covs[name] = covs[name].clip(c.valid_min, c.valid_max)

    # hidden fields (not covariates)
    rh = _rng(seed, 21)
    regime1 = smooth_sphere_field(xyz, rh, max_freq=2.5)
    regime2 = smooth_sphere_field(xyz, rh, max_freq=2.5)
    pm_clay = np.array([-0.4, 0.6, 0.3, 0.0, -0.1, 0.4, -0.7, 0.0])[parent]
    clay = (0.6 * smooth_sphere_field(xyz, rh, max_freq=6.0)
            + 0.5 * band_field(xyz, rh, (3.0, 60.0)) + pm_clay) / 0.95
    management = 0.6 * band_field(xyz, rh, (1.0, 20.0)) + 0.8 * rh.normal(size=n)
    image = 0.6 * band_field(xyz, rh, (0.5, 8.0)) + 0.8 * rh.normal(size=n)
    spatial = band_field(xyz, rh, (30.0, 600.0))
    latent = pd.DataFrame({
        "aridity": arid, "continentality": cont, "ndvi_amplitude": amp_ndvi,
        "hidden_regime_1": regime1, "hidden_regime_2": regime2, "hidden_clay": clay,
        "hidden_management": management, "image_signal": image, "spatial_field": spatial,
    })
    return covs, latent


def add_missing_values(covs: pd.DataFrame, loc: pd.DataFrame, latent: pd.DataFrame,
                       seed: int = 0, rate: float = 0.015) -> pd.DataFrame:
    """A copy of ``covs`` with values missing at random and in blocks.

    - at random: each value with probability ``rate``;
    - persistent cloud: spectral and vegetation-structure groups missing where a smooth
      cloudiness field is high (about 2 % of the land surface, whole sites at once);
    - failed season fit: the phenology group for ~2 % of samples, more where the NDVI
      amplitude is small.
    """
    rng = _rng(seed, 31)
    out = covs.copy()
    n = len(out)
    values = out.to_numpy(copy=True)
    values[rng.random(values.shape) < rate] = np.nan
    out.loc[:, :] = values
    xyz = lonlat_to_unit_sphere(loc["lon"].to_numpy(float), loc["lat"].to_numpy(float))
    cloud = band_field(xyz, rng, (200.0, 2000.0), n_waves=32) > 2.05
    for g in ("spectral", "vegetation_structure"):
        out.loc[cloud, list(COVARIATE_GROUPS[g])] = np.nan
    fail = (rng.random(n) < 0.02) | ((latent["ndvi_amplitude"].to_numpy() < 0.06)
                                     & (rng.random(n) < 0.3))
    out.loc[fail, list(COVARIATE_GROUPS["phenology"])] = np.nan
    return out


# ----------------------------------------------------------------------------- SOC
def soc_truth(covs: pd.DataFrame, latent: pd.DataFrame, loc: pd.DataFrame, seed: int = 0,
              model: SOCModel = SOCModel()) -> pd.DataFrame:
    """True log-mean, coefficients, noise sd and noise draws of SOC per sample.

    Uses the complete covariates (before values go missing) and the hidden fields.
    """
    m = model
    r1 = latent["hidden_regime_1"].to_numpy()
    r2 = latent["hidden_regime_2"].to_numpy()
    t = covs["temp_mean_annual"].to_numpy()
    p = covs["precip_annual"].to_numpy()
    zT = (t - 15.0) / 10.0
    zP = np.log(np.maximum(p, 1.0) / 800.0) / 0.7
    zN = (covs["ndvi_p50"].to_numpy() - 0.5) / 0.2
    zE = (covs["elevation"].to_numpy() - 500.0) / 600.0
    b_t = m.b_temperature * (1.0 + m.vary_temperature * r1)
    b_p = m.b_precipitation * (1.0 + m.vary_precipitation * r2)
    b_n = m.b_ndvi * (1.0 + m.vary_ndvi * np.tanh(r1 - r2))
    b_e = m.b_elevation * (1.0 + m.vary_elevation * r2)
    lu = covs["land_use"].to_numpy().astype(int)
    crop = lu == 0
    peat = m.peat * _sigmoid((2.0 - t) / 2.0) * _sigmoid((p - 600.0) / 100.0)
    years = loc["year"].to_numpy(float)
    mean = (m.mu0 + b_t * zT + b_p * zP + b_n * zN + b_e * zE
            + np.asarray(m.land_use_effects)[lu] + m.fire * covs["fire_frequency"].to_numpy()
            + peat + m.crop_trend_per_year * (years - 2018.0) * crop
            + m.w_clay * latent["hidden_clay"].to_numpy()
            + m.w_management * latent["hidden_management"].to_numpy()
            + m.w_image * latent["image_signal"].to_numpy())
    spatial = m.spatial_noise_sd * latent["spatial_field"].to_numpy()
    noise_sd = m.noise_sd_min + m.noise_sd_range * _sigmoid(
        1.5 * r2 + 4.0 * (latent["aridity"].to_numpy() - 0.5))
    eps = _rng(seed, 41).normal(size=len(covs)) * noise_sd
    log_soc = mean + spatial + eps
    soc = np.exp(log_soc)
    return pd.DataFrame({
        "coef_temperature": b_t, "coef_precipitation": b_p, "coef_ndvi": b_n,
        "coef_elevation": b_e, "log_soc_mean": mean, "noise_spatial": spatial,
        "noise_sd": noise_sd, "noise_iid": eps, "log_soc_latent": log_soc,
        "clipped": (soc < SOC_MIN_GKG) | (soc > SOC_MAX_GKG),
        "soc_gkg": np.clip(soc, SOC_MIN_GKG, SOC_MAX_GKG),
    })


def generate_soc_corpus(n_africa: int, n_europe: int, n_other: int,
                        years: tuple[int, int] = (2013, 2022), seed: int = 0,
                        model: SOCModel = SOCModel(), missing_rate: float = 0.015
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The synthetic corpus and its ground truth, one row per sample (same order).

    ``corpus``: ``sample_id, area, source, lat, lon, year, doy, depth_top_cm,
    depth_bottom_cm, soc_gkg`` and the 63 covariates (float32, NaN where missing).
    ``truth``: ``sample_id, site``, the hidden fields, the true coefficients, the true
    log-mean, the noise terms, and the complete values of :data:`PATCH_TRUTH_COLUMNS`
    (prefixed ``true_``) from which the image patches are drawn.
    """
    loc = sample_locations(n_africa, n_europe, n_other, years, seed)
    covs, latent = covariate_fields(loc, seed)
    truth = soc_truth(covs, latent, loc, seed, model)
    observed = add_missing_values(covs, loc, latent, seed, missing_rate)
    corpus = loc.drop(columns=["site"]).copy()
    corpus["soc_gkg"] = truth["soc_gkg"].to_numpy()
    corpus = pd.concat([corpus, observed.astype(np.float32)], axis=1)
    gt = pd.concat([loc[["sample_id", "site"]],
                    latent[["aridity", "continentality", *HIDDEN_FIELDS]],
                    truth.drop(columns=["soc_gkg"]),
                    covs[list(PATCH_TRUTH_COLUMNS)].add_prefix("true_")], axis=1)
    return corpus, gt


def category_label(column: str, codes: np.ndarray) -> np.ndarray:
    """Labels of integer-coded categories (NaN -> ``None``)."""
    labels = CATEGORY_LABELS[column]
    return np.array([labels[int(c)] if np.isfinite(c) else None for c in codes], dtype=object)

"""GPP paper section 4.3: GWR, GTWR, GNNWR and GTNNWR against GeoHet on a subset of land cells.

The protocol (paper 4.3, Table 1, Table 2, Figure 3):

1. Sample ``n_cells`` land cells uniformly (paper: 6,000) — :func:`sample_cells`.
2. GWR-family models need exactly one observation per location (and time), so every cell's
   covariates and GPP are averaged per 8-day step over the training years: one sample per
   location per week of year — :func:`build_subset` (``x_clim``, ``y_clim``).
3. GWR and GNNWR have no time: one model per week (:func:`run_per_week`). GTWR and GTNNWR use
   space and time together: one model over all (cell, week) samples (:func:`run_space_time`).
   GeoHet is trained on the same cells over the training years (:func:`run_geohet`).
4. Every method predicts the **test year** at the same cells from that year's covariates (the
   paper's temporal split, 4.1) and is scored per week and overall (:func:`weekly_scores`).
5. Figure 3: the first principal component of each method's spatially varying coefficients at
   week 40 (GeoHet: its condition vectors) beside the same summary of the generator's true
   response parameters (:func:`true_heterogeneity`), with the correlation to the truth.

Choices where the paper is silent are listed in ``PROTOCOL_NOTES`` and printed by the notebook.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..config import Profile
from ..metrics import r2, rmse
from ..tables import verdict
from .samples import SampleCache
from .synthetic import DAYS_PER_YEAR
from .variables import step_calendar

LOG = logging.getLogger("geohet")

PROTOCOL_NOTES = (
    "Test data: the test year at the same cells, one sample per cell and week (paper 4.1's "
    "temporal split; 4.3 does not say which test set its Table 1 uses).",
    "Covariates of GWR / GTWR / GNNWR / GTNNWR: the drivers of a light-use-efficiency model "
    "(config.GWR_COVARIATES); the paper does not list them, and the 43 features together are "
    "singular for a local linear model (the 17 land-cover fractions sum to one). GeoHet reads all "
    "43 features, as in the main comparison.",
    "GTWR / GTNNWR time: week of year on a circle of 46 weeks (week 46 neighbours week 1).",
    "GeoHet is trained on the same cells over the individual training years (the last one "
    "validates); its 'train RMSE' is on those training samples, the GWR family's on the "
    "climatology they were fitted to.",
    "Figure 3: each method's coefficient columns are standardised before PCA (otherwise the "
    "intercept dominates); the sign of a principal component is arbitrary, so each is flipped to "
    "correlate positively with the truth and |r| is reported.",
)

# (method, week) -> (paper RMSE, paper R2); week 0 = "Overall"; paper Table 1 of section 4.3
PAPER_43_TABLE1: dict[str, dict[int, tuple[float, float]]] = {
    "GWR": {1: (1.990, 0.434), 10: (2.097, 0.424), 20: (2.184, 0.592), 30: (2.060, 0.506),
            40: (1.958, 0.429), 0: (2.149, 0.534)},
    "GNNWR": {1: (0.871, 0.891), 10: (1.066, 0.851), 20: (1.330, 0.855), 30: (1.178, 0.838),
              40: (0.835, 0.896)},
    "GTWR": {1: (1.761, 0.557), 10: (1.859, 0.547), 20: (2.475, 0.476), 30: (2.070, 0.501),
             40: (1.689, 0.575)},
    "GTNNWR": {},
    "GeoHet": {1: (0.779, 0.913), 10: (0.813, 0.914), 20: (1.073, 0.905), 30: (0.931, 0.887),
               40: (0.700, 0.922), 0: (0.836, 0.932)},
}
# paper Table 2 of section 4.3 (week 40): train RMSE, train R2, test RMSE, test R2, gap
PAPER_43_TABLE2: dict[str, tuple[float, float, float, float, float]] = {
    "GNNWR": (0.478, 0.931, 0.835, 0.896, 0.357),
    "GeoHet": (0.627, 0.942, 0.700, 0.922, 0.073),
}
GROUPS = {"GWR": "spatial", "GNNWR": "spatial", "GTWR": "spatiotemporal",
          "GTNNWR": "spatiotemporal", "GeoHet": "spatiotemporal"}
LINEAR, NONLINEAR = ("GWR", "GTWR"), ("GNNWR", "GTNNWR", "GeoHet")


@dataclass
class Subset43:
    """The cells of section 4.3 and their climatology (training) and test-year samples."""

    cells: np.ndarray  # row positions in the land grid / sample cache, sorted
    lon: np.ndarray
    lat: np.ndarray
    covariates: list[str]
    x_clim: np.ndarray  # (n, 46, k) covariates averaged per week over the training years
    y_clim: np.ndarray  # (n, 46)
    x_test: np.ndarray  # (n, 46, k) the test year
    y_test: np.ndarray  # (n, 46)
    train_years: list[int]
    test_year: int

    @property
    def coords(self) -> np.ndarray:
        """(n, 2) lon, lat in degrees."""
        return np.column_stack([self.lon, self.lat])

    @property
    def n_weeks(self) -> int:
        return self.y_test.shape[1]


@dataclass
class MethodResult:
    """One method's predictions on the subset (NaN where a week was not run)."""

    name: str
    test_pred: np.ndarray  # (n, 46)
    train_pred: np.ndarray  # (n, 46) on its training targets (see train_target)
    train_target: np.ndarray  # (n, 46) what train_pred is compared with
    coefficients: np.ndarray | None  # (n, p) spatially varying coefficients at the figure week
    fit_seconds: float
    weeks_run: list[int]
    config: dict = field(default_factory=dict)
    week_seconds: dict[int, float] = field(default_factory=dict)


def sample_cells(n_total: int, n: int, seed: int = 0) -> np.ndarray:
    """``n`` of ``n_total`` land cells drawn uniformly without replacement (sorted positions).

    All cells when ``n >= n_total`` (logged)."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if n >= n_total:
        LOG.info("section 4.3: asked for %d cells, the grid has %d: using all", n, n_total)
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, size=n, replace=False))


def build_subset(cache: SampleCache, cells: pd.DataFrame, covariates, train_years, test_year: int,
                 n_cells: int, seed: int = 0) -> Subset43:
    """Sample the cells and average their weekly samples over ``train_years`` (paper 4.3)."""
    covariates = list(covariates)
    missing = [c for c in covariates if c not in cache.feature_names]
    if missing:
        raise ValueError(f"covariates {missing} are not features of the sample cache")
    if len(cells) != cache.n_cells:
        raise ValueError(f"cells has {len(cells)} rows, the sample cache {cache.n_cells}")
    sel = sample_cells(cache.n_cells, n_cells, seed)
    fi = np.array([cache.feature_names.index(c) for c in covariates])
    train_years = [int(y) for y in train_years]
    x_sum = np.zeros((sel.size, cache.features.shape[2], fi.size))
    y_sum = np.zeros((sel.size, cache.features.shape[2]))
    for yi in cache.year_index(train_years):  # one year at a time: bounded memory
        x_sum += cache.features[sel, yi][:, :, fi]
        y_sum += cache.target[sel, yi]
    ti = int(cache.year_index([test_year])[0])
    return Subset43(
        cells=sel, lon=cells["lon"].to_numpy()[sel], lat=cells["lat"].to_numpy()[sel],
        covariates=covariates, x_clim=x_sum / len(train_years), y_clim=y_sum / len(train_years),
        x_test=np.asarray(cache.features[sel, ti][:, :, fi], dtype=np.float64),
        y_test=np.asarray(cache.target[sel, ti], dtype=np.float64),
        train_years=train_years, test_year=int(test_year))


def _weeks(subset: Subset43, weeks) -> list[int]:
    weeks = list(range(1, subset.n_weeks + 1)) if weeks is None else sorted({int(w) for w in weeks})
    bad = [w for w in weeks if not 1 <= w <= subset.n_weeks]
    if bad:
        raise ValueError(f"weeks {bad} outside 1..{subset.n_weeks}")
    return weeks


def run_per_week(name: str, make_model, subset: Subset43, weeks=None, figure_week: int = 40,
                 progress: bool = True) -> MethodResult:
    """Fit a spatial-only model (GWR, GNNWR) separately for each week (paper 4.3).

    ``make_model()`` returns a fresh estimator with ``fit(coords, X, y)``,
    ``predict(coords, X)`` and ``local_coefficients(coords)``. The figure week is always run.
    A week whose fit raises ``ValueError`` (GWR: a singular local regression, e.g. net solar
    radiation exactly 0 over a polar-night neighbourhood) is logged, listed in
    ``config["failed_weeks"]`` and left out of ``weeks_run``.
    """
    from ..progress import progress_bar

    weeks = sorted(set(_weeks(subset, weeks)) | {figure_week})
    n, T = subset.y_test.shape
    test = np.full((n, T), np.nan)
    train = np.full((n, T), np.nan)
    coef, secs, cfg, bws = None, {}, {}, {}
    coords = subset.coords
    failed: dict[int, str] = {}
    for w in progress_bar(weeks, desc=name, disable=not progress, unit="week"):
        m = make_model()
        t0 = time.perf_counter()
        try:
            m.fit(coords, subset.x_clim[:, w - 1], subset.y_clim[:, w - 1])
        except ValueError as err:  # e.g. GWR: locally collinear covariates (polar night)
            failed[w] = str(err)
            LOG.warning("%s: week %d could not be fitted (%s); it is left out", name, w, err)
            continue
        secs[w] = time.perf_counter() - t0
        train[:, w - 1] = m.predict(coords, subset.x_clim[:, w - 1])
        test[:, w - 1] = m.predict(coords, subset.x_test[:, w - 1])
        if w == figure_week:
            coef = m.local_coefficients(coords)
        cfg = dict(getattr(m, "config", {}) or {})
        if hasattr(m, "bandwidth_"):
            bws[w] = float(m.bandwidth_)
    if bws:
        cfg["bandwidth_by_week"] = bws
    if failed:
        cfg["failed_weeks"] = failed
    return MethodResult(name, test, train, subset.y_clim, coef, float(sum(secs.values())),
                        [w for w in weeks if w not in failed], cfg, secs)


def run_space_time(name: str, model, subset: Subset43, figure_week: int = 40) -> MethodResult:
    """Fit a spatiotemporal model (GTWR, GTNNWR) once on every (cell, week) sample.

    ``model`` has ``fit(coords, t, X, y)``, ``predict(coords, t, X)`` and
    ``local_coefficients(coords, t)``; ``t`` is the week of year (1..46).
    """
    n, T, k = subset.x_clim.shape
    coords = np.repeat(subset.coords, T, axis=0)
    t = np.tile(np.arange(1, T + 1, dtype=np.float64), n)
    t0 = time.perf_counter()
    model.fit(coords, t, subset.x_clim.reshape(-1, k), subset.y_clim.reshape(-1))
    fit_s = time.perf_counter() - t0
    train = model.predict(coords, t, subset.x_clim.reshape(-1, k)).reshape(n, T)
    test = model.predict(coords, t, subset.x_test.reshape(-1, k)).reshape(n, T)
    coef = model.local_coefficients(subset.coords, np.full(n, float(figure_week)))
    cfg = dict(getattr(model, "config", {}) or {})
    for attr in ("bandwidth_", "tau_"):
        if hasattr(model, attr):
            cfg[attr.rstrip("_")] = float(getattr(model, attr))
    return MethodResult(name, test, train, subset.y_clim, coef, fit_s,
                        list(range(1, T + 1)), cfg)


def run_geohet(profile: Profile, graph, cache: SampleCache, subset: Subset43, seed: int, device,
               figure_week: int = 40, progress: bool = True) -> tuple[MethodResult, object]:
    """GeoHet trained on the subset's cells over the training years (last one validates).

    Coefficients for Figure 3 are its condition vectors v^final at the figure week, read at each
    cell's cluster. Returns ``(result, model)``.
    """
    from .stage03 import Split, train_and_test
    from .train import predict

    fit_years = subset.train_years[:-1]
    val_year = subset.train_years[-1]
    split = Split(cache.examples(fit_years, subset.cells), cache.examples([val_year], subset.cells),
                  cache.examples([subset.test_year], subset.cells),
                  graph.cell_cluster.cpu().numpy(),
                  f"section 4.3: {subset.cells.size} cells, fit {fit_years[0]}-{fit_years[-1]}, "
                  f"validate {val_year}, test {subset.test_year}")
    model, hist, y_scale, pred, fit_s = train_and_test(profile, graph, cache, split, seed, device,
                                                       progress=progress)
    # split.test lists the cells in subset order (one test year), so rows line up
    test = np.asarray(pred, dtype=np.float64)
    tr_pred = predict(model, cache, split.train, split.cell_cluster, y_scale, device=device)
    tr_y = cache.gather(split.train)[1]
    # average the per-year training fits per cell so the array is (n, 46) like the others; the
    # train RMSE itself is computed on every training sample (see geohet_train_scores)
    pos = np.searchsorted(subset.cells, split.train[:, 0])
    n, T = subset.y_test.shape
    train_pred = np.zeros((n, T))
    train_y = np.zeros((n, T))
    np.add.at(train_pred, pos, tr_pred)
    np.add.at(train_y, pos, tr_y)
    train_pred /= len(fit_years)
    train_y /= len(fit_years)
    cond = model.condition_vectors().float().cpu().numpy()
    coef = cond[split.cell_cluster[subset.cells], figure_week - 1]
    res = MethodResult("GeoHet", test, train_pred, train_y, coef, fit_s, list(range(1, T + 1)),
                       dict(model.cfg.to_dict()) if hasattr(model.cfg, "to_dict") else {})
    res.config["history"] = hist
    res.config["train_samples"] = (tr_pred, tr_y)
    return res, model


def _score(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    ok = np.isfinite(p)
    if not ok.any():
        return np.nan, np.nan
    return rmse(y[ok], p[ok]), r2(y[ok], p[ok])


def weekly_scores(results: list[MethodResult], subset: Subset43) -> pd.DataFrame:
    """RMSE and R2 of each method on the test year, per week it ran (long format)."""
    rows = []
    for res in results:
        for w in res.weeks_run:
            e, r = _score(subset.y_test[:, w - 1], res.test_pred[:, w - 1])
            rows.append({"method": res.name, "week": w, "rmse": e, "r2": r})
    return pd.DataFrame(rows)


def overall_scores(results: list[MethodResult], subset: Subset43) -> pd.DataFrame:
    """RMSE and R2 over every (cell, week) test sample a method predicted."""
    rows = []
    for res in results:
        e, r = _score(subset.y_test, res.test_pred)
        rows.append({"method": res.name, "rmse": e, "r2": r, "n_weeks": len(res.weeks_run),
                     "fit_seconds": res.fit_seconds})
    return pd.DataFrame(rows)


def build_table1(weekly: pd.DataFrame, overall: pd.DataFrame,
                 report_weeks=(1, 10, 20, 30, 40)) -> pd.DataFrame:
    """Section 4.3 Table 1: RMSE / R2 per reported week and overall, the paper's beside, claims.

    Claims (compared on the mean RMSE over the reported weeks, which every method has):
    nonlinear methods (GNNWR, GTNNWR, GeoHet) beat both linear ones (GWR, GTWR); GeoHet has the
    lowest RMSE at every reported week.
    """
    wk = weekly.set_index(["method", "week"])
    ov = overall.set_index("method")
    rows = []
    for method in PAPER_43_TABLE1:
        if method not in ov.index:
            continue
        row: dict = {"group": GROUPS[method], "method": method}
        for w in report_weeks:
            e, r = (wk.loc[(method, w), ["rmse", "r2"]] if (method, w) in wk.index
                    else (np.nan, np.nan))
            row[f"RMSE w{w}"], row[f"R2 w{w}"] = float(e), float(r)
        n_weeks = int(ov.loc[method, "n_weeks"])
        row["RMSE overall"] = float(ov.loc[method, "rmse"])
        row["R2 overall"] = float(ov.loc[method, "r2"])
        row["weeks in overall"] = n_weeks
        row["fit s"] = float(ov.loc[method, "fit_seconds"])
        for w in (*report_weeks, 0):
            p = PAPER_43_TABLE1[method].get(w)
            label = "overall" if w == 0 else f"w{w}"
            row[f"paper {label}"] = "-" if p is None else f"{p[0]:.3f}/{p[1]:.3f}"
        rows.append(row)
    df = pd.DataFrame(rows)
    df["claim"] = ""
    cols = [f"RMSE w{w}" for w in report_weeks]
    mean_rmse = df.set_index("method")[cols].mean(axis=1)
    lin = [m for m in LINEAR if m in mean_rmse.index]
    for m in NONLINEAR:
        if m not in mean_rmse.index:
            continue
        ok = None if not lin else bool(mean_rmse[m] < mean_rmse[lin].min())
        df.loc[df["method"] == m, "claim"] = (f"beats {' and '.join(lin) or 'the linear methods'} "
                                              f"(mean RMSE over reported weeks): {verdict(ok)}")
    if "GeoHet" in mean_rmse.index and len(mean_rmse) > 1:
        per_week = df.set_index("method")[cols]
        best = bool((per_week.idxmin(axis=0) == "GeoHet").all())
        df.loc[df["method"] == "GeoHet", "claim"] += (f"; lowest RMSE at every reported week: "
                                                      f"{verdict(best)}")
    return df


def build_table2(results: list[MethodResult], subset: Subset43, figure_week: int = 40) -> pd.DataFrame:
    """Section 4.3 Table 2: train and test RMSE / R2 at the figure week and the generalisation gap
    (test RMSE - train RMSE) for GNNWR and GeoHet, the paper's values beside; claim: GeoHet's gap
    is the smaller one. GeoHet's train scores use its individual training samples."""
    w = figure_week - 1
    rows = []
    for res in results:
        if res.name not in PAPER_43_TABLE2:
            continue
        if "train_samples" in res.config:
            tp, ty = res.config["train_samples"]
            tr_e, tr_r = _score(ty[:, w], tp[:, w])
        else:
            tr_e, tr_r = _score(res.train_target[:, w], res.train_pred[:, w])
        te_e, te_r = _score(subset.y_test[:, w], res.test_pred[:, w])
        p = PAPER_43_TABLE2[res.name]
        rows.append({"method": res.name, "week": figure_week, "train RMSE": tr_e, "train R2": tr_r,
                     "test RMSE": te_e, "test R2": te_r, "gap": te_e - tr_e,
                     "paper train RMSE": p[0], "paper train R2": p[1], "paper test RMSE": p[2],
                     "paper test R2": p[3], "paper gap": p[4], "claim": ""})
    df = pd.DataFrame(rows)
    if {"GeoHet", "GNNWR"} <= set(df.get("method", [])):
        g = df.set_index("method")["gap"]
        df.loc[df["method"] == "GeoHet", "claim"] = (
            f"smaller generalisation gap than GNNWR: {verdict(bool(g['GeoHet'] < g['GNNWR']))}")
    return df


# ---------------------------------------------------------------------------------------------
# Figure 3: leading principal component of the spatially varying coefficients, and the truth
# ---------------------------------------------------------------------------------------------

def leading_component(values: np.ndarray) -> np.ndarray:
    """First principal component score (n,) of the standardised columns of ``values`` (n, p).

    Constant columns are dropped; with one informative column its z-score is returned."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"values must be 2-D (n, p), got {v.shape}")
    sd = v.std(axis=0)
    keep = sd > 1e-12 * max(1.0, float(np.abs(v).max(initial=0)))
    if not keep.any():
        raise ValueError("every column is constant: no principal component")
    z = (v[:, keep] - v[:, keep].mean(axis=0)) / sd[keep]
    if z.shape[1] == 1:
        return z[:, 0]
    u, s, _ = np.linalg.svd(z, full_matrices=False)
    return u[:, 0] * s[0]


def true_heterogeneity(truth: pd.DataFrame, cells: np.ndarray, week: int, year: int,
                       steps_per_year: int = 46) -> tuple[np.ndarray, pd.DataFrame]:
    """The generator's response parameters in effect at ``week`` and their leading component.

    Parameters (synthetic.py's light-use-efficiency model): the light-use efficiency of that week,
    ``lue_max * (1 + season_amp * cos(2 pi (doy - season_phase) / 365.25))``, the temperature
    optimum and width, and the water-stress exponent. Returns ``(pc1 (n,), parameters frame)``.
    """
    t = truth.iloc[np.asarray(cells)] if "cell" not in truth else truth.set_index("cell").loc[
        np.asarray(cells)].reset_index()
    starts, ndays = step_calendar(year, steps_per_year)
    doy = ((starts[week - 1] - np.datetime64(f"{year}-01-01", "ns")) / np.timedelta64(1, "D")
           + ndays[week - 1] / 2.0)
    eps = t["lue_max"].to_numpy() * (1.0 + t["season_amp"].to_numpy() * np.cos(
        2 * np.pi * (doy - t["season_phase"].to_numpy()) / DAYS_PER_YEAR))
    params = pd.DataFrame({"lue_week": eps, "t_opt": t["t_opt"].to_numpy(),
                           "t_width": t["t_width"].to_numpy(),
                           "water_beta": t["water_beta"].to_numpy()})
    return leading_component(params.to_numpy()), params


def align_to_truth(pc: np.ndarray, truth_pc: np.ndarray) -> tuple[np.ndarray, float]:
    """Flip the sign of ``pc`` to correlate positively with the truth; return it and |r|."""
    r = float(np.corrcoef(pc, truth_pc)[0, 1])
    return (pc if r >= 0 else -pc), abs(r)

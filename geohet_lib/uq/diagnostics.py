"""Residual diagnostics of a Gaussian predictive (SOC paper 5.6, Table 12) and spatial
independence of the residuals (SOC 6.1, "per-sample independence").

* Gaussianity of ``z = (y - mu) / sigma``: :func:`shapiro_wilk` (scipy).
* Heteroscedasticity: :func:`breusch_pagan`, ``z^2`` regressed on ``[1, regressor]``
  (statsmodels), the paper's "z^2 ~ sigma" and "z^2 ~ mu".
* Spatial autocorrelation: global :func:`morans_i` and local :func:`local_morans` (esda) on
  libpysal weights from a graph's edges (:func:`weights_from_edges`) or from k nearest
  neighbours on the sphere (:func:`weights_knn`); :func:`morans_i_by_hand` is the formula.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import sparse, stats
from scipy.spatial import cKDTree

from geohet_lib.geo import lonlat_to_unit_sphere
from geohet_lib.uq.metrics import _as_1d, _check_predictive, _same_length

if TYPE_CHECKING:  # libpysal / esda are imported when used
    from libpysal.weights import W

__all__ = ["shapiro_wilk", "breusch_pagan", "standardised_residuals", "weights_from_edges",
           "weights_knn", "morans_i", "local_morans", "morans_i_by_hand"]

_QUADRANT_LABELS = {1: "HH", 2: "LH", 3: "LL", 4: "HL"}


def standardised_residuals(y: ArrayLike, mu: ArrayLike, sigma: ArrayLike) -> np.ndarray:
    """``z = (y - mu) / sigma`` (SOC Table 12); ``N(0, 1)`` under a correct predictive."""
    y, mu, sigma = _check_predictive(y, mu, sigma)
    return (y - mu) / sigma


def shapiro_wilk(z: ArrayLike, max_n: int = 5000, seed: int = 0) -> dict:
    """Shapiro-Wilk normality test (``scipy.stats.shapiro``) -> ``{"W", "p", "n",
    "subsampled"}``. Above ``max_n`` points a fixed-seed subsample of ``max_n`` without
    replacement is tested (scipy's p-value is inaccurate above 5,000); ``n`` is the tested size."""
    z = _as_1d("z", z)
    if not (isinstance(max_n, (int, np.integer)) and max_n >= 3):
        raise ValueError(f"max_n must be an integer >= 3, got {max_n!r}")
    if z.size < 3:
        raise ValueError(f"Shapiro-Wilk needs at least 3 values, got {z.size}")
    subsampled = z.size > max_n
    if subsampled:
        z = z[np.random.default_rng(seed).choice(z.size, size=int(max_n), replace=False)]
    res = stats.shapiro(z)
    return {"W": float(res.statistic), "p": float(res.pvalue), "n": int(z.size),
            "subsampled": bool(subsampled)}


def breusch_pagan(z: ArrayLike, regressor: ArrayLike) -> dict:
    """Breusch-Pagan test of ``z^2 ~ [1, regressor]`` -> ``{"LM", "p", "F", "F p"}``.

    statsmodels ``het_breuschpagan(resid=z, exog_het=add_constant(regressor))`` with its
    default ``robust=True``, i.e. Koenker's (1981) studentised LM = ``n R^2`` of the auxiliary
    regression of ``z^2``. ``regressor``: ``(n,)`` or ``(n, k)``, not constant.
    """
    from statsmodels.stats.diagnostic import het_breuschpagan
    from statsmodels.tools import add_constant

    z = _as_1d("z", z)
    x = np.asarray(regressor, dtype=np.float64)
    if x.ndim not in (1, 2) or x.shape[0] != z.size:
        raise ValueError(f"regressor must have shape ({z.size},) or ({z.size}, k), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("regressor holds non-finite values")
    if np.any(np.ptp(x.reshape(z.size, -1), axis=0) == 0):
        raise ValueError("regressor has a constant column; the constant is added here")
    lm, lm_p, f, f_p = het_breuschpagan(resid=z, exog_het=add_constant(x, has_constant="add"))
    return {"LM": float(lm), "p": float(lm_p), "F": float(f), "F p": float(f_p)}


def weights_from_edges(edge_index: ArrayLike, n: int, weight: ArrayLike | None = None) -> W:
    """Row-standardised libpysal ``W`` from a ``(2, E)`` edge list (PyG convention: a message
    flows from ``edge_index[0]`` to ``edge_index[1]``, so the neighbours of node ``i`` are the
    sources of the edges into ``i``). Not symmetrised; self-loops dropped; duplicate pairs
    merged with their weights summed (``weight``: ``(E,)`` > 0, default 1). Nodes without
    neighbours are islands: libpysal's warning is silenced, ``w.islands`` lists them."""
    from libpysal.weights import W

    if not (isinstance(n, (int, np.integer)) and n >= 1):
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    ei = np.asarray(edge_index)
    if ei.ndim != 2 or ei.shape[0] != 2:
        raise ValueError(f"edge_index must have shape (2, E), got {ei.shape}")
    if ei.size and (not np.issubdtype(ei.dtype, np.integer) or ei.min() < 0 or ei.max() >= n):
        raise ValueError(f"edge_index must hold integer node ids in [0, n={n}), "
                         f"got dtype {ei.dtype}, range [{ei.min()}, {ei.max()}]")
    wt = np.ones(ei.shape[1]) if weight is None else _as_1d("weight", weight)
    if wt.shape[0] != ei.shape[1]:
        raise ValueError(f"weight has {wt.shape[0]} entries for {ei.shape[1]} edges")
    if np.any(wt <= 0):
        raise ValueError(f"weight must be > 0, got min {wt.min()!r}")
    src, dst = ei[0].astype(np.int64), ei[1].astype(np.int64)
    keep = src != dst
    # row = target, column = source; COO -> CSR sums duplicate pairs
    a = sparse.coo_matrix((wt[keep], (dst[keep], src[keep])), shape=(n, n)).tocsr()
    a.sort_indices()
    neighbors, weights = {}, {}
    for i in range(n):
        lo, hi = a.indptr[i], a.indptr[i + 1]
        neighbors[i] = a.indices[lo:hi].tolist()
        weights[i] = a.data[lo:hi].tolist()
    w = W(neighbors, weights, id_order=list(range(n)), silence_warnings=True)
    w.transform = "r"
    return w


def weights_knn(lat: ArrayLike, lon: ArrayLike, k: int = 8) -> W:
    """Row-standardised libpysal ``W`` of the ``k`` nearest neighbours on the sphere (chord
    distance between unit vectors, monotone in great-circle distance; ``scipy cKDTree``).
    ``lat``, ``lon`` in degrees. A point is never its own neighbour (also with duplicates)."""
    from libpysal.weights import W

    lat, lon = _as_1d("lat", lat), _as_1d("lon", lon)
    _same_length(lat=lat, lon=lon)
    n = lat.size
    if not (isinstance(k, (int, np.integer)) and 1 <= k < n):
        raise ValueError(f"k must be an integer in [1, n - 1 = {n - 1}], got {k!r}")
    xyz = lonlat_to_unit_sphere(lon, lat)
    _, idx = cKDTree(xyz).query(xyz, k=k + 1)
    neighbors = {}
    for i in range(n):
        row = [int(j) for j in idx[i] if j != i]
        neighbors[i] = row[:k]
    w = W(neighbors, id_order=list(range(n)), silence_warnings=True)
    w.transform = "r"
    return w


def _check_values(values: ArrayLike, w: W) -> np.ndarray:
    v = _as_1d("values", values)
    if v.size != w.n:
        raise ValueError(f"values has {v.size} entries for a W on {w.n} nodes")
    if np.ptp(v) == 0:
        raise ValueError("values are constant: Moran's I is undefined")
    return v


def morans_i(values: ArrayLike, w: W, permutations: int = 999, seed: int = 0) -> dict:
    """Global Moran's I (esda ``Moran``, row-standardised) -> ``{"I", "EI", "z", "p_norm",
    "p_sim"}``; ``z``/``p_norm`` under normality, ``p_sim`` from ``permutations`` permutations
    drawn from numpy's global RNG seeded with ``seed`` (its previous state is restored)."""
    from esda.moran import Moran

    v = _check_values(values, w)
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        mi = Moran(v, w, permutations=permutations)
    finally:
        np.random.set_state(state)
    p_sim = float(mi.p_sim) if permutations else float("nan")
    return {"I": float(mi.I), "EI": float(mi.EI), "z": float(mi.z_norm),
            "p_norm": float(mi.p_norm), "p_sim": p_sim}


def local_morans(values: ArrayLike, w: W, permutations: int = 999, seed: int = 0,
                 alpha: float = 0.05) -> pd.DataFrame:
    """Local Moran's I (esda ``Moran_Local``, conditional permutations) per node: columns
    ``Is``, ``quadrant`` (1 HH, 2 LH, 3 LL, 4 HL), ``label`` (the quadrant's name, or
    "not significant"), ``p_sim`` (esda's folded pseudo p-value, ``(min(#sim >= Is,
    #sim < Is) + 1) / (permutations + 1)``) and ``significant`` (``p_sim <= esda.fdr(p_sim,
    alpha)``, the Benjamini-Hochberg cut-off, or ``alpha / n`` when none passes). The smallest
    attainable ``p_sim`` is ``1 / (permutations + 1)``: with many nodes, few permutations can
    leave nothing significant after the correction."""
    from esda import fdr
    from esda.moran import Moran_Local

    if not 0 < alpha < 1:
        raise ValueError(f"alpha must satisfy 0 < alpha < 1, got {alpha!r}")
    if not (isinstance(permutations, (int, np.integer)) and permutations >= 1):
        raise ValueError(f"permutations must be an integer >= 1, got {permutations!r}")
    v = _check_values(values, w)
    with warnings.catch_warnings():  # esda 2.9's internal crand call cannot pass `alternative`
        warnings.filterwarnings("ignore", message="The alternative hypothesis for conditional",
                                category=DeprecationWarning)
        lm = Moran_Local(v, w, permutations=int(permutations), seed=seed)
    p_sim = np.asarray(lm.p_sim, dtype=np.float64)
    significant = p_sim <= fdr(p_sim, alpha)
    quadrant = np.asarray(lm.q, dtype=np.int64)
    label = np.where(significant, [_QUADRANT_LABELS.get(int(q), "?") for q in quadrant],
                     "not significant")
    return pd.DataFrame({"Is": np.asarray(lm.Is, dtype=np.float64), "quadrant": quadrant,
                         "label": label, "p_sim": p_sim, "significant": significant})


def morans_i_by_hand(values: ArrayLike, w_dense: ArrayLike) -> float:
    """Moran's I = ``n / S0 * z' W z / z' z``, ``z = values - mean``, ``S0 = sum W``."""
    v = _as_1d("values", values)
    wd = np.asarray(w_dense, dtype=np.float64)
    if wd.shape != (v.size, v.size):
        raise ValueError(f"w_dense must have shape ({v.size}, {v.size}), got {wd.shape}")
    z = v - v.mean()
    return float(v.size / wd.sum() * (z @ wd @ z) / (z @ z))

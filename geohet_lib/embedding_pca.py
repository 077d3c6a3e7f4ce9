"""PCA maps of learned node embeddings, scored against a known truth (GPP paper, section 4.5, Figure 5).

The GPP paper reduces GeoHet's graph-node condition vectors at each week by PCA, maps the first
three components as RGB, and reads the maps: "the Middle East, the Sahara Desert, and central
Australia exhibit similar embedding patterns"; "the Amazon rainforest [...] southern China display
similar patterns". Our synthetic data keep the generator's hidden fields, so this module also
scores how well the embedding recovers them (:func:`recovery_table`, :func:`recovery_by_slice`)
and tests the paper's reading of region pairs against a random null (:func:`region_similarity`).

Both studies use this module; it imports neither ``geohet_lib.gpp`` nor ``geohet_lib.soc``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial.distance import cdist
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression

__all__ = [
    "SIGN_RULE",
    "PAPER_REGIONS",
    "PAPER_PAIRS",
    "PCAFit",
    "fit_pca",
    "per_slice_pca",
    "rgb_limits",
    "scores_to_rgb",
    "recovery_table",
    "recovery_by_slice",
    "region_similarity",
    "nodes_in_boxes",
]

SIGN_RULE = (
    "each component is flipped so that the largest-magnitude entry of its loading vector is "
    "positive (ties: the first such entry)"
)

# Boxes (lat_min, lat_max, lon_min, lon_max) in degrees, lon in [-180, 180]. These boxes are ours:
# the paper (section 4.5) names the regions but gives no coordinates.
PAPER_REGIONS: dict[str, tuple[float, float, float, float]] = {
    "Middle East": (12.0, 35.0, 35.0, 60.0),
    "Sahara": (15.0, 30.0, -15.0, 32.0),
    "central Australia": (-30.0, -20.0, 120.0, 142.0),
    "Amazon": (-12.0, 3.0, -72.0, -50.0),
    "southern China": (21.0, 30.0, 100.0, 120.0),
}

# The paper's reading of Figure 5 (week 20): the deserts embed alike; Amazon and southern China alike.
PAPER_PAIRS: list[tuple[str, str]] = [
    ("Sahara", "Middle East"),
    ("Sahara", "central Australia"),
    ("Middle East", "central Australia"),
    ("Amazon", "southern China"),
]

_METRICS = ("euclidean", "cosine")
_NULL_CHUNK_ELEMENTS = 4_000_000  # bound on the gathered distances held at once by the null


# --------------------------------------------------------------------------------------------- PCA


@dataclass
class PCAFit:
    """A fitted PCA with a deterministic sign rule (section 4.5: one PCA for all weeks' colours)."""

    components: np.ndarray  # (k, d) loadings, signs fixed by ``signs_rule``
    mean: np.ndarray  # (d,)
    explained_variance_ratio: np.ndarray  # (k,)
    signs_rule: str

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Scores ``(x - mean) @ components.T`` for ``x`` of shape ``(..., d)`` -> ``(..., k)``."""
        arr = np.asarray(x, dtype=np.float64)
        d = self.components.shape[1]
        if arr.ndim < 1 or arr.shape[-1] != d:
            raise ValueError(f"x must have last dimension d={d}, got shape {arr.shape}")
        return (arr - self.mean) @ self.components.T


def _apply_sign_rule(components: np.ndarray) -> np.ndarray:
    """Flip each row so its largest-|entry| (first on ties) is positive; see :data:`SIGN_RULE`."""
    comp = np.array(components, dtype=np.float64)
    idx = np.argmax(np.abs(comp), axis=1)  # argmax returns the first maximum on ties
    signs = np.sign(comp[np.arange(comp.shape[0]), idx])
    signs[signs == 0] = 1.0
    return comp * signs[:, None]


def _as_rows(vectors: np.ndarray, name: str = "vectors") -> np.ndarray:
    """Flatten ``(..., d)`` to ``(n, d)`` float64; require >= 2 rows and finite values."""
    arr = np.asarray(vectors, dtype=np.float64)
    if arr.ndim < 2:
        raise ValueError(f"{name} must have shape (n, d) or (..., d), got shape {arr.shape}")
    rows = arr.reshape(-1, arr.shape[-1])
    if rows.shape[0] < 2 or rows.shape[1] < 1:
        raise ValueError(f"{name} needs at least 2 rows and 1 column, got shape {arr.shape}")
    if not np.all(np.isfinite(rows)):
        raise ValueError(f"{name} must be finite, got {int((~np.isfinite(rows)).sum())} non-finite values")
    return rows


def fit_pca(vectors: np.ndarray, n_components: int = 3) -> PCAFit:
    """One PCA over all rows of ``vectors`` ``(n, d)`` or ``(..., d)`` (section 4.5, Figure 5).

    Leading axes are flattened, so a ``(C, T, d)`` array fits one PCA across all weeks and the
    colours are comparable week to week. ``n_components`` is capped at ``min(n, d)``.
    """
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) or n_components < 1:
        raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
    rows = _as_rows(vectors)
    k = int(min(n_components, *rows.shape))
    pca = PCA(n_components=k, svd_solver="full").fit(rows)
    return PCAFit(
        components=_apply_sign_rule(pca.components_),
        mean=np.array(pca.mean_, dtype=np.float64),
        explained_variance_ratio=np.array(pca.explained_variance_ratio_, dtype=np.float64),
        signs_rule=SIGN_RULE,
    )


def per_slice_pca(vectors: np.ndarray, n_components: int = 3) -> np.ndarray:
    """A separate PCA per slice ``t`` of ``(C, T, d)`` -> scores ``(C, T, k)`` ("per week" option)."""
    arr = np.asarray(vectors, dtype=np.float64)
    if arr.ndim != 3:
        raise ValueError(f"vectors must have shape (C, T, d), got shape {arr.shape}")
    slices = [fit_pca(arr[:, t], n_components).transform(arr[:, t]) for t in range(arr.shape[1])]
    return np.stack(slices, axis=1)


# --------------------------------------------------------------------------------------------- RGB


def _check_rgb_scores(scores: np.ndarray) -> np.ndarray:
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim < 1 or arr.shape[-1] != 3:
        raise ValueError(f"scores must have shape (..., 3), got shape {arr.shape}")
    return arr


def rgb_limits(scores: np.ndarray, clip_percentile: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (lo, hi) = the ``p`` and ``100 - p`` percentiles over ALL entries (Figure 5 colours).

    NaN scores (e.g. masked nodes) are ignored; compute once and pass to :func:`scores_to_rgb` so
    several weeks share one colour scale.
    """
    arr = _check_rgb_scores(scores)
    if not 0.0 <= float(clip_percentile) < 50.0:
        raise ValueError(f"clip_percentile must be in [0, 50), got {clip_percentile!r}")
    flat = arr.reshape(-1, 3)
    if flat.shape[0] == 0 or np.all(np.isnan(flat), axis=0).any():
        raise ValueError(f"scores need at least one finite value per channel, got shape {arr.shape}")
    lo = np.nanpercentile(flat, clip_percentile, axis=0)
    hi = np.nanpercentile(flat, 100.0 - clip_percentile, axis=0)
    return lo, hi


def scores_to_rgb(
    scores: np.ndarray,
    lo: np.ndarray | None = None,
    hi: np.ndarray | None = None,
    clip_percentile: float = 1.0,
) -> np.ndarray:
    """Scores ``(..., 3)`` -> RGB in [0, 1] ``(..., 3)``, channel c scaled linearly from lo[c] to hi[c].

    Defaults for lo/hi come from :func:`rgb_limits`; values are clipped; a channel with
    ``hi == lo`` maps to 0.5; NaN scores stay NaN (section 4.5, Figure 5).
    """
    arr = _check_rgb_scores(scores)
    if lo is None or hi is None:
        dlo, dhi = rgb_limits(arr, clip_percentile)
        lo = dlo if lo is None else lo
        hi = dhi if hi is None else hi
    lo_a, hi_a = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    for name, lim in (("lo", lo_a), ("hi", hi_a)):
        if lim.shape != (3,) or not np.all(np.isfinite(lim)):
            raise ValueError(f"{name} must be 3 finite values, got {lim!r}")
    span = hi_a - lo_a
    safe = np.where(span > 0, span, 1.0)
    rgb = np.where(span > 0, (arr - lo_a) / safe, 0.5)
    return np.clip(rgb, 0.0, 1.0)


# ---------------------------------------------------------------------------------------- recovery


def _pearson_columns(s: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of ``y`` (n,) with each column of ``s`` (n, k); NaN where either is constant."""
    sc = s - s.mean(axis=0)
    yc = y - y.mean()
    denom = np.sqrt((sc**2).sum(axis=0) * (yc**2).sum())
    num = sc.T @ yc
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(denom > 0, num / np.where(denom > 0, denom, 1.0), np.nan)
    return np.clip(r, -1.0, 1.0)


def _recovery_row(scores: np.ndarray, y: np.ndarray, name: str) -> dict:
    """One truth column against the PCs; rows with non-finite truth dropped."""
    mask = np.isfinite(y)
    s, yy = scores[mask], y[mask]
    row = {"truth": name, "max |r| (PC1-k)": np.nan, "best PC": pd.NA, "r PC1": np.nan,
           "R2 (linear on PC1-k)": np.nan, "n": int(mask.sum())}
    if yy.size < 2 or np.ptp(yy) == 0:
        return row
    r = _pearson_columns(s, yy)
    if np.isfinite(r).any():
        best = int(np.nanargmax(np.abs(r)))
        row.update({"max |r| (PC1-k)": float(abs(r[best])), "best PC": best + 1, "r PC1": float(r[0])})
    row["R2 (linear on PC1-k)"] = float(LinearRegression().fit(s, yy).score(s, yy))
    return row


def recovery_table(
    scores: np.ndarray, truth: pd.DataFrame, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """How well PCA scores ``(n, k)`` recover each hidden truth column (section 4.5, synthetic truth).

    Per column: the largest |Pearson r| with one PC and which PC (1-based), the signed r with PC1,
    the in-sample R² of an OLS fit on all k PCs, and the number of rows used (NaN truth dropped).
    Constant columns give NaN r and R².
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] < 1:
        raise ValueError(f"scores must have shape (n, k), got shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite")
    if not isinstance(truth, pd.DataFrame) or len(truth) != s.shape[0]:
        raise ValueError(f"truth must be a DataFrame with {s.shape[0]} rows, got {type(truth).__name__} "
                         f"of length {len(truth) if hasattr(truth, '__len__') else '?'}")
    if columns is None:
        columns = list(truth.select_dtypes(include=["number", "bool"]).columns)
    missing = [c for c in columns if c not in truth.columns]
    if missing:
        raise ValueError(f"columns not in truth: {missing}")
    rows = [_recovery_row(s, truth[c].to_numpy(dtype=np.float64, na_value=np.nan), str(c)) for c in columns]
    cols = ["truth", "max |r| (PC1-k)", "best PC", "r PC1", "R2 (linear on PC1-k)", "n"]
    out = pd.DataFrame(rows, columns=cols)
    out["best PC"] = out["best PC"].astype("Int64")
    return out


def recovery_by_slice(
    vectors: np.ndarray, fit: PCAFit, truth: pd.DataFrame, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """:func:`recovery_table` at each slice t of ``(C, T, d)`` with one shared ``fit`` (the per-week line)."""
    arr = np.asarray(vectors, dtype=np.float64)
    if arr.ndim != 3:
        raise ValueError(f"vectors must have shape (C, T, d), got shape {arr.shape}")
    tables = []
    for t in range(arr.shape[1]):
        tab = recovery_table(fit.transform(arr[:, t]), truth, columns)
        tab.insert(0, "slice", t)
        tables.append(tab)
    return pd.concat(tables, ignore_index=True)


# ------------------------------------------------------------------------------- region similarity


def _group_indices(groups: Mapping[str, np.ndarray], name: str, n: int) -> np.ndarray:
    if name not in groups:
        raise ValueError(f"pairs names a group not in groups: {name!r} (have {sorted(groups)})")
    idx = np.unique(np.asarray(groups[name]).ravel())
    if idx.size and (not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"groups[{name!r}] must hold integer indices in [0, {n}), got {idx[:5]!r}...")
    return idx.astype(np.int64)


def _null_means(dist: np.ndarray, n_a: int, n_b: int, same: bool, n_random: int, seed: int) -> np.ndarray:
    """Mean cross (or within, if ``same``) distance for random disjoint groups of sizes n_a, n_b."""
    n = dist.shape[0]
    rng = np.random.default_rng(seed)
    size = n_a if same else n_a + n_b
    per_draw = max(n_a * (n_a if same else n_b), n)
    chunk = max(1, min(n_random, _NULL_CHUNK_ELEMENTS // per_draw))
    out = np.empty(n_random)
    for start in range(0, n_random, chunk):
        m = min(chunk, n_random - start)
        draw = np.argsort(rng.random((m, n)), axis=1)[:, :size]  # without replacement within a draw
        ia = draw[:, :n_a]
        ib = ia if same else draw[:, n_a:]
        block = dist[ia[:, :, None], ib[:, None, :]]  # (m, n_a, n_b); diagonal is 0 when same
        pairs = n_a * (n_a - 1) if same else n_a * n_b
        out[start:start + m] = block.sum(axis=(1, 2)) / pairs
    return out


def _na_row(label: str, n_a: int, n_b: int, why: str) -> dict:
    return {"pair": label, "n_A": n_a, "n_B": n_b, "mean distance": np.nan, "random mean": np.nan,
            "ratio": np.nan, "p": np.nan, "verdict": f"n/a ({why})"}


def _pair_row(dist, a_name, b_name, ia, ib, n_random, seed) -> dict:
    label, same = f"{a_name} ~ {b_name}", a_name == b_name
    n_a, n_b = int(ia.size), int(ib.size)
    if n_a == 0 or n_b == 0:
        return _na_row(label, n_a, n_b, "no nodes in region")
    cross = ia[:, None] != ib[None, :]
    if not cross.any():
        return _na_row(label, n_a, n_b, "no pairs of distinct nodes")
    if (n_a if same else n_a + n_b) > dist.shape[0]:
        return _na_row(label, n_a, n_b, "groups larger than the set of nodes")
    observed = float(dist[np.ix_(ia, ib)][cross].mean())
    null = _null_means(dist, n_a, n_b, same, n_random, seed)
    p = (1 + int(np.sum(null <= observed))) / (1 + n_random)
    rand = float(null.mean())
    return {"pair": label, "n_A": n_a, "n_B": n_b, "mean distance": observed, "random mean": rand,
            "ratio": observed / rand if rand > 0 else np.nan, "p": p,
            "verdict": "holds" if p < 0.05 else "does not hold"}


def region_similarity(
    vectors: np.ndarray,
    groups: Mapping[str, np.ndarray],
    pairs: Sequence[tuple[str, str]],
    n_random: int = 2000,
    seed: int = 0,
    metric: str = "euclidean",
) -> pd.DataFrame:
    """Test the paper's "regions A and B embed alike" readings (section 4.5) against a random null.

    Observed = mean distance over cross pairs (a in A, b in B, a != b; within-group pairs if A == B);
    null = the same for ``n_random`` random disjoint groups of the same sizes (one seed, so the same
    draws for every pair of equal sizes); p = (1 + #null <= observed) / (1 + n_random), one-sided
    "closer than random"; verdict "holds" when p < 0.05. Uses the full (n, n) distance matrix.
    """
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {_METRICS}, got {metric!r}")
    if isinstance(n_random, bool) or not isinstance(n_random, (int, np.integer)) or n_random < 1:
        raise ValueError(f"n_random must be a positive integer, got {n_random!r}")
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"vectors must have shape (n, d), got shape {x.shape}")
    x = _as_rows(x)
    dist = cdist(x, x, metric=metric)
    np.fill_diagonal(dist, 0.0)
    rows = []
    for a_name, b_name in pairs:
        ia = _group_indices(groups, a_name, x.shape[0])
        ib = _group_indices(groups, b_name, x.shape[0])
        rows.append(_pair_row(dist, a_name, b_name, ia, ib, int(n_random), seed))
    cols = ["pair", "n_A", "n_B", "mean distance", "random mean", "ratio", "p", "verdict"]
    return pd.DataFrame(rows, columns=cols)


# ------------------------------------------------------------------------------------------- boxes


def _check_box(name: str, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    vals = tuple(float(v) for v in box)
    if len(vals) != 4 or not all(np.isfinite(vals)):
        raise ValueError(f"boxes[{name!r}] must be (lat_min, lat_max, lon_min, lon_max), got {box!r}")
    la0, la1, lo0, lo1 = vals
    if not (-90 <= la0 <= la1 <= 90 and -180 <= lo0 <= lo1 <= 180):
        raise ValueError(f"boxes[{name!r}] needs -90<=lat_min<=lat_max<=90 and "
                         f"-180<=lon_min<=lon_max<=180, got {box!r}")
    return la0, la1, lo0, lo1


def nodes_in_boxes(
    lat: np.ndarray,
    lon: np.ndarray,
    unit: np.ndarray,
    boxes: Mapping[str, tuple[float, float, float, float]],
    min_share: float = 0.5,
) -> dict[str, np.ndarray]:
    """Units (graph nodes / clusters) with at least ``min_share`` of their cells inside each named box.

    Cells at (lat, lon) belong to ``unit``; boxes are (lat_min, lat_max, lon_min, lon_max), bounds
    inclusive, lon in [-180, 180] (cell lon in (180, 360] is wrapped). Returns name -> sorted ids.
    """
    la, lo, un = (np.asarray(v).ravel() for v in (lat, lon, unit))
    if not (la.shape == lo.shape == un.shape):
        raise ValueError(f"lat, lon, unit must have one length, got {la.shape}, {lo.shape}, {un.shape}")
    la, lo = la.astype(np.float64), lo.astype(np.float64)
    if not (np.all(np.isfinite(la)) and np.all(np.isfinite(lo))):
        raise ValueError("lat and lon must be finite")
    if la.size and (np.abs(la).max() > 90 or lo.min() < -180 or lo.max() > 360):
        raise ValueError(f"lat must be in [-90, 90] and lon in [-180, 360], got lat range "
                         f"[{la.min()}, {la.max()}], lon range [{lo.min()}, {lo.max()}]")
    if not 0.0 < float(min_share) <= 1.0:
        raise ValueError(f"min_share must be in (0, 1], got {min_share!r}")
    lo = np.where(lo > 180.0, lo - 360.0, lo)
    ids, inverse = np.unique(un, return_inverse=True)
    total = np.bincount(inverse, minlength=ids.size)
    out: dict[str, np.ndarray] = {}
    for name, box in boxes.items():
        la0, la1, lo0, lo1 = _check_box(name, box)
        inside = (la >= la0) & (la <= la1) & (lo >= lo0) & (lo <= lo1)
        hits = np.bincount(inverse[inside], minlength=ids.size)
        out[name] = ids[(total > 0) & (hits >= min_share * total)]
    return out

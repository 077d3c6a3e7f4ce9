"""Stage 03 of the GPP study: train GeoHet and the baselines on one split, score them.

The split follows the paper (4.1): training years, the last training year held out for
validation and early stopping, the test year(s) for the table. Beyond the paper,
:func:`spatial_block_split` holds out whole regions, and :func:`embedding_recovery` scores
how well learned condition vectors recover the generator's hidden heterogeneity.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..config import Profile
from ..metrics import r2, rmse
from .graph import assign_new_cells, initial_node_time_embeddings
from .model import GeoHet, GeoHetConfig
from .samples import SampleCache
from .stage02 import load_stage02_graph  # noqa: F401  (notebooks call it as stage03's)


@dataclass
class Split:
    """Examples ((cell, year-position) pairs) of each part, and each cell's cluster."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    cell_cluster: np.ndarray
    description: str


def temporal_split(cache: SampleCache, train_years, test_years, cell_cluster: np.ndarray,
                   val_year: int | None = None) -> Split:
    """Paper split by year; the last training year (or ``val_year``) validates."""
    train_years = list(train_years)
    if len(train_years) < 2:
        raise ValueError("need at least two training years: one of them validates")
    val_year = train_years[-1] if val_year is None else val_year
    fit_years = [y for y in train_years if y != val_year]
    return Split(cache.examples(fit_years), cache.examples([val_year]),
                 cache.examples(list(test_years)), np.asarray(cell_cluster),
                 f"temporal: fit {fit_years[0]}-{fit_years[-1]}, validate {val_year}, "
                 f"test {list(test_years)}")


def subsample_examples(ex: np.ndarray, n: int | None, rng: np.random.Generator) -> np.ndarray:
    """``n`` of the examples drawn without replacement by ``rng``, in their original order
    (all of them when ``n`` is None or not smaller)."""
    if n is None or n >= len(ex):
        return ex
    return ex[np.sort(rng.choice(len(ex), size=n, replace=False))]


def spatial_block_split(cache: SampleCache, cells: pd.DataFrame, graph, train_years, test_years,
                        block_deg: float = 20.0, holdout_fraction: float = 0.2,
                        seed: int = 0) -> Split:
    """Whole regions unseen in training (beyond the paper).

    The globe is cut into ``block_deg`` squares; a random set of blocks holding about
    ``holdout_fraction`` of the cells is held out and tested in the test year(s). Held-out
    cells whose own cluster has no training cell take the nearest training cluster's condition.
    """
    lat, lon = cells["lat"].to_numpy(), cells["lon"].to_numpy()
    block = (np.floor((lat + 90) / block_deg) * 1000 + np.floor((lon + 180) / block_deg)).astype(int)
    ids = np.unique(block)
    rng = np.random.default_rng(seed)
    held, count = [], 0
    for b in rng.permutation(ids):
        if count >= holdout_fraction * len(cells):
            break
        held.append(b)
        count += int((block == b).sum())
    test_mask = np.isin(block, held)
    train_cells, test_cells = np.flatnonzero(~test_mask), np.flatnonzero(test_mask)
    cluster = graph.cell_cluster.cpu().numpy().copy()
    train_clusters = np.unique(cluster[train_cells])
    orphan = test_cells[~np.isin(cluster[test_cells], train_clusters)]
    if orphan.size:
        cluster[orphan] = assign_new_cells(lat[orphan], lon[orphan], graph,
                                           allowed_clusters=train_clusters)
    train_years = list(train_years)
    val_year = train_years[-1]
    fit_years = train_years[:-1]
    return Split(cache.examples(fit_years, train_cells), cache.examples([val_year], train_cells),
                 cache.examples(list(test_years), test_cells), cluster,
                 f"spatial blocks of {block_deg:g} deg: {len(test_cells)} of {len(cells)} cells "
                 f"held out ({len(held)} blocks), {orphan.size} reassigned to a training cluster")


def make_geohet(profile: Profile, graph, n_features: int, **switches: Any
                ) -> tuple[GeoHet, GeoHetConfig]:
    """GeoHet sized by the profile, initialised from ``graph`` (stage 02's, or a variant's).

    ``switches`` replace :class:`~geohet_lib.gpp.model.GeoHetConfig` fields beyond the sizes
    (``use_graph``, ``dual_attention``, ``query_skip``, ``decoder``, ``node_init``,
    ``freeze_nodes``, ``dropout``); none = the paper's model.
    """
    g = profile.gpp
    cfg = GeoHetConfig(n_features=n_features, d_model=g.d_model, n_tokens=g.n_tokens,
                       enc_layers=g.enc_layers, dec_layers=g.dec_layers, n_heads=g.n_heads,
                       **switches)
    init = torch.as_tensor(initial_node_time_embeddings(graph), dtype=torch.float32)
    model = GeoHet(cfg, init, graph.edge_index, graph.edge_weight.float())
    return model, cfg


def score(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """RMSE and R2 over every sample."""
    return {"rmse": rmse(y.ravel(), pred.ravel()), "r2": r2(y.ravel(), pred.ravel())}


def rmse_per_cell(pred: np.ndarray, y: np.ndarray, examples: np.ndarray,
                  n_cells: int) -> np.ndarray:
    """Test RMSE of each cell (NaN for cells without test examples)."""
    se = ((pred - y) ** 2).mean(axis=1)
    tot = np.bincount(examples[:, 0], weights=se, minlength=n_cells)
    cnt = np.bincount(examples[:, 0], minlength=n_cells)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(tot / cnt)


_BOOSTING = ("LightGBM", "LightGBMLarge", "LightGBMXT", "XGBoost")
_DEEP = ("TabNet", "ExcelFormer", "ResNet", "FTTransformer")


def baseline_settings(profile: str) -> tuple[dict[str, dict], dict[str, int]]:
    """Per-profile baseline configurations: (overrides per method, training-row cap per method).

    ``paper``: the library defaults (AutoGluon 1.1.1 / PyTorch-Frame settings of the paper, all
    rows). ``default`` and ``smoke`` cap boosting rounds and epochs, shrink the deep tabular
    models (fewer channels and layers) and cap the training rows of the models whose cost grows
    fastest with rows (random forest, KNN, deep tabular), so the chain fits a 2-core CPU.
    Every value is printed by notebook 03 beside the results.
    """
    if profile == "paper":
        return {}, {}
    small = profile == "smoke"
    rounds = 20 if small else 300
    ov: dict[str, dict] = {m: {"num_boost_round": rounds} for m in _BOOSTING}
    ov["CatBoost"] = {"iterations": rounds}
    ov["RandomForestMSE"] = {"n_estimators": 10 if small else 50}
    ov["MLP"] = {"epochs": 1 if small else 4, "progress": False}
    width, depth = (16, 1) if small else (64, 2)
    for m in _DEEP:
        ov[m] = {"epochs": 1 if small else 2, "progress": False, "channels": width,
                 "num_layers": depth}
    ov["ExcelFormer"].update(num_heads=2 if small else 4, max_mi_rows=2000 if small else 10_000)
    rows = {m: (2000 if small else 100_000) for m in ("RandomForestMSE", "KNeighborsUnif",
                                                      "KNeighborsDist")}
    rows.update({m: (2000 if small else 30_000) for m in _DEEP})
    return ov, rows


def run_baselines(names: list[str], cache: SampleCache, split: Split, seed: int = 0,
                  device: str = "cpu", overrides: dict[str, dict] | None = None,
                  max_train_rows: dict[str, int] | None = None, progress: bool = True
                  ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Fit every named baseline on the flattened training cell-steps, score on the test split.

    ``max_train_rows`` caps the training rows of some methods (seeded subsample); the test
    set is never subsampled. Returns (results table, test predictions per method).
    """
    from ..baselines import available_baselines, make_baseline

    avail = available_baselines()
    x_tr, y_tr = cache.gather(split.train)
    x_va, y_va = cache.gather(split.val)
    x_te, y_te = cache.gather(split.test)
    f = x_tr.shape[-1]
    x_tr, y_tr = x_tr.reshape(-1, f), y_tr.ravel()
    x_va, y_va, x_te = x_va.reshape(-1, f), y_va.ravel(), x_te.reshape(-1, f)
    rows, preds = [], {}
    for name in names:
        status = avail.get(name, f"unknown baseline {name!r}")
        if status != "ok":
            rows.append({"method": name, "rmse": np.nan, "r2": np.nan, "fit_seconds": np.nan,
                         "note": f"unavailable: {status}"})
            continue
        model = make_baseline(name, seed=seed, device=device, **(overrides or {}).get(name, {}))
        xm, ym = x_tr, y_tr
        cap = (max_train_rows or {}).get(name)
        if cap is not None and len(y_tr) > cap:
            keep = np.sort(np.random.default_rng(seed).choice(len(y_tr), cap, replace=False))
            xm, ym = x_tr[keep], y_tr[keep]
        t0 = time.perf_counter()
        model.fit(xm, ym, x_va, y_va)
        fit_s = time.perf_counter() - t0
        p = np.asarray(model.predict(x_te), dtype=np.float64).reshape(y_te.shape)
        preds[name] = p
        rows.append({"method": name, **score(p, y_te), "fit_seconds": fit_s,
                     "note": f"{len(ym):,} training rows"})
        if progress:
            print(f"{name:16s} RMSE {rows[-1]['rmse']:.3f}  R2 {rows[-1]['r2']:.3f}  "
                  f"fit {fit_s:.1f} s", flush=True)
    return pd.DataFrame(rows), preds


def cluster_means(values: pd.DataFrame, cell_cluster: np.ndarray, n_clusters: int) -> pd.DataFrame:
    """Mean of each column over the cells of each cluster."""
    df = values.copy()
    df["cluster"] = cell_cluster
    return df.groupby("cluster").mean().reindex(range(n_clusters))


def embedding_recovery(vectors: np.ndarray, truth: pd.DataFrame, cell_cluster: np.ndarray,
                       columns: tuple[str, ...], n_components: int = 3) -> pd.DataFrame:
    """How well the leading principal components of per-cluster vectors recover the truth.

    ``vectors`` (clusters, steps, d) or (clusters, d) are averaged over steps, reduced by PCA;
    for every ground-truth column (averaged per cluster) we report the largest absolute
    Pearson correlation with one of the first ``n_components`` PCs, and the R2 of a linear
    regression of the column on those PCs.
    """
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LinearRegression

    v = vectors.mean(axis=1) if vectors.ndim == 3 else vectors
    pcs = PCA(n_components=n_components, random_state=0).fit_transform(v - v.mean(0))
    gt = cluster_means(truth[list(columns)], cell_cluster, len(v))
    ok = gt.notna().all(axis=1).to_numpy()
    rows = []
    for col in columns:
        t = gt[col].to_numpy()[ok]
        cors = [abs(np.corrcoef(pcs[ok, k], t)[0, 1]) for k in range(n_components)]
        r2_lin = LinearRegression().fit(pcs[ok], t).score(pcs[ok], t)
        rows.append({"truth": col, "max |corr| with PC1-3": max(cors),
                     "best PC": int(np.argmax(cors)) + 1, "R2 on PC1-3": r2_lin})
    return pd.DataFrame(rows)


def train_and_test(profile: Profile, graph, cache: SampleCache, split: Split, seed: int,
                   device, checkpoint_dir: str | Path | None = None, resume: bool = False,
                   use_graph: bool = True, dual_attention: bool = True, progress: bool = True,
                   query_skip: bool = False, devices: int = 1, num_nodes: int = 1):
    """Build GeoHet for ``profile``, train it on ``split`` and predict the test examples
    (``use_graph``, ``dual_attention``, ``query_skip``: :class:`GeoHetConfig` switches;
    ``devices``, ``num_nodes``: DDP processes per machine and machines, the profile's batch
    split evenly over them).

    Returns ``(model, history, y_scale, test_predictions (n, 46), fit_seconds)``.
    """
    from .train import TrainConfig, fit, predict

    g = profile.gpp
    torch.manual_seed(seed)
    model, mcfg = make_geohet(profile, graph, cache.features.shape[-1], use_graph=use_graph,
                              dual_attention=dual_attention, query_skip=query_skip)
    tc = TrainConfig(epochs=g.epochs, batch_size=g.batch_size, patience=g.patience, seed=seed)
    t0 = time.perf_counter()
    model, hist, y_scale = fit(model, cache, split.train, split.val, split.cell_cluster, tc,
                               device=device, checkpoint_dir=checkpoint_dir, resume=resume,
                               model_config=mcfg.to_dict(), progress=progress, devices=devices,
                               num_nodes=num_nodes)
    fit_s = time.perf_counter() - t0
    pred = predict(model, cache, split.test, split.cell_cluster, y_scale, device=device)
    return model, hist, y_scale, pred, fit_s

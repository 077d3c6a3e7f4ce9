"""Benchmark: LightGBM baseline fit time on a synthetic float32 array (GPP paper, Fig. 2 baselines).

Builds an ``(rows, features)`` float32 array (26 ERA5-like features by default) with a nonlinear
target, fits one of the LightGBM presets of :mod:`geohet_lib.baselines` with a fixed number of
boosting rounds, and reports wall time, peak resident memory (``ru_maxrss``) and how much of it
the data itself accounts for -- a check that the wrapper does not copy the array. Usage::

    python benchmarks/bench_lightgbm.py --rows 2000000 [--features 26] [--preset LightGBMLarge] \
        [--rounds 200] [--threads -1] [--val-rows 100000] [--json out.json]

With ``--val-rows > 0`` a separate validation array drives AutoGluon's adaptive early stopping
(``--rounds`` is then the cap). Without it no holdout is carved (``holdout_frac=None``).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from geohet_lib.baselines import make_baseline
from geohet_lib.metrics import r2, rmse
from geohet_lib.runtime import peak_rss_gib


def synthetic(rows: int, features: int, seed: int, chunk: int = 1_000_000) -> tuple[np.ndarray, np.ndarray]:
    """float32 X ~ N(0, 1) and y = smooth nonlinear function + noise, generated in row chunks."""
    rng = np.random.default_rng(seed)
    X = np.empty((rows, features), dtype=np.float32)
    y = np.empty(rows, dtype=np.float32)
    for i in range(0, rows, chunk):
        n = min(chunk, rows - i)
        xb = rng.standard_normal((n, features), dtype=np.float32)
        X[i : i + n] = xb
        yb = np.sin(2 * xb[:, 0]) + xb[:, 1] ** 2 + 0.5 * xb[:, 2] * xb[:, 3]
        if features > 5:
            yb += 0.3 * np.tanh(xb[:, 4] + xb[:, 5])
        y[i : i + n] = yb + 0.1 * rng.standard_normal(n, dtype=np.float32)
    return X, y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=26)
    ap.add_argument("--preset", default="LightGBM", choices=["LightGBM", "LightGBMLarge", "LightGBMXT"])
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--threads", type=int, default=-1)
    ap.add_argument("--val-rows", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the result here")
    args = ap.parse_args()

    t0 = time.perf_counter()
    X, y = synthetic(args.rows, args.features, args.seed)
    Xv = yv = None
    if args.val_rows > 0:
        Xv, yv = synthetic(args.val_rows, args.features, args.seed + 1)
    t_data = time.perf_counter() - t0
    rss_data = peak_rss_gib()

    model = make_baseline(args.preset, seed=args.seed, num_boost_round=args.rounds, n_jobs=args.threads, holdout_frac=None)
    t1 = time.perf_counter()
    model.fit(X, y, Xv, yv)
    t_fit = time.perf_counter() - t1
    t2 = time.perf_counter()
    pred = model.predict(X[:200_000])
    t_pred = time.perf_counter() - t2

    data_gib = (X.nbytes + y.nbytes) / 2**30
    res = {
        "preset": args.preset,
        "rows": args.rows,
        "features": args.features,
        "rounds_cap": args.rounds,
        "rounds_used": model.fit_info_["n_rounds"],
        "threads": args.threads,
        "data_gib": round(data_gib, 3),
        "gen_seconds": round(t_data, 2),
        "fit_seconds": round(t_fit, 2),
        "fit_us_per_row_round": round(1e6 * t_fit / (args.rows * model.fit_info_["n_rounds"]), 4),
        "predict_200k_seconds": round(t_pred, 2),
        "peak_rss_after_data_gib": round(rss_data, 3),
        "peak_rss_gib": round(peak_rss_gib(), 3),
        "train_rmse_first_200k": round(rmse(y[:200_000], pred), 4),
        "train_r2_first_200k": round(r2(y[:200_000], pred), 4),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(json.dumps(res, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)


if __name__ == "__main__":
    main()

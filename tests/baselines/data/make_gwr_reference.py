"""Write the saved mgwr output the GWR equality tests compare against (mgwr's own run).

Synthetic set: 3,000 points on (lon, lat) over a continent-sized box (great-circle distances),
10 covariates, coefficients that vary smoothly in space (so the AICc optimum is an interior
neighbour count), Gaussian noise. mgwr 2.2.1 selects the adaptive bisquare bandwidth by
golden-section AICc (``Sel_BW``) and fits ``mgwr.gwr.GWR``; its bandwidth, AICc, tr(S),
coefficients, standard errors and hat diagonal are saved with the data (``.npz``), so the test
does not need mgwr's minutes-long run. Rerun after an mgwr upgrade:

    python tests/baselines/data/make_gwr_reference.py
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("gwr_synthetic_3000x10_mgwr.npz")


def synthetic(n: int = 3000, k: int = 10, seed: int = 0):
    """(lon, lat) coords, X (n, k), y with spatially varying coefficients."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(-10.0, 30.0, n)
    lat = rng.uniform(35.0, 60.0, n)
    X = rng.normal(size=(n, k))
    u, v = (lon + 10.0) / 40.0, (lat - 35.0) / 25.0
    beta = np.stack([np.sin(np.pi * (j + 1) * u / 3.0) + np.cos(np.pi * v * (1 + j % 3))
                     for j in range(k + 1)], axis=1)
    y = beta[:, 0] + np.einsum("ij,ij->i", X, beta[:, 1:]) + 0.5 * rng.normal(size=n)
    return np.c_[lon, lat], X, y


def main() -> None:
    import mgwr
    from mgwr.gwr import GWR
    from mgwr.sel_bw import Sel_BW

    coords, X, y = synthetic()
    t0 = time.perf_counter()
    bw = Sel_BW(coords, y[:, None], X, kernel="bisquare", fixed=False, spherical=True,
                n_jobs=1).search(criterion="AICc")
    res = GWR(coords, y[:, None], X, bw, kernel="bisquare", fixed=False, spherical=True,
              n_jobs=1).fit()
    secs = time.perf_counter() - t0
    np.savez_compressed(OUT, coords=coords, X=X, y=y, bw=float(bw), aicc=float(res.aicc),
                        tr_S=float(res.tr_S), params=res.params, bse=res.bse,
                        influ=res.influ.ravel(), mgwr_version=mgwr.__version__, seconds=secs)
    print(f"bw={bw} AICc={res.aicc:.6f} tr(S)={res.tr_S:.6f} in {secs:.0f} s -> {OUT}")


if __name__ == "__main__":
    main()

"""Stage 06's shared residual diagnostics (geohet_lib/uq/residuals.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.diagnostic import het_breuschpagan
from statsmodels.tools import add_constant

from geohet_lib.uq import residuals as rd


def test_gof_row_equals_the_library_calls():
    rng = np.random.default_rng(0)
    n = 300
    sigma = rng.uniform(0.5, 2.0, size=n)
    mu = rng.normal(size=n)
    y = mu + sigma * rng.normal(size=n)
    row = rd.gof_row(y, mu, sigma)
    z = (y - mu) / sigma
    sw = stats.shapiro(z)
    assert row["Shapiro-Wilk W"] == sw.statistic and row["Shapiro-Wilk p"] == sw.pvalue
    lm, p, _, _ = het_breuschpagan(z, add_constant(sigma))
    assert row["BP z2~sigma LM"] == lm and row["BP z2~sigma p"] == p
    assert abs(row["mean(z)"]) < 0.2 and abs(row["var(z)"] - 1) < 0.2
    assert row["Cov@95 (Gauss)"] > 0.9 and row["Cov@95 (VP)"] >= row["Cov@95 (Gauss)"]


def test_gof_claims_read_the_tests_at_five_percent():
    row = {"Shapiro-Wilk W": 0.93, "Shapiro-Wilk p": 1e-10, "BP z2~sigma p": 0.001,
           "BP z2~mu p": 0.5, "Cov@95 (VP)": 0.98, "Cov@95 (Gauss)": 0.91, "var(z)": 1.2}
    claims = {c["claim"]: c["verdict"] for c in rd.gof_claims("h", row, sigma_not_mu=True)}
    assert claims["fails Shapiro-Wilk (z not Gaussian)"] == "holds"
    assert claims["z2 depends on sigma, not on mu"] == "holds"
    assert claims["coverage above 95 % means conservative, not over-confident"].startswith(
        "does not hold: the VP interval over-covers")
    rev = {c["claim"]: c["verdict"] for c in rd.gof_claims("b", row, sigma_not_mu=False)}
    assert rev["z2 depends on mu, not on sigma"] == "does not hold"
    ok = dict(row, **{"Cov@95 (Gauss)": 0.97, "var(z)": 0.9})
    assert rd.gof_claims("b", ok, None)[-1]["verdict"] == "holds"


def _grid(field):
    lat, lon = np.meshgrid(np.linspace(-10, 10, 15), np.linspace(20, 40, 15), indexing="ij")
    return pd.DataFrame({"lat": lat.ravel(), "lon": lon.ravel(), "y": field(lat, lon).ravel(),
                         "mu": 0.0, "sigma": 1.0})


def test_spatial_rows_find_clustered_errors_and_not_noise():
    smooth = _grid(lambda la, lo: np.sin(la / 4) + np.cos(lo / 5))
    row, lisa = rd.spatial_rows(smooth, k=6, permutations=199)
    assert row["Moran's I (residual)"] > 0.5 and row["independence (paper's assumption)"].startswith("does not hold")
    assert row["LISA HH (FDR)"] + row["LISA LL (FDR)"] > 0 and len(lisa) == len(smooth)
    rng = np.random.default_rng(1)
    noise = _grid(lambda la, lo: rng.normal(size=la.shape))
    row_n, _ = rd.spatial_rows(noise, k=6, permutations=199)
    assert abs(row_n["Moran's I (residual)"] - row_n["E[I]"]) < 0.1
    # z given directly (a cell's mean z) is used as given
    noise["z"] = smooth["y"]
    row_z, _ = rd.spatial_rows(noise, k=6, permutations=199)
    assert row_z["Moran's I (z)"] == row["Moran's I (z)"]

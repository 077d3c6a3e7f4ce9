"""Stage 06's residual diagnostics of a calibrated ensemble, shared by both studies
(SOC paper 5.6, Table 12; and the spatial independence its limitations section assumes).

Input: stage 05's saved predictions, one row per test point with ``y``, ``mu``, the calibrated
``sigma``, ``lat`` and ``lon``. On the standardised residuals ``z = (y - mu) / sigma``:
Shapiro–Wilk, Breusch–Pagan of ``z**2`` on ``sigma`` and on ``mu``, the moments of ``z`` and
the coverage of the 95 % intervals (Table 12); then global and local Moran's I of the
residuals on a k-nearest-neighbour graph of the points.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .diagnostics import (breusch_pagan, local_morans, morans_i, shapiro_wilk,
                          standardised_residuals, weights_knn)
from .metrics import gaussian_multiplier, interval_coverage, vp_multiplier

ALPHA = 0.05


def gof_row(y: np.ndarray, mu: np.ndarray, sigma: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Table 12's statistics of one ensemble (``sigma`` calibrated)."""
    z = standardised_residuals(y, mu, sigma)
    sw = shapiro_wilk(z, seed=seed)
    bp_s, bp_m = breusch_pagan(z, sigma), breusch_pagan(z, mu)
    return {"n": int(z.size), "Shapiro-Wilk W": sw["W"], "Shapiro-Wilk p": sw["p"],
            "Shapiro-Wilk n used": sw["n"],
            "BP z2~sigma LM": bp_s["LM"], "BP z2~sigma p": bp_s["p"],
            "BP z2~mu LM": bp_m["LM"], "BP z2~mu p": bp_m["p"],
            "mean(z)": float(z.mean()), "var(z)": float(z.var(ddof=1)),
            "Cov@95 (VP)": interval_coverage(y, mu, sigma, vp_multiplier(ALPHA)),
            "Cov@95 (Gauss)": interval_coverage(y, mu, sigma, gaussian_multiplier(ALPHA))}


def gof_claims(name: str, row: Mapping[str, float], sigma_not_mu: bool | None) -> list[dict]:
    """The paper's reading of Table 12 for one ensemble, judged at the 5 % level.

    ``sigma_not_mu``: True when the paper says z² depends on sigma and not on mu (its hybrid),
    False for the reverse (its beta-NLL), None to skip that claim.
    """
    rows = [{"ensemble": name, "claim": "fails Shapiro-Wilk (z not Gaussian)",
             "this run": f"W = {row['Shapiro-Wilk W']:.3f}, p = {row['Shapiro-Wilk p']:.2g}",
             "verdict": "holds" if row["Shapiro-Wilk p"] < ALPHA else "does not hold"}]
    if sigma_not_mu is not None:
        dep_s, dep_m = row["BP z2~sigma p"] < ALPHA, row["BP z2~mu p"] < ALPHA
        want = (True, False) if sigma_not_mu else (False, True)
        what = ("z2 depends on sigma, not on mu" if sigma_not_mu
                else "z2 depends on mu, not on sigma")
        rows.append({"ensemble": name, "claim": what,
                     "this run": f"BP p(sigma) = {row['BP z2~sigma p']:.3g}, "
                                 f"p(mu) = {row['BP z2~mu p']:.3g}",
                     "verdict": "holds" if (dep_s, dep_m) == want else "does not hold"})
    cov_vp, cov_g, vz = row["Cov@95 (VP)"], row["Cov@95 (Gauss)"], row["var(z)"]
    conservative = cov_vp >= 0.95 and cov_g >= 0.95 and vz <= 1.0
    rows.append({"ensemble": name,
                 "claim": "coverage above 95 % means conservative, not over-confident",
                 "this run": f"VP {cov_vp:.3f}, Gaussian {cov_g:.3f}, var(z) = {vz:.2f}",
                 "verdict": "holds" if conservative else (
                     "does not hold: the VP interval over-covers by its wide multiplier, while "
                     "the Gaussian interval or var(z) > 1 shows sigma too small"
                     if cov_vp >= 0.95 else "does not hold: under-covers")})
    return rows


def spatial_rows(frame: pd.DataFrame, k: int, permutations: int = 999, seed: int = 0
                 ) -> tuple[dict[str, float], pd.DataFrame]:
    """Global Moran's I of the residual ``y - mu`` and of ``z`` on a k-NN graph of the points
    (row-standardised), and the local Moran's I (LISA, FDR-corrected) of the residual.
    ``frame``: ``lat``, ``lon``, ``y``, ``mu`` and ``sigma`` (or ``z`` itself)."""
    w = weights_knn(frame["lat"].to_numpy(), frame["lon"].to_numpy(), k=k)
    resid = (frame["y"] - frame["mu"]).to_numpy()
    z = (frame["z"].to_numpy() if "z" in frame  # e.g. a cell's mean z over its time steps
         else standardised_residuals(frame["y"].to_numpy(), frame["mu"].to_numpy(),
                                     frame["sigma"].to_numpy()))
    gr, gz = morans_i(resid, w, permutations, seed), morans_i(z, w, permutations, seed)
    lisa = local_morans(resid, w, permutations, seed, ALPHA)
    counts = lisa.loc[lisa["significant"], "label"].value_counts()
    row = {"n": len(frame), "k": k, "Moran's I (residual)": gr["I"], "E[I]": gr["EI"],
           "p_sim (residual)": gr["p_sim"], "Moran's I (z)": gz["I"], "p_sim (z)": gz["p_sim"],
           **{f"LISA {lab} (FDR)": int(counts.get(lab, 0)) for lab in ("HH", "LL", "HL", "LH")},
           "independence (paper's assumption)":
               "holds (not rejected at 5 %)" if gr["p_sim"] >= ALPHA and gz["p_sim"] >= ALPHA
               else "does not hold (rejected at 5 %)"}
    return row, lisa

"""Stage 05's evaluation of a deep ensemble, shared by both studies (SOC paper 5.3-5.4).

From the members' predictive means and variances (``(M, N)`` arrays) on a validation and a
test split: the ensemble by the law of total variance (Eq. 6), the temperature fitted on the
validation split (Eq. 7), the calibration metrics before and after with paired bootstrap CIs
(Table 7), the decomposition (Table 8), post-hoc member subsets (Table 9), and the
distribution-free comparators (Vysochanskij–Petunin and split-conformal intervals).
Every metric is computed on the scale the members predict (SOC: the standardised log target,
as the paper's Tables 7-9).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .bootstrap import bootstrap_ci
from .conformal import conformal_interval, conformal_quantile
from .ensemble import EnsemblePrediction, aggregate, member_subsets
from .metrics import (crps_gaussian, ece, error_sigma_correlation, gaussian_multiplier, gaussian_nll,
                      interval_coverage, interval_width, uq_metrics, vp_multiplier)
from .temperature import fit_temperature

#: metrics with a bootstrap CI in the calibration table (the paper's Table 7 brackets ECE)
CI_METRICS: tuple[str, ...] = ("ECE", "NLL", "CRPS", "Cov@95 (VP)", "MPIW@95 (VP)")


@dataclass
class Calibrated:
    """An ensemble on one split with its temperature: ``pred`` (uncalibrated) and ``t``."""

    y: np.ndarray
    pred: EnsemblePrediction
    t: float

    @property
    def sigma_pre(self) -> np.ndarray:
        return self.pred.sigma

    @property
    def sigma_post(self) -> np.ndarray:
        return self.pred.sigma * self.t


def temperature_for(y_val: np.ndarray, val: EnsemblePrediction, beta: float | None = None
                    ) -> float:
    """Eq. (7)'s T on the validation split: the Gaussian NLL of ``T * sigma_total`` minimised;
    for a beta-NLL ensemble (``beta``) with its weight ``sigma**(2 beta)`` of the uncalibrated
    sigma held constant."""
    w = None if beta is None else val.sigma ** (2.0 * beta)
    return fit_temperature(y_val, val.mean, val.sigma, weights=w)


def _metric_fn(key: str, alpha: float) -> Callable[[np.ndarray, np.ndarray, np.ndarray], float]:
    """The one metric ``key`` of :func:`uq_metrics` (without computing the others)."""
    vp, gauss = vp_multiplier(alpha), gaussian_multiplier(alpha)
    fns = {"ECE": ece, "NLL": gaussian_nll, "CRPS": crps_gaussian,
           "RMSE": lambda y, mu, s: float(np.sqrt(np.mean((y - mu) ** 2))),
           "Cov@95 (VP)": lambda y, mu, s: interval_coverage(y, mu, s, vp),
           "MPIW@95 (VP)": lambda y, mu, s: interval_width(s, vp),
           "Cov@95 (Gauss)": lambda y, mu, s: interval_coverage(y, mu, s, gauss),
           "MPIW@95 (Gauss)": lambda y, mu, s: interval_width(s, gauss)}
    if key in fns:
        return fns[key]
    return lambda y, mu, s: uq_metrics(y, mu, s, alpha)[key]


def metric_cis(y: np.ndarray, mu: np.ndarray, sigma: np.ndarray, keys: Sequence[str],
               n_resamples: int = 1000, seed: int = 0, alpha: float = 0.05,
               groups: np.ndarray | None = None) -> dict[str, tuple[float, float]]:
    """Paired percentile bootstrap 95 % CIs of ``keys`` of :func:`uq_metrics` over test
    resamples; with ``groups`` whole groups are resampled (e.g. the 46 steps of a cell-year,
    which are not independent)."""
    out = {}
    for k in keys:
        f = _metric_fn(k, alpha)
        out[k] = grouped_ci(lambda idx, f=f: f(y[idx], mu[idx], sigma[idx]), len(y),
                            n_resamples, seed, groups)
    return out


def grouped_ci(stat_of_index: Callable[[np.ndarray], float], n: int, n_resamples: int,
               seed: int, groups: np.ndarray | None = None) -> tuple[float, float]:
    """Bootstrap CI of a statistic of row indices: rows resampled (paired), or whole groups."""
    if groups is None:
        return bootstrap_ci(lambda i: stat_of_index(i.astype(np.int64)), np.arange(n),
                            n_resamples=n_resamples, seed=seed)
    groups = np.asarray(groups)
    _, inv = np.unique(groups, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    bounds = np.searchsorted(inv[order], np.arange(inv.max() + 2))
    members = [order[bounds[g]:bounds[g + 1]] for g in range(inv.max() + 1)]
    return bootstrap_ci(lambda g: stat_of_index(np.concatenate([members[int(j)] for j in g])),
                        np.arange(len(members)), n_resamples=n_resamples, seed=seed)


def calibration_table(cal: Calibrated, n_resamples: int = 1000, seed: int = 0,
                      ci_keys: Sequence[str] = CI_METRICS, alpha: float = 0.05,
                      groups: np.ndarray | None = None) -> pd.DataFrame:
    """Table 7 for one ensemble: rows = metrics, columns ``pre-cal``, ``post-cal`` and their
    CIs (``[low, high]`` strings), plus the temperature in the column names' caption."""
    rows = {}
    for stage, sigma in (("pre-cal", cal.sigma_pre), ("post-cal", cal.sigma_post)):
        m = uq_metrics(cal.y, cal.pred.mean, sigma, alpha)
        cis = metric_cis(cal.y, cal.pred.mean, sigma, ci_keys, n_resamples, seed, alpha, groups)
        rows[stage] = m
        rows[f"{stage} 95% CI"] = {k: f"[{lo:.3f}, {hi:.3f}]" for k, (lo, hi) in cis.items()}
    return pd.DataFrame(rows)


def ece_drop_ci(cal: Calibrated, n_resamples: int = 1000, seed: int = 0,
                groups: np.ndarray | None = None) -> tuple[float, float, float]:
    """ECE(pre) - ECE(post) on the test split and its paired bootstrap CI."""
    y, mu, s0, s1 = cal.y, cal.pred.mean, cal.sigma_pre, cal.sigma_post

    def drop(i: np.ndarray) -> float:
        return ece(y[i], mu[i], s0[i]) - ece(y[i], mu[i], s1[i])

    lo, hi = grouped_ci(drop, len(y), n_resamples, seed, groups)
    return drop(np.arange(len(y))), lo, hi


def decomposition(cal: Calibrated, n_resamples: int = 1000, seed: int = 0,
                  groups: np.ndarray | None = None) -> dict[str, float | str]:
    """Table 8 for one ensemble: mean aleatoric, epistemic and total variance before the
    temperature ("raw"; T² scales all three alike, the fraction not at all), the epistemic
    fraction with CIs, and r(|err|, sigma) of the calibrated sigma."""
    p = cal.pred
    ep, tot = p.epistemic, p.total
    ci_ep = grouped_ci(lambda i: float(ep[i].mean()), len(ep), n_resamples, seed, groups)
    ci_fr = grouped_ci(lambda i: float(ep[i].mean() / tot[i].mean()), len(ep), n_resamples,
                       seed, groups)
    r = error_sigma_correlation(cal.y, p.mean, cal.sigma_post)
    return {"Aleatoric variance (raw)": float(p.aleatoric.mean()),
            "Epistemic variance (raw)": float(ep.mean()),
            "Epistemic variance 95% CI": f"[{ci_ep[0]:.3f}, {ci_ep[1]:.3f}]",
            "Total variance (raw)": float(tot.mean()),
            "Epistemic fraction": p.epistemic_fraction,
            "Epistemic fraction 95% CI": f"[{ci_fr[0]:.3f}, {ci_fr[1]:.3f}]",
            "Pearson r(|err|,sigma)": r["pearson"], "Spearman r(|err|,sigma)": r["spearman"]}


def size_sweep(y: np.ndarray, means: np.ndarray, variances: np.ndarray,
               to_original: Callable[[np.ndarray], np.ndarray] | None = None,
               y_original: np.ndarray | None = None, alpha: float = 0.05,
               ddof: int = 1) -> pd.DataFrame:
    """Table 9 / Figures 12-13: for M = 1 … n_members, the metrics of **every** subset of M
    members (no retraining, no temperature), their mean and sd over the subsets.

    RMSE, NLL, ECE, Cov@95 (VP) and the epistemic fraction on the members' scale; MAPE (%)
    on the original scale when ``to_original`` and ``y_original`` are given.
    """
    rows = []
    n_members = means.shape[0]
    for m in range(1, n_members + 1):
        for subset in member_subsets(n_members, m):
            idx = list(subset)
            p = aggregate(means[idx], variances[idx], ddof=ddof)
            rec = {"M": m, "subset": ",".join(map(str, subset)),
                   "RMSE": float(np.sqrt(np.mean((y - p.mean) ** 2))),
                   "NLL": gaussian_nll(y, p.mean, p.sigma), "ECE": ece(y, p.mean, p.sigma),
                   "Cov@95 (VP)": interval_coverage(y, p.mean, p.sigma, vp_multiplier(alpha)),
                   "Epistemic frac.": p.epistemic_fraction}
            if to_original is not None and y_original is not None:
                pred = to_original(p.mean)
                rec["MAPE"] = float(np.mean(np.abs(pred - y_original) / np.abs(y_original)) * 100)
            rows.append(rec)
    return pd.DataFrame(rows)


def summarise_sizes(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over member subsets of each M (columns ``<metric>``, ``<metric> sd``)."""
    metrics = [c for c in runs.columns if c not in ("M", "subset")]
    g = runs.groupby("M")
    out = g[metrics].mean()
    sd = g[metrics].std(ddof=1).add_suffix(" sd")
    out = pd.concat([out, sd], axis=1)
    out["subsets"] = g.size()
    return out.reset_index()


def interval_comparison(y_val: np.ndarray, val_mu: np.ndarray, val_sigma: np.ndarray,
                        y_test: np.ndarray, test_mu: np.ndarray, test_sigma: np.ndarray,
                        alpha: float = 0.05) -> pd.DataFrame:
    """Coverage and mean width of three 1 - alpha intervals on the test split: Gaussian
    (``z_{1-alpha/2} sigma``), Vysochanskij–Petunin (``sqrt(4 / (9 alpha)) sigma``) and
    split-conformal (normalised score ``|y - mu| / sigma``, its quantile on the validation
    split), all from the same calibrated sigma."""
    q = conformal_quantile(y_val, val_mu, val_sigma, alpha)
    lo, hi = conformal_interval(test_mu, test_sigma, q)
    rows = []
    for name, k in (("Gaussian", gaussian_multiplier(alpha)), ("Vysochanskij-Petunin",
                                                                vp_multiplier(alpha))):
        rows.append({"interval": name, "multiplier of sigma": k,
                     "coverage": interval_coverage(y_test, test_mu, test_sigma, k),
                     "mean width": interval_width(test_sigma, k)})
    rows.append({"interval": "split conformal (normalised)", "multiplier of sigma": q,
                 "coverage": float(np.mean((y_test >= lo) & (y_test <= hi))),
                 "mean width": float(np.mean(hi - lo))})
    return pd.DataFrame(rows).assign(target=1 - alpha)


def shift_rows(parts: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]], t: float,
               alpha: float = 0.05) -> pd.DataFrame:
    """Calibration under spatial shift: the validation-fitted ``t`` applied to each part's
    (y, mu, sigma_uncalibrated); one row per part with coverage, ECE and NLL."""
    rows = []
    for name, (y, mu, sigma) in parts.items():
        m = uq_metrics(y, mu, sigma * t, alpha)
        rows.append({"split": name, "n": int(len(y)), "T (validation)": t,
                     **{k: m[k] for k in ("RMSE", "ECE", "NLL", "Cov@95 (VP)",
                                          "Cov@95 (Gauss)", "MPIW@95 (VP)")},
                     "T refitted on this split": fit_temperature(y, mu, sigma)})
    return pd.DataFrame(rows)


def ci_verdict(lo: float, hi: float, what: str) -> str:
    """A difference's bootstrap CI: above 0 -> holds, across 0 -> within noise."""
    if lo > 0:
        return f"{what}: holds (95% CI of the difference [{lo:.3f}, {hi:.3f}] above 0)"
    if hi < 0:
        return f"{what}: does not hold (95% CI [{lo:.3f}, {hi:.3f}] below 0)"
    return f"{what}: within noise (95% CI [{lo:.3f}, {hi:.3f}] holds 0)"


SUMMARY_METRICS: tuple[str, ...] = ("RMSE", "ECE", "NLL", "CRPS", "Cov@95 (VP)", "MPIW@95 (VP)",
                                    "Cov@95 (Gauss)", "MPIW@95 (Gauss)")


def calibration_summary(cals: Mapping[str, Calibrated], n_resamples: int = 1000, seed: int = 0,
                        groups: np.ndarray | None = None,
                        paper: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
                        metrics: Sequence[str] = SUMMARY_METRICS) -> pd.DataFrame:
    """Table 7's layout for any ensembles: per ensemble and metric the test value before and
    after temperature scaling with bootstrap CIs (``groups``: resample whole groups), the
    paper's values when given (``paper[name][stage][metric]``, ``paper[name]["T"]``), and the
    claim "temperature scaling lowers ECE" judged by the CI of ECE(pre) - ECE(post)."""
    rows = []
    for name, cal in cals.items():
        t = calibration_table(cal, n_resamples, seed, [m for m in CI_METRICS if m in metrics],
                              groups=groups)
        _, lo, hi = ece_drop_ci(cal, n_resamples, seed, groups)
        pp = (paper or {}).get(name, {})
        rows.append({"ensemble": name, "metric": "T (fitted on validation)", "pre-cal": 1.0,
                     "post-cal": cal.t, "paper pre-cal": 1.0 if pp else np.nan,
                     "paper post-cal": pp.get("T", {}).get("post-cal", np.nan)})
        for m in metrics:
            rows.append({"ensemble": name, "metric": m, "pre-cal": t.loc[m, "pre-cal"],
                         "pre-cal 95% CI": t.loc[m].get("pre-cal 95% CI", ""),
                         "post-cal": t.loc[m, "post-cal"],
                         "post-cal 95% CI": t.loc[m].get("post-cal 95% CI", ""),
                         "paper pre-cal": pp.get("pre-cal", {}).get(m, np.nan),
                         "paper post-cal": pp.get("post-cal", {}).get(m, np.nan),
                         "claim": ci_verdict(lo, hi, "temperature scaling lowers ECE")
                         if m == "ECE" else ""})
    cols = ["ensemble", "metric", "pre-cal", "pre-cal 95% CI", "post-cal", "post-cal 95% CI",
            "paper pre-cal", "paper post-cal", "claim"]
    out = pd.DataFrame(rows, columns=cols)
    out[["pre-cal 95% CI", "post-cal 95% CI", "claim"]] = out[
        ["pre-cal 95% CI", "post-cal 95% CI", "claim"]].fillna("")
    if paper is None:
        out = out.drop(columns=["paper pre-cal", "paper post-cal"])
    return out

"""Shared numeric core of uncertainty quantification (SOC paper 3.8, 5.3, 5.6).

Gaussian-predictive scores and intervals (:mod:`.metrics`), deep-ensemble aggregation by the
law of total variance (:mod:`.ensemble`, Eq. 6), temperature scaling (:mod:`.temperature`,
Eq. 7), paired bootstrap CIs (:mod:`.bootstrap`), split conformal intervals
(:mod:`.conformal`) and residual / spatial diagnostics (:mod:`.diagnostics`). numpy in; floats,
arrays and small dataclasses out. The torch training losses (Eqs. 4-5) live in :mod:`.losses`
and are not imported here, so this package does not need torch.
"""

from geohet_lib.uq.bootstrap import bootstrap_ci
from geohet_lib.uq.conformal import conformal_interval, conformal_quantile
from geohet_lib.uq.diagnostics import (breusch_pagan, local_morans, morans_i, morans_i_by_hand,
                                       shapiro_wilk, standardised_residuals, weights_from_edges,
                                       weights_knn)
from geohet_lib.uq.ensemble import EnsemblePrediction, aggregate, member_subsets, mixture_variance
from geohet_lib.uq.metrics import (LEVELS_20, central_coverage, crps_gaussian, ece,
                                   error_sigma_correlation, gaussian_multiplier, gaussian_nll,
                                   interval_coverage, interval_width, reliability_curve,
                                   uq_metrics, vp_multiplier)
from geohet_lib.uq.temperature import apply_temperature, fit_temperature, temperature_closed_form

__all__ = [
    "LEVELS_20", "gaussian_nll", "crps_gaussian", "central_coverage", "reliability_curve", "ece",
    "vp_multiplier", "gaussian_multiplier", "interval_coverage", "interval_width",
    "error_sigma_correlation", "uq_metrics",
    "EnsemblePrediction", "aggregate", "mixture_variance", "member_subsets",
    "fit_temperature", "temperature_closed_form", "apply_temperature",
    "bootstrap_ci",
    "conformal_quantile", "conformal_interval",
    "shapiro_wilk", "breusch_pagan", "standardised_residuals", "weights_from_edges",
    "weights_knn", "morans_i", "local_morans", "morans_i_by_hand",
]

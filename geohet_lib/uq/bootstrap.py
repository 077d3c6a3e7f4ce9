"""Paired percentile bootstrap confidence intervals over test resamples (SOC Tables 7, 8, 10:
"paired bootstrap 95 % CIs over 1,000 test resamples"), through ``scipy.stats.bootstrap``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

__all__ = ["bootstrap_ci"]


def bootstrap_ci(statistic: Callable[..., float], *arrays: ArrayLike, n_resamples: int = 1000,
                 confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile CI of ``statistic(*arrays)`` under paired resampling of the test samples.

    The same resampled indices are applied to every array (``paired=True``), so e.g.
    ``bootstrap_ci(ece, y, mu, sigma)`` resamples whole test points. Reproducible for a
    ``seed`` (``np.random.default_rng(seed)``).
    """
    if not arrays:
        raise ValueError("bootstrap_ci needs at least one data array")
    data = tuple(np.asarray(a) for a in arrays)
    lengths = [a.shape[0] if a.ndim else 0 for a in data]
    if len(set(lengths)) != 1 or lengths[0] < 2:
        raise ValueError(f"arrays must share a length >= 2 along axis 0, got lengths {lengths}")
    if not (isinstance(n_resamples, (int, np.integer)) and n_resamples >= 1):
        raise ValueError(f"n_resamples must be an integer >= 1, got {n_resamples!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must satisfy 0 < confidence < 1, got {confidence!r}")
    res = stats.bootstrap(data, statistic, paired=True, vectorized=False, method="percentile",
                          n_resamples=int(n_resamples), confidence_level=confidence,
                          random_state=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)

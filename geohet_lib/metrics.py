"""Regression metrics used to compare models (GPP paper, section 4.2, "Figure 2": RMSE and R²).

Every metric is a plain function of two array-likes ``y`` (truth) and ``yhat`` (prediction):

* Both are flattened only if they are 1-D or column vectors ``(n, 1)``; anything else, or two
  different lengths, raises :class:`ValueError` (this catches the classic ``(n,)`` vs ``(n, 1)``
  broadcasting bug that silently produces an ``(n, n)`` residual matrix).
* NaN / inf policy (``nan_policy``): ``"raise"`` (default) raises :class:`ValueError` when either
  array holds a non-finite value; ``"omit"`` drops every pair where either value is non-finite
  (and raises if nothing is left).
* Sums are accumulated in float64, so float32 inputs of millions of rows are summed accurately.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["rmse", "mae", "r2", "mape", "regression_report"]

NanPolicy = Literal["raise", "omit"]


def _prepare(y, yhat, nan_policy: NanPolicy = "raise") -> tuple[np.ndarray, np.ndarray]:
    """Validate shapes and finiteness; return two 1-D float64 arrays of equal length."""
    if nan_policy not in ("raise", "omit"):
        raise ValueError(f"nan_policy must be 'raise' or 'omit', got {nan_policy!r}")
    a = np.asarray(y)
    b = np.asarray(yhat)
    out = []
    for name, arr in (("y", a), ("yhat", b)):
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1:
            raise ValueError(f"{name} must be 1-D (or a column vector), got shape {np.shape(arr)}")
        if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
            raise ValueError(f"{name} must be real numeric, got dtype {arr.dtype}")
        out.append(arr.astype(np.float64, copy=False))
    a, b = out
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"shape mismatch: y has {a.shape[0]} values, yhat has {b.shape[0]}")
    if a.shape[0] == 0:
        raise ValueError("empty input: y and yhat have no values")
    finite = np.isfinite(a) & np.isfinite(b)
    if not finite.all():
        if nan_policy == "raise":
            n_bad = int((~finite).sum())
            raise ValueError(
                f"{n_bad} non-finite value(s) (NaN/inf) in y or yhat; "
                "clean the data or pass nan_policy='omit'"
            )
        a, b = a[finite], b[finite]
        if a.shape[0] == 0:
            raise ValueError("no finite (y, yhat) pairs left after nan_policy='omit'")
    return a, b


def rmse(y, yhat, *, nan_policy: NanPolicy = "raise") -> float:
    """Root mean squared error, sqrt(mean((y - yhat)²)) — the paper's headline metric (Fig. 2)."""
    a, b = _prepare(y, yhat, nan_policy)
    return float(np.sqrt(np.mean((a - b) ** 2)))


def mae(y, yhat, *, nan_policy: NanPolicy = "raise") -> float:
    """Mean absolute error, mean(|y - yhat|)."""
    a, b = _prepare(y, yhat, nan_policy)
    return float(np.mean(np.abs(a - b)))


def r2(y, yhat, *, nan_policy: NanPolicy = "raise") -> float:
    """Coefficient of determination 1 - SS_res / SS_tot (paper Fig. 2, "R²").

    SS_res = Σ(y - yhat)², SS_tot = Σ(y - mean(y))². Can be negative (worse than predicting the
    mean). When ``y`` is constant (SS_tot = 0) R² is undefined and ``nan`` is returned
    (scikit-learn instead returns 1.0 or 0.0 there).
    """
    a, b = _prepare(y, yhat, nan_policy)
    ss_res = float(np.sum((a - b) ** 2))
    ss_tot = float(np.sum((a - a.mean()) ** 2))
    if ss_tot == 0.0:
        return float("nan")
    return 1.0 - ss_res / ss_tot


def mape(
    y,
    yhat,
    *,
    eps: float = float(np.finfo(np.float64).eps),
    min_abs_y: float | None = None,
    percent: bool = False,
    nan_policy: NanPolicy = "raise",
) -> float:
    """Mean absolute percentage error, mean(|y - yhat| / max(|y|, eps)).

    * ``eps`` guards against division by zero exactly as scikit-learn's
      ``mean_absolute_percentage_error`` does (default: float64 machine epsilon), so the two agree.
      With many y == 0 (GPP is 0 over deserts and in winter) that still gives huge values, hence:
    * ``min_abs_y``: if set, samples with |y| < min_abs_y are masked out before averaging
      (raises ValueError if that leaves nothing).
    * ``percent``: multiply by 100 (default False: a fraction, like scikit-learn).
    """
    a, b = _prepare(y, yhat, nan_policy)
    if min_abs_y is not None:
        keep = np.abs(a) >= min_abs_y
        a, b = a[keep], b[keep]
        if a.shape[0] == 0:
            raise ValueError(f"no samples with |y| >= min_abs_y={min_abs_y}")
    val = float(np.mean(np.abs(a - b) / np.maximum(np.abs(a), eps)))
    return val * 100.0 if percent else val


def regression_report(y, yhat, *, nan_policy: NanPolicy = "raise") -> dict[str, float]:
    """RMSE, MAE and R² in one dict (the columns of the paper's comparison tables)."""
    return {
        "rmse": rmse(y, yhat, nan_policy=nan_policy),
        "mae": mae(y, yhat, nan_policy=nan_policy),
        "r2": r2(y, yhat, nan_policy=nan_policy),
    }

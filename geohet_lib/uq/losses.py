"""Heteroscedastic regression losses shared by both studies (SOC paper 3.8, Eqs. 4-5).

A model with a variance head predicts a mean ``y_hat`` and a log-variance ``s``; these losses
train both. They live here, above the studies, because SpTGNN (SOC) and GeoHet's variance
head (GPP, stage 05 beyond the paper) use the same ones.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _masked(t: Tensor, mask: Tensor | None) -> Tensor:
    return t if mask is None else t[mask]


def bounded_log_variance(raw: Tensor, s_min: float, s_max: float) -> Tensor:
    """SOC Algorithm 1: ``s = s_min + (s_max - s_min) * (1 + tanh(raw)) / 2`` in ``[s_min, s_max]``."""
    return s_min + (s_max - s_min) * 0.5 * (1.0 + torch.tanh(raw))


def gaussian_nll(pred: Tensor, log_var: Tensor, target: Tensor, mask: Tensor | None = None,
                 full: bool = False) -> Tensor:
    """Eq. (4): ``1/(2N) sum_i [exp(-s_i) (y_i - y_hat_i)**2 + s_i]`` (+ ``0.5 log 2 pi``)."""
    pred, log_var, target = (_masked(t, mask) for t in (pred, log_var, target))
    nll = 0.5 * (torch.exp(-log_var) * (target - pred) ** 2 + log_var)
    if full:
        nll = nll + 0.5 * math.log(2 * math.pi)
    return nll.mean()


def beta_nll(pred: Tensor, log_var: Tensor, target: Tensor, beta: float = 0.5,
             mask: Tensor | None = None, full: bool = False) -> Tensor:
    """Eq. (5): Eq. (4) per sample weighted by ``sg[sigma_i**(2 beta)] = sg[exp(beta s_i)]``
    (Seitzer et al. 2022). ``beta = 0`` is Eq. (4); ``beta = 1`` gives the mean an MSE-like
    gradient."""
    pred, log_var, target = (_masked(t, mask) for t in (pred, log_var, target))
    nll = 0.5 * (torch.exp(-log_var) * (target - pred) ** 2 + log_var)
    if full:
        nll = nll + 0.5 * math.log(2 * math.pi)
    return (torch.exp(beta * log_var).detach() * nll).mean()

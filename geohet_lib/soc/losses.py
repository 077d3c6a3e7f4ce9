"""Training objective of SpTGNN (SOC paper 3.7, 3.8) and the local Moran's I target.

Eq. (3): ``L = L_main + lambda_a L_autocorr + L_MoE`` with

* ``L_main``: Huber between predicted and observed (scaled log) SOC, or, with uncertainty
  (3.8), the Gaussian NLL of Eq. (4) (``kind="nll"``), the beta-NLL of Eq. (5)
  (``kind="beta_nll"``, Seitzer et al. 2022), or the hybrid ``MSE + lambda_nll NLL`` of 5.3
  (``kind="mse_plus_nll"``, lambda = 0.05; the 30-epoch warm start is the trainer's: pass
  ``lambda_nll=0`` during it);
* ``L_autocorr``: the same Huber loss between the auxiliary head and each node's local
  Moran's I (:func:`local_morans_i`);
* ``L_MoE = w_LB L_LB + w_ent L_ent`` from the fusion layer (``w_ent = 1`` in the paper).

Eq. (4) has no ``0.5 log(2 pi)`` constant; :func:`gaussian_nll` adds it with ``full=True``
(for reporting NLL as a likelihood, e.g. Table 7). The Huber ``delta`` is not reported; 1 by
default (PyTorch's default, on the standardised log target).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from ..uq.losses import beta_nll, gaussian_nll  # noqa: F401  (Eqs. 4-5, shared with GPP)

LOSS_KINDS: tuple[str, ...] = ("huber", "nll", "beta_nll", "mse_plus_nll")


def _masked(t: Tensor, mask: Tensor | None) -> Tensor:
    return t if mask is None else t[mask]


def huber_loss(pred: Tensor, target: Tensor, delta: float = 1.0,
               mask: Tensor | None = None) -> Tensor:
    """Mean Huber loss: ``r**2 / 2`` for ``|r| <= delta``, ``delta (|r| - delta / 2)`` above."""
    return F.huber_loss(_masked(pred, mask), _masked(target, mask), delta=delta)


def local_morans_i(y: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None,
                   num_nodes: int | None = None, ddof: int = 0) -> Tensor:
    """Local Moran's I of every node (Anselin 1995) with row-standardised weights.

    ``I_i = z_i sum_j w_ij z_j / m2``, ``z = y - mean(y)``, ``m2 = sum_i z_i**2 / (n - ddof)``
    and ``w_ij = a_ij / sum_j a_ij`` from the edge weights ``a_ij`` of the edges ``j -> i``
    (``edge_index[0] = j`` source, ``edge_index[1] = i`` target, PyG's message direction;
    duplicate pairs add up). ``ddof=0`` is Anselin's ``m2``; ``ddof=1`` equals
    ``esda.Moran_Local(y, w, transformation="r").Is`` (PySAL/GeoDa: ``(n - 1) z_i lag_i /
    sum z**2``). Nodes without in-edges, or a constant ``y``, give 0. Not differentiated
    through in training (a fixed target per node), but differentiable.
    """
    y = y.reshape(-1)
    n = y.numel() if num_nodes is None else num_nodes
    if n != y.numel():
        raise ValueError("y must have one value per node")
    src, dst = edge_index[0], edge_index[1]
    a = (torch.ones(src.numel(), dtype=y.dtype, device=y.device) if edge_weight is None
         else edge_weight.to(y.dtype).reshape(-1))
    row_sum = torch.zeros(n, dtype=y.dtype, device=y.device).index_add(0, dst, a)
    z = y - y.mean()
    lag = torch.zeros_like(z).index_add(0, dst, a * z[src])
    lag = torch.where(row_sum > 0, lag / row_sum.clamp_min(torch.finfo(y.dtype).tiny), 0.0)
    m2 = (z * z).sum() / (n - ddof)
    if m2 <= 0:
        return torch.zeros_like(z)
    return z * lag / m2


def sptgnn_loss(out: dict[str, Any], y: Tensor, moran_target: Tensor | None = None,
                moe_aux: dict[str, Tensor] | None = None, lambda_aux: float = 0.0,
                lb_weight: float = 0.0, entropy_weight: float = 1.0, kind: str = "huber",
                beta: float = 0.5, lambda_nll: float = 0.05, delta: float = 1.0,
                mask: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """Eq. (3) on the nodes in ``mask`` (all nodes when None): ``(total, parts)``.

    ``out`` is :meth:`SpTGNN.forward`'s dict (``pred``, ``log_var``, ``moran_pred``);
    ``moe_aux`` defaults to ``out["moe_aux"]``. ``parts`` (detached): ``main``, ``autocorr``,
    ``load_balance``, ``entropy``, ``moe``, ``total`` and, for the hybrid, ``mse`` and ``nll``.
    """
    if kind not in LOSS_KINDS:
        raise ValueError(f"unknown loss kind {kind!r}: choose one of {', '.join(LOSS_KINDS)}")
    pred, log_var = out["pred"], out.get("log_var")
    if kind != "huber" and log_var is None:
        raise ValueError(f"loss {kind!r} needs the log-variance head (use_uq=True)")
    parts: dict[str, Tensor] = {}
    if kind == "huber":
        main = huber_loss(pred, y, delta, mask)
    elif kind == "nll":
        main = gaussian_nll(pred, log_var, y, mask)
    elif kind == "beta_nll":
        main = beta_nll(pred, log_var, y, beta, mask)
    else:
        mse = F.mse_loss(_masked(pred, mask), _masked(y, mask))
        nll = gaussian_nll(pred, log_var, y, mask)
        main = mse + lambda_nll * nll
        parts.update(mse=mse.detach(), nll=nll.detach())
    zero = pred.new_zeros(())
    autocorr = zero
    if moran_target is not None and out.get("moran_pred") is not None:
        autocorr = huber_loss(out["moran_pred"], moran_target, delta, mask)
    aux = out.get("moe_aux") if moe_aux is None else moe_aux
    lb = aux.get("load_balance", zero) if aux else zero
    ent = aux.get("entropy", zero) if aux else zero
    moe = lb_weight * lb + entropy_weight * ent
    total = main + lambda_aux * autocorr + moe
    parts.update(main=main.detach(), autocorr=autocorr.detach(), load_balance=lb.detach(),
                 entropy=ent.detach(), moe=moe.detach(), total=total.detach())
    return total, parts

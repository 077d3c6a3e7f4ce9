"""Sparse mixture-of-experts fusion of the input streams (SOC paper 3.4, 3.7, Algorithm 1).

For node ``i`` with streams ``z_i = [h_vit; x; e_pos; e_time]``:

* per-stream LayerNorm, "making sure that no modality dominates the routing" (3.4); the
  normalised streams feed both the gate and the experts (Figure 3 shows the rebalanced signal
  *entering the experts*);
* gating logits ``l_i = W_g LN(z_i) + b_g`` (one linear layer, Algorithm 1);
* top-k routing: ``T_i = Top_k(l_i)``, ``g_ie = softmax(l_{i,T_i})_e`` on the kept experts and
  0 elsewhere, so the kept gates sum to 1 (Algorithm 1); ``top_k=None`` (or ``>= E``) is dense
  routing, a softmax over all experts (Table 6, Africa);
* ``u_i = sum_e g_ie f_e(z_i)`` of width ``fusion_dim``.

Regularisers (3.7), from the batch-mean gate weight ``u_bar_e = mean_i g_ie``:

* load balance ``L_LB = (1/E) sum_e (u_bar_e - 1/E)**2``: 0 exactly for uniform use, maximal
  ``(E - 1) / E**2`` when one expert takes all weight (a CV**2 form, as printed in 3.7, not the
  Switch-Transformer ``E sum f_e P_e``);
* entropy gap ``L_ent = log E + sum_e u_bar_e log u_bar_e``: 0 for uniform use, ``log E``
  for collapse onto one expert, never negative. Penalising it raises the entropy of expert use.

Expert types (Table 6: cross-gated, concat, additive). The paper names them and says "each
expert is a dedicated network that combines the different data streams using learned gates";
our reading, with ``P_m`` a per-stream linear projection to ``F = fusion_dim``:

* ``"concat"`` (early fusion): ``f(z) = W_2 GELU(W_1 [z_1; ...; z_M] + b_1) + b_2``.
* ``"additive"`` (late, additive fusion, no cross-modal interaction before the sum):
  ``f(z) = sum_m W_{2,m} GELU(P_m z_m) + b_2``.
* ``"cross-gated"`` (each stream gated by the others): ``h_m = P_m z_m``,
  ``g_m = sigmoid(G_m sum_{m' != m} h_m' + c_m)`` (element-wise, width F),
  ``f(z) = W_2 GELU(sum_m g_m * h_m) + b_2``.

All experts compute at width F and return width F. Top-k dispatch runs each expert only on
the nodes routed to it. With ``top_k=1`` the renormalised gate is exactly 1, so the gate then
learns only through the regularisers (a consequence of Algorithm 1's renormalisation).

:class:`ConcatFusion` is the Table 11 "Concat fusion" ablation: the raw streams concatenated
and passed through ``Linear -> GELU`` to ``fusion_dim`` (no per-stream LayerNorm, no gate).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn
from torch.nn import functional as F

EXPERT_TYPES: tuple[str, ...] = ("concat", "cross-gated", "additive")


def _uniform_(t: Tensor, fan_in: int) -> Tensor:
    """nn.Linear's default initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    with torch.no_grad():
        return t.uniform_(-bound, bound)


class _StreamProjections(nn.Module):
    """One ``nn.Linear(d_m, F)`` per stream; returns the stacked projections (N, M, F)."""

    def __init__(self, dims: list[int], out_dim: int):
        super().__init__()
        self.proj = nn.ModuleList(nn.Linear(d, out_dim) for d in dims)

    def forward(self, streams: list[Tensor]) -> Tensor:
        return torch.stack([p(z) for p, z in zip(self.proj, streams)], dim=1)


class ConcatExpert(nn.Module):
    """``f(z) = W_2 GELU(W_1 [z_1; ...; z_M] + b_1) + b_2``."""

    def __init__(self, dims: list[int], out_dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(sum(dims), out_dim), nn.GELU(),
                                 nn.Linear(out_dim, out_dim))

    def forward(self, streams: list[Tensor]) -> Tensor:
        return self.net(torch.cat(streams, dim=-1))


class AdditiveExpert(nn.Module):
    """``f(z) = sum_m W_{2,m} GELU(P_m z_m) + b_2``: one sub-network per stream, summed."""

    def __init__(self, dims: list[int], out_dim: int):
        super().__init__()
        self.proj = _StreamProjections(dims, out_dim)
        self.out_w = nn.Parameter(_uniform_(torch.empty(len(dims), out_dim, out_dim), out_dim))
        self.out_b = nn.Parameter(_uniform_(torch.empty(out_dim), out_dim))

    def forward(self, streams: list[Tensor]) -> Tensor:
        h = F.gelu(self.proj(streams))  # (N, M, F)
        return torch.einsum("nmf,mfg->ng", h, self.out_w) + self.out_b


class CrossGatedExpert(nn.Module):
    """``f(z) = W_2 GELU(sum_m g_m * h_m) + b_2``, ``h_m = P_m z_m``,
    ``g_m = sigmoid(G_m sum_{m' != m} h_m' + c_m)``: each stream gated by the others."""

    def __init__(self, dims: list[int], out_dim: int):
        super().__init__()
        self.proj = _StreamProjections(dims, out_dim)
        self.gate_w = nn.Parameter(_uniform_(torch.empty(len(dims), out_dim, out_dim), out_dim))
        self.gate_b = nn.Parameter(_uniform_(torch.empty(len(dims), out_dim), out_dim))
        self.out = nn.Linear(out_dim, out_dim)

    def forward(self, streams: list[Tensor]) -> Tensor:
        h = self.proj(streams)  # (N, M, F)
        others = h.sum(dim=1, keepdim=True) - h  # context of the other streams
        g = torch.sigmoid(torch.einsum("nmf,mfg->nmg", others, self.gate_w) + self.gate_b)
        return self.out(F.gelu((g * h).sum(dim=1)))


_EXPERTS: dict[str, type[nn.Module]] = {"concat": ConcatExpert, "additive": AdditiveExpert,
                                        "cross-gated": CrossGatedExpert}


def load_balance_loss(usage: Tensor) -> Tensor:
    """``L_LB = (1/E) sum_e (u_bar_e - 1/E)**2`` (3.7) of the batch-mean gates ``usage`` (E,)."""
    e = usage.numel()
    return ((usage - 1.0 / e) ** 2).mean()


def entropy_gap(usage: Tensor) -> Tensor:
    """``L_ent = log E + sum_e u_bar_e log u_bar_e`` (3.7), with ``0 log 0 = 0``."""
    e = usage.numel()
    return math.log(e) + torch.special.xlogy(usage, usage).sum()


def route(logits: Tensor, top_k: int | None) -> Tensor:
    """Gates (N, E) from gating logits: softmax over the top-k logits, zero elsewhere.

    ``top_k=None`` or ``top_k >= E`` gives dense routing (softmax over all experts).
    """
    n_experts = logits.shape[-1]
    if top_k is None or top_k >= n_experts:
        return torch.softmax(logits, dim=-1)
    if top_k < 1:
        raise ValueError("top_k must be >= 1 (or None for dense routing)")
    val, idx = logits.topk(top_k, dim=-1)
    return torch.zeros_like(logits).scatter(-1, idx, torch.softmax(val, dim=-1))


class MoEFusion(nn.Module):
    """Sparse MoE fusion (3.4): streams (dict name -> (N, d)) -> ``(fused (N, F), aux)``.

    ``aux``: ``logits`` and ``gates`` (N, E), ``usage`` (E,) batch-mean gates,
    ``load_balance`` and ``entropy`` (scalars, unweighted; :func:`geohet_lib.soc.losses.
    sptgnn_loss` weights them with ``w_LB`` and the entropy weight, 1 in the paper).
    """

    def __init__(self, stream_dims: Mapping[str, int], fusion_dim: int, n_experts: int = 8,
                 expert_type: str = "cross-gated", top_k: int | None = None):
        super().__init__()
        if expert_type not in _EXPERTS:
            raise ValueError(f"unknown expert_type {expert_type!r}: choose one of "
                             f"{', '.join(EXPERT_TYPES)}")
        if n_experts < 1 or (top_k is not None and top_k < 1):
            raise ValueError("need n_experts >= 1 and top_k >= 1 (or None)")
        self.names = list(stream_dims)
        dims = [int(stream_dims[k]) for k in self.names]
        self.fusion_dim = fusion_dim
        self.n_experts = n_experts
        self.top_k = None if top_k is None or top_k >= n_experts else int(top_k)
        self.expert_type = expert_type
        self.norms = nn.ModuleList(nn.LayerNorm(d) for d in dims)
        self.gate = nn.Linear(sum(dims), n_experts)
        self.experts = nn.ModuleList(_EXPERTS[expert_type](dims, fusion_dim)
                                     for _ in range(n_experts))

    def forward(self, streams: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        missing = set(self.names) - set(streams)
        if missing:
            raise KeyError(f"missing input stream(s) {sorted(missing)}")
        zs = [norm(streams[k]) for norm, k in zip(self.norms, self.names)]
        logits = self.gate(torch.cat(zs, dim=-1))
        gates = route(logits, self.top_k)
        n = logits.shape[0]
        out = logits.new_zeros(n, self.fusion_dim)
        if self.top_k is not None:  # the kept experts of each node (gates may underflow to 0)
            kept = torch.zeros_like(logits, dtype=torch.bool).scatter(
                -1, logits.topk(self.top_k, dim=-1).indices, True)
        for e, expert in enumerate(self.experts):
            if self.top_k is None:
                out = out + gates[:, e:e + 1] * expert(zs)
                continue
            idx = kept[:, e].nonzero(as_tuple=True)[0]
            if idx.numel() == 0:
                continue
            y = gates[idx, e:e + 1] * expert([z[idx] for z in zs])
            out = out.index_put((idx,), out[idx] + y)  # unique rows: deterministic
        usage = gates.mean(dim=0)
        aux = {"logits": logits, "gates": gates, "usage": usage,
               "load_balance": load_balance_loss(usage), "entropy": entropy_gap(usage)}
        return out, aux


class ConcatFusion(nn.Module):
    """Table 11 ablation "Concat fusion": ``GELU(W [z_1; ...; z_M] + b)``, no gate, no experts."""

    def __init__(self, stream_dims: Mapping[str, int], fusion_dim: int):
        super().__init__()
        self.names = list(stream_dims)
        self.fusion_dim = fusion_dim
        self.lin = nn.Linear(sum(int(stream_dims[k]) for k in self.names), fusion_dim)

    def forward(self, streams: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        z = torch.cat([streams[k] for k in self.names], dim=-1)
        zero = z.new_zeros(())
        return F.gelu(self.lin(z)), {"load_balance": zero, "entropy": zero}

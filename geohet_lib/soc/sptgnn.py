"""SpTGNN, the SOC paper's model (sections 3.2-3.8, Algorithm 1, Figure 2).

Pipeline (Algorithm 1): per-node encoders (3.3, :mod:`~geohet_lib.soc.encoders`) -> sparse
MoE fusion (3.4, :mod:`~geohet_lib.soc.moe`) -> Pre-MLP -> ``L`` RGAT layers with residual
and LayerNorm (3.6, :mod:`~geohet_lib.soc.rgat`) -> Post-MLP -> three linear heads:

* ``pred``: SOC in the scaled log space of the target scaler (4.4);
* ``moran_pred``: the local Moran's I auxiliary (3.6, 3.7, trained against
  :func:`geohet_lib.soc.losses.local_morans_i` of the target);
* ``log_var``: ``s = s_min + (s_max - s_min) * (1 + tanh(Head_sigma(h*))) / 2``, exactly as in
  Algorithm 1, so ``s`` lies in ``[s_min, s_max]`` for every input (3.8). The bounds are not
  reported; we use ``s_min = -8``, ``s_max = 4`` (sigma from 0.018 to 7.4 on the standardised
  log target; the midpoint ``s = -2`` at initialisation is a variance of 0.14, near the
  aleatoric 0.18 of Table 8). Algorithm 1 returns ``exp(s)``; we return ``s`` and leave the
  exponential to the caller.

Batch (a mapping or an object with attributes, e.g. a PyG ``Data``): ``image`` (N, img_dim),
``covariates`` (N, 63), ``lat``, ``lon`` (N,) degrees, ``time`` (N,) sampling year,
``edge_index`` (2, E) source -> target, ``edge_type`` (E,) in 0..2 (spatial, vegetation,
elevation), ``edge_weight`` (E,) optional.

Ablation switches (:class:`~geohet_lib.soc.configs.SpTGNNConfig`), Table 11 first:

* ``spatial_only=True`` "Spatial graph": only edge type 0 is kept, one relation;
* ``use_moe=False`` "Concat fusion": :class:`~geohet_lib.soc.moe.ConcatFusion`, whose aux
  losses are zero;
* ``use_image=False`` "ViT disabled": the image stream never joins the fusion (and ``image``
  may be absent from the batch);
* ``use_graph=False``: no message passing, an MLP stack of the RGAT widths (graph inputs may
  be absent);
* ``use_positional`` / ``use_temporal`` (the paper does not ablate them, 6.1),
  ``use_moran_head`` (``moran_pred`` is None) and ``use_uq`` (``log_var`` is None).

Parameters that get no gradient by design: RGATConv's ``w, l1, b1, l2, b2``
(:func:`~geohet_lib.soc.rgat.unused_parameter_names`); with top-k routing, experts chosen by no
node of the batch; heads whose loss term is off (e.g. the log-variance head under Huber).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ..uq.losses import bounded_log_variance  # noqa: F401  (Algorithm 1, shared)
from .configs import SpTGNNConfig
from .encoders import MultiScalePositionalEncoder, TemporalFourierEncoder, make_mlp
from .moe import ConcatFusion, MoEFusion
from .rgat import MLPStack, RGATStack, select_relations


def _get(batch: Any, key: str, required: bool = True) -> Tensor | None:
    val = batch.get(key) if isinstance(batch, Mapping) else getattr(batch, key, None)
    if val is None and required:
        raise KeyError(f"the batch has no {key!r}")
    return val


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class SpTGNN(nn.Module):
    """The full model; ``forward(batch)`` returns ``pred``, ``log_var``, ``moran_pred``,
    ``moe_aux`` and ``embedding`` (the Post-MLP output ``h*``)."""

    def __init__(self, cfg: SpTGNNConfig):
        super().__init__()
        self.cfg = cfg
        streams: dict[str, int] = {}
        if cfg.use_image:
            streams["image"] = cfg.img_dim
        streams["covariates"] = cfg.n_covariates  # raw (3.3)
        self.pos_encoder = self.time_encoder = None
        if cfg.use_positional:
            self.pos_encoder = MultiScalePositionalEncoder(cfg.pos_scales, cfg.pos_sigma_min,
                                                           cfg.pos_sigma_max, cfg.pos_dim,
                                                           cfg.pos_hidden)
            streams["positional"] = cfg.pos_dim
        if cfg.use_temporal:
            self.time_encoder = TemporalFourierEncoder(cfg.time_freqs, cfg.time_dim, cfg.t_min,
                                                       cfg.t_max, cfg.time_hidden)
            streams["temporal"] = cfg.time_dim
        self.stream_dims = streams
        self.fusion: nn.Module = (
            MoEFusion(streams, cfg.fusion_dim, cfg.n_experts, cfg.expert_type, cfg.top_k)
            if cfg.use_moe else ConcatFusion(streams, cfg.fusion_dim))
        self.pre_mlp = make_mlp(cfg.fusion_dim, cfg.pre_mlp_hidden, cfg.pre_mlp_out,
                                cfg.pre_mlp_dropout)
        self.num_relations = 1 if cfg.spatial_only else cfg.num_relations
        self.gnn: nn.Module = (
            RGATStack(cfg.pre_mlp_out, cfg.rgat_hidden, self.num_relations, cfg.heads,
                      cfg.num_bases, cfg.num_blocks, cfg.attention_mechanism,
                      cfg.attention_mode, cfg.att_dim, cfg.negative_slope, cfg.dropout,
                      cfg.use_edge_weight, cfg.checkpoint_rgat)
            if cfg.use_graph else MLPStack(cfg.pre_mlp_out, cfg.rgat_hidden, cfg.dropout))
        self.post_mlp = make_mlp(self.gnn.out_dim, cfg.post_mlp_hidden, cfg.post_mlp_out,
                                 cfg.post_mlp_dropout)
        self.head_y = nn.Linear(cfg.post_mlp_out, 1)
        self.head_moran = nn.Linear(cfg.post_mlp_out, 1) if cfg.use_moran_head else None
        self.head_sigma = nn.Linear(cfg.post_mlp_out, 1) if cfg.use_uq else None

    def encode(self, batch: Any) -> dict[str, Tensor]:
        """The input streams of the fusion layer (3.3), name -> (N, width)."""
        out: dict[str, Tensor] = {}
        if self.cfg.use_image:
            out["image"] = _get(batch, "image")
        out["covariates"] = _get(batch, "covariates")
        if self.pos_encoder is not None:
            out["positional"] = self.pos_encoder(_get(batch, "lat"), _get(batch, "lon"))
        if self.time_encoder is not None:
            out["temporal"] = self.time_encoder(_get(batch, "time"))
        dtype = out["covariates"].dtype
        return {k: v.to(dtype) for k, v in out.items()}

    def representations(self, batch: Any) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Each node's representation at every stage of Algorithm 1: ``fused`` (the MoE
        output), ``pre_graph`` (Pre-MLP: what enters the RGAT stack), ``graph`` (the stack's
        output) and ``embedding`` (Post-MLP ``h*``, what the heads read); and the MoE's
        auxiliary losses."""
        cfg = self.cfg
        fused, aux = self.fusion(self.encode(batch))
        h0 = self.pre_mlp(fused)
        if cfg.use_graph:
            ei, et = _get(batch, "edge_index"), _get(batch, "edge_type")
            ew = _get(batch, "edge_weight", required=False)
            if cfg.spatial_only:
                ei, et, ew = select_relations(ei, et, ew, keep=(0,))
            g = self.gnn(h0, ei, et, ew)
        else:
            g = self.gnn(h0)
        return {"fused": fused, "pre_graph": h0, "graph": g, "embedding": self.post_mlp(g)}, aux

    def forward(self, batch: Any) -> dict[str, Any]:
        cfg = self.cfg
        reps, aux = self.representations(batch)
        h = reps["embedding"]
        log_var = None
        if self.head_sigma is not None:
            log_var = bounded_log_variance(self.head_sigma(h).squeeze(-1), cfg.s_min, cfg.s_max)
        return {"pred": self.head_y(h).squeeze(-1), "log_var": log_var,
                "moran_pred": (self.head_moran(h).squeeze(-1)
                               if self.head_moran is not None else None),
                "moe_aux": aux, "embedding": h}

"""GeoHet, the GPP paper's model (sections 3.2-3.4).

Three parts, trained end to end:

* :class:`TabularEncoder` (3.3): feature mixing to ``n_tokens`` features, a per-feature
  tokeniser, RoPE on the time axis, then stacked :class:`DualAttention` blocks: linear attention
  (phi(x) = ELU(x) + 1, Katharopoulos et al. 2020) across time, then across features, a residual
  after each, then a position-wise feed-forward network.
* :class:`ConditionEncoder` (3.2): learnable node embeddings v(i, t) initialised from stage 02
  (Node2vec(i) + RoPE(t)), a 1-D convolution along t, then a GCN
  sigma(D^-1/2 (A o W) D^-1/2 V H) with the stage-02 edge weights. Every sample gathers its
  cluster's condition sequence.
* a transformer decoder (3.4) with the condition sequence as target and the encoded tabular
  features as memory, and a linear head giving one GPP value per time step.

Where the paper is silent (stated in notebook 03 too): pre-LayerNorm inside each block, a
circular temporal convolution (the 46 steps of a year wrap), self loops in the GCN as in Kipf &
Welling (``gcn_self_loops=False`` gives the formula exactly as printed), token pooling by a
linear map over the flattened feature tokens.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch_geometric.nn import GCNConv

from ..embeddings import apply_rope
from ..uq.losses import bounded_log_variance


def elu_feature_map(x: Tensor) -> Tensor:
    """phi(x) = ELU(x) + 1, the positive feature map of linear attention (paper 3.3)."""
    return F.elu(x) + 1.0


def linear_attention(q: Tensor, k: Tensor, v: Tensor, eps: float = 1e-6) -> Tensor:
    """Softmax-free linear attention in O(L) (paper 3.3, Katharopoulos et al. 2020).

    ``Attn = phi(Q) (phi(K)^T V) / (phi(Q) phi(K)^T 1_L + eps)``; inputs (..., L, d).
    """
    q, k = elu_feature_map(q), elu_feature_map(k)
    kv = torch.einsum("...ld,...le->...de", k, v)
    denom = torch.einsum("...ld,...d->...l", q, k.sum(dim=-2)) + eps
    return torch.einsum("...ld,...de->...le", q, kv) / denom.unsqueeze(-1)


def naive_linear_attention(q: Tensor, k: Tensor, v: Tensor, eps: float = 1e-6) -> Tensor:
    """The same attention computed the O(L^2) way, as a reference for tests."""
    a = elu_feature_map(q) @ elu_feature_map(k).transpose(-1, -2)  # (..., L, L)
    return (a @ v) / (a.sum(dim=-1, keepdim=True) + eps)


class LinearSelfAttention(nn.Module):
    """Multi-head linear self-attention over the second-to-last axis of (..., L, d)."""

    def __init__(self, d_model: int, n_heads: int = 4, rope: bool = False):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.h = n_heads
        self.rope = rope
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: Tensor) -> Tensor:
        *lead, length, d = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k, v = (t.reshape(*lead, length, self.h, d // self.h).transpose(-2, -3)
                   for t in (q, k, v))  # (..., h, L, dh)
        if self.rope:
            pos = torch.arange(length, device=x.device)
            q, k = apply_rope(q, pos), apply_rope(k, pos)
        o = linear_attention(q, k, v).transpose(-2, -3).reshape(*lead, length, d)
        return self.out(o)


class DualAttention(nn.Module):
    """One Dual Attention module (paper 3.3): time attention, feature attention, FFN.

    Input and output (B, L, N, d): L time steps, N feature tokens of width d.
    ``X_temp = X + Attn_temp(X)``; ``X_feat = X_temp + Attn_feat(X_temp)``;
    ``Y = X_feat + FFN(X_feat)`` (pre-LayerNorm on each branch). ``time_attention=False``
    drops the first step: an FT-Transformer block (attention across features only, 4.4's "En").
    """

    def __init__(self, d_model: int, n_heads: int = 4, ff_mult: int = 2, dropout: float = 0.0,
                 rope: bool = True, time_attention: bool = True):
        super().__init__()
        self.norm_f, self.norm_ff = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.norm_t = nn.LayerNorm(d_model) if time_attention else None
        self.attn_time = (LinearSelfAttention(d_model, n_heads, rope=rope) if time_attention
                          else None)
        self.attn_feat = LinearSelfAttention(d_model, n_heads, rope=False)
        self.ffn = nn.Sequential(nn.Linear(d_model, ff_mult * d_model), nn.GELU(),
                                 nn.Dropout(dropout), nn.Linear(ff_mult * d_model, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        xf = x
        if self.attn_time is not None:
            xt = x.transpose(1, 2)  # (B, N, L, d): attention across time for each feature
            xt = xt + self.drop(self.attn_time(self.norm_t(xt)))
            xf = xt.transpose(1, 2)  # (B, L, N, d): attention across features at each time
        xf = xf + self.drop(self.attn_feat(self.norm_f(xf)))
        return xf + self.drop(self.ffn(self.norm_ff(xf)))


class TabularEncoder(nn.Module):
    """Feature mixing, tokenisation, RoPE on time and stacked Dual Attention (paper 3.3).

    (B, L, F) normalised features -> (B, L, d_model) memory for the decoder. ``dual=False``:
    the blocks attend across features only (the FT-Transformer encoder "En" of paper 4.4).
    """

    def __init__(self, n_features: int, d_model: int = 64, n_tokens: int = 16, n_layers: int = 2,
                 n_heads: int = 4, dropout: float = 0.0, dual: bool = True):
        super().__init__()
        self.mix = nn.Linear(n_features, n_tokens)  # feature mixing to N features
        self.tok_w = nn.Parameter(torch.randn(n_tokens, d_model) / d_model**0.5)
        self.tok_b = nn.Parameter(torch.zeros(n_tokens, d_model))
        self.dual = dual
        self.blocks = nn.ModuleList(
            DualAttention(d_model, n_heads, dropout=dropout, time_attention=dual)
            for _ in range(n_layers))
        self.pool = nn.Linear(n_tokens * d_model, d_model)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: Tensor) -> Tensor:
        b, length, _ = x.shape
        m = self.mix(x)  # (B, L, N)
        tokens = m.unsqueeze(-1) * self.tok_w + self.tok_b  # (B, L, N, d)
        pos = torch.arange(length, device=x.device)
        tokens = apply_rope(tokens.transpose(1, 2), pos).transpose(1, 2)  # RoPE along time
        for blk in self.blocks:
            tokens = blk(tokens)
        return self.norm(self.pool(tokens.reshape(b, length, -1)))


class ConditionEncoder(nn.Module):
    """Spatiotemporal conditional encoding (paper 3.2) over the whole STCG.

    ``node_init`` (C, T, d_node): v(i, t) = Node2vec(i) + RoPE(t) from stage 02, learnable
    (``freeze=True``: kept at its start, the reviewers' "not truly end-to-end" reading;
    ``init="random"``: a Gaussian tensor of the same shape and scale instead, 4.4's "learnable
    tensor" decoding target).
    Returns conditions (C, T, d_model): temporal conv along t, then a GCN per time step with
    the edge weights w_ij and symmetric degree normalisation (paper eq. in 3.2).
    """

    def __init__(self, node_init: Tensor, edge_index: Tensor, edge_weight: Tensor,
                 d_model: int = 64, kernel_size: int = 3, self_loops: bool = True,
                 use_graph: bool = True, init: str = "node2vec", freeze: bool = False):
        super().__init__()
        if node_init.dim() != 3:
            raise ValueError("node_init must be (clusters, steps, channels)")
        if init not in ("node2vec", "random"):
            raise ValueError(f"init must be 'node2vec' or 'random', got {init!r}")
        c, t, d_node = node_init.shape
        start = node_init.clone().float()
        if init == "random":  # a learnable target tensor of the same size and scale (4.4)
            start = torch.randn_like(start) * start.std()
        self.node_emb = nn.Parameter(start, requires_grad=not freeze)
        self.temporal = nn.Conv1d(d_node, d_node, kernel_size, padding=kernel_size // 2,
                                  padding_mode="circular")
        self.use_graph = use_graph
        gcn = GCNConv(d_node, d_model, add_self_loops=self_loops, normalize=True)
        lin = nn.Linear(d_node, d_model)  # in the GCN's place when the graph is ablated
        # both are built (the same random stream either way), only the one in use is kept
        self.gcn, self.lin = (gcn, None) if use_graph else (None, lin)
        self._register_load_state_dict_pre_hook(self._drop_unused_branch)
        self.register_buffer("edge_index", edge_index.long(), persistent=False)
        self.register_buffer("edge_weight", edge_weight.float(), persistent=False)

    def _drop_unused_branch(self, state_dict: dict, prefix: str, *args: Any) -> None:
        """Checkpoints written while both branches were kept still hold the unused one."""
        unused = f"{prefix}{'lin' if self.use_graph else 'gcn'}."
        for key in [k for k in state_dict if k.startswith(unused)]:
            del state_dict[key]

    def forward(self) -> Tensor:
        v = self.node_emb  # (C, T, d)
        v = self.temporal(v.transpose(1, 2)).transpose(1, 2)  # V^temp = V * W^time
        if not self.use_graph:
            return F.gelu(self.lin(v))
        v = v.transpose(0, 1)  # (T, C, d): the same graph at every step
        out = self.gcn(v, self.edge_index, self.edge_weight)  # (T, C, d_model)
        return F.gelu(out).transpose(0, 1)  # sigma(...), (C, T, d_model)


@dataclass(frozen=True)
class GeoHetConfig:
    """Sizes of GeoHet; the defaults are small, profiles scale them."""

    n_features: int = 43
    d_model: int = 64
    n_tokens: int = 16
    enc_layers: int = 2
    dec_layers: int = 2
    n_heads: int = 4
    dropout: float = 0.0
    conv_kernel: int = 3
    gcn_self_loops: bool = True
    use_graph: bool = True  # ablation: no GCN (conditions are per-node, unsmoothed)
    # ablation: False = attention across features only in the encoder (FT-Transformer, 4.4 "En")
    dual_attention: bool = True
    decoder: bool = True  # ablation: False = encoder + linear head only ("FFTransformer", 4.4)
    node_init: str = "node2vec"  # "random": a learnable Gaussian target tensor (4.4 "En+De")
    freeze_nodes: bool = False  # node embeddings kept at their start (reviewers' point)
    # ours, off by default (the paper's decoder): add the encoded features of step t to the
    # condition query of step t, a skip around cross-attention (see GeoHet.forward)
    query_skip: bool = False
    # ours, beyond the paper (stage 05): a second linear head giving a bounded log-variance per
    # step (SOC paper 3.8, Algorithm 1), on the scale of the standardised target
    variance_head: bool = False
    s_min: float = -8.0
    s_max: float = 4.0

    def to_dict(self) -> dict:
        return asdict(self)


class GeoHet(nn.Module):
    """The full model: y_hat (B, L) = Linear(Decoder(C[cluster, steps], Encoder(X)))."""

    def __init__(self, cfg: GeoHetConfig, node_init: Tensor, edge_index: Tensor,
                 edge_weight: Tensor):
        super().__init__()
        self.cfg = cfg
        self.encoder = TabularEncoder(cfg.n_features, cfg.d_model, cfg.n_tokens, cfg.enc_layers,
                                      cfg.n_heads, cfg.dropout, dual=cfg.dual_attention)
        self.conditions: ConditionEncoder | None = None
        self.decoder: nn.TransformerDecoder | None = None
        if cfg.decoder:
            self.conditions = ConditionEncoder(node_init, edge_index, edge_weight, cfg.d_model,
                                               cfg.conv_kernel, cfg.gcn_self_loops,
                                               cfg.use_graph, cfg.node_init, cfg.freeze_nodes)
            layer = nn.TransformerDecoderLayer(cfg.d_model, cfg.n_heads, 2 * cfg.d_model,
                                               cfg.dropout, batch_first=True, norm_first=True)
            self.decoder = nn.TransformerDecoder(layer, cfg.dec_layers)
        self.head = nn.Linear(cfg.d_model, 1)
        self.var_head = nn.Linear(cfg.d_model, 1) if cfg.variance_head else None

    def forward(self, x: Tensor, cluster: Tensor, steps: Tensor) -> Tensor:
        """``x`` (B, L, F), ``cluster`` (B,), ``steps`` (B, L) step-of-year indices."""
        return self.head(self.features(x, cluster, steps)).squeeze(-1)

    def forward_dist(self, x: Tensor, cluster: Tensor, steps: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and bounded log-variance (B, L) of each step (``variance_head=True``)."""
        if self.var_head is None:
            raise ValueError("this GeoHet has no variance head: build it with variance_head=True")
        z = self.features(x, cluster, steps)
        raw = self.var_head(z).squeeze(-1)
        return self.head(z).squeeze(-1), bounded_log_variance(raw, self.cfg.s_min, self.cfg.s_max)

    def features(self, x: Tensor, cluster: Tensor, steps: Tensor) -> Tensor:
        """The decoder's output Z (B, L, d) the heads read (the encoder's without a decoder)."""
        memory = self.encoder(x)
        if self.decoder is None:  # encoder only: one value per step from its features
            return memory
        cond = self.conditions()  # (C, T, d) for the whole graph
        tgt = cond[cluster[:, None], steps]  # (B, L, d): each sample's condition sequence
        if self.cfg.query_skip:
            # Z = Decoder(C + X, X): the paper's Z = Decoder(C, X) reaches step t's features
            # only through softmax cross-attention over all L steps, which must learn to align
            # t with t; the skip hands them to step t's query directly
            tgt = tgt + memory
        return self.decoder(tgt, memory)

    def condition_vectors(self) -> Tensor:
        """The final condition vectors v^final (clusters, steps, d) for maps and analysis."""
        if self.conditions is None:
            raise ValueError("this GeoHet has no decoder (decoder=False), hence no conditions")
        with torch.no_grad():
            return self.conditions()

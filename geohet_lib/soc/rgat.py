"""The relational graph attention stack of SpTGNN (SOC paper 3.5, 3.6, Algorithm 1).

Each layer (3.6, Figure 4, Algorithm 1 "Relational GAT stack"):
``h' = RGATConv(h)``; ``h <- LN(Skip(h) + Dropout(GELU(h')))``, where ``Skip`` is a learned
``nn.Linear`` when the widths differ and the identity otherwise ("residual skip connections
with learned linear projections"). PyG's :class:`~torch_geometric.nn.conv.RGATConv`
(Busbridge et al. 2019) gives relation-specific projections and attention, basis
decomposition (``num_bases``, Table 6) or block-diagonal decomposition (``num_blocks``),
attention within or across relations and additive or multiplicative attention.

Relations (3.5, Table 1), in this order of ``edge_type``: 0 spatial (k-NN in lon/lat,
inverse distance), 1 vegetation (k-NN in NDVI, ``exp(-|dNDVI| / tau_v)``), 2 elevation (the
spatial edges re-weighted by ``exp(-|grad z| / tau_t)``).

Where the paper and PyG leave choices (our reading):

* Heads: multi-head attention (Figure 4) with the count not given; ``heads=4`` by default,
  concatenated, each of width ``hidden / (heads * dim)`` so a layer outputs exactly the Table 6
  width (which must therefore be divisible by ``heads * dim``).
* Edge weights (Table 1) enter as a 1-d edge attribute (``edge_dim=1``): RGATConv projects it
  (``lin_edge``, no bias) to an attention term added to the logit in additive mode
  (``LeakyReLU(q_i + k_j + e_ij)``) and multiplied into it in multiplicative mode
  (``q_i k_j e_ij``, so a zero weight gives a zero logit). Messages themselves are not
  scaled by the weight. The weights should be O(1) (e.g. inverse distance rescaled to
  (0, 1]); ``use_edge_weight=False`` drops them.
* Dropout (Table 6, "Dropout" under GNN architecture) is both RGATConv's attention dropout
  and a feature dropout after the activation. RGATConv's ``mod`` stays None (PyG forbids
  ``mod`` with attention dropout).
* Activation GELU (the paper says "a nonlinear activation").
* RGATConv has no self-connection; a node's own features reach the next layer through the
  residual. Nodes without in-edges get ``LN(Skip(h) + GELU(bias))``.

Parameters that legitimately receive no gradient: RGATConv's ``w``, ``l1``, ``b1``, ``l2``,
``b2`` (used only by the cardinality-preserving ``mod`` options, which stay off).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch_geometric.nn import RGATConv
from torch_geometric.utils import softmax

RELATIONS: tuple[str, ...] = ("spatial", "vegetation", "elevation")

_MECHANISMS = {"within-relation": "within-relation", "within": "within-relation",
               "across-relation": "across-relation", "across": "across-relation"}
_MODES = {"additive": "additive-self-attention", "additive-self-attention":
          "additive-self-attention", "multiplicative": "multiplicative-self-attention",
          "multiplicative-self-attention": "multiplicative-self-attention"}

#: RGATConv parameters used only with ``mod`` set (never here): no gradient by design.
UNUSED_RGAT_PARAMS: tuple[str, ...] = ("w", "l1", "b1", "l2", "b2")


class LeanRGATConv(RGATConv):
    """PyG's ``RGATConv`` with the same parameters and maths, computed in O(E * out) memory.

    PyG 2.8's ``RGATConv.message`` gathers one weight matrix per edge
    (``index_select(W, 0, edge_type)``: E x in x out floats, e.g. 100k edges x 128 x 128 = 6.5 GB)
    and multiplies with ``bmm``. Here each relation's edges are multiplied by that relation's
    matrix once (R grouped matmuls), which gives the same projections ``x W_r`` without the
    per-edge copies. Everything after the projection (attention logits with the edge attribute,
    within/across-relation softmax, attention dropout, messages) is PyG's code path for
    ``mod=None``; other ``mod`` values and block-diagonal decomposition fall back to PyG.
    Equality with ``RGATConv`` on the same weights is tested.
    """

    def message(self, x_i: Tensor, x_j: Tensor, edge_type: Tensor, edge_attr: Tensor | None,
                index: Tensor, ptr: Tensor | None, size_i: int | None) -> Tensor:
        if self.mod is not None or self.num_blocks is not None:
            return super().message(x_i, x_j, edge_type, edge_attr, index, ptr, size_i)
        width = self.heads * self.out_channels
        if self.num_bases is not None:
            w = torch.matmul(self.att, self.basis.view(self.num_bases, -1))
            w = w.view(self.num_relations, self.in_channels, width)
        else:
            w = self.weight
        outi = x_i.new_zeros(x_i.shape[0], width)
        outj = x_j.new_zeros(x_j.shape[0], width)
        for r in range(self.num_relations):
            sel = (edge_type == r).nonzero(as_tuple=True)[0]
            if sel.numel():
                outi = outi.index_copy(0, sel, x_i.index_select(0, sel) @ w[r])
                outj = outj.index_copy(0, sel, x_j.index_select(0, sel) @ w[r])
        qi = torch.matmul(outi, self.q)
        kj = torch.matmul(outj, self.k)
        alpha_edge = 0
        if edge_attr is not None:
            if edge_attr.dim() == 1:
                edge_attr = edge_attr.view(-1, 1)
            edge_attributes = self.lin_edge(edge_attr).view(-1, width)
            alpha_edge = torch.matmul(edge_attributes, self.e)
        if self.attention_mode == "additive-self-attention":
            alpha = F.leaky_relu(qi + kj + alpha_edge, self.negative_slope)
        else:
            alpha = (qi * kj) * alpha_edge if edge_attr is not None else qi * kj
        if self.attention_mechanism == "within-relation":
            across_out = torch.zeros_like(alpha)
            for r in range(self.num_relations):
                mask = edge_type == r
                across_out[mask] = softmax(alpha[mask], index[mask])
            alpha = across_out
        else:
            alpha = softmax(alpha, index, ptr, size_i)
        self._alpha = alpha
        if self.training and self.dropout > 0:
            alpha = F.dropout(alpha, p=self.dropout, training=True)
        if self.attention_mode == "additive-self-attention":
            return alpha.view(-1, self.heads, 1) * outj.view(-1, self.heads, self.out_channels)
        return (alpha.view(-1, self.heads, self.dim, 1)
                * outj.view(-1, self.heads, 1, self.out_channels))


def attention_mechanism(name: str) -> str:
    """PyG's name of an attention mechanism (``"within"`` -> ``"within-relation"``)."""
    if name not in _MECHANISMS:
        raise ValueError(f"unknown attention mechanism {name!r}: within-relation or "
                         "across-relation")
    return _MECHANISMS[name]


def attention_mode(name: str) -> str:
    """PyG's name of an attention mode (``"additive"`` -> ``"additive-self-attention"``)."""
    if name not in _MODES:
        raise ValueError(f"unknown attention mode {name!r}: additive or multiplicative")
    return _MODES[name]


class RGATLayer(nn.Module):
    """``LN(Skip(h) + Dropout(GELU(RGATConv(h))))`` (Algorithm 1, 3.6)."""

    def __init__(self, in_dim: int, out_dim: int, num_relations: int = 3, heads: int = 4,
                 num_bases: int | None = None, num_blocks: int | None = None,
                 mechanism: str = "across-relation", mode: str = "additive", dim: int = 1,
                 negative_slope: float = 0.2, dropout: float = 0.0,
                 use_edge_weight: bool = True):
        super().__init__()
        mode = attention_mode(mode)
        if dim > 1 and mode != "multiplicative-self-attention":
            raise ValueError("dim > 1 needs multiplicative attention (PyG RGATConv)")
        if out_dim % (heads * dim):
            raise ValueError(f"width {out_dim} is not divisible by heads * dim = {heads * dim}")
        if num_bases is not None and num_blocks is not None:
            raise ValueError("num_bases and num_blocks are exclusive")
        self.use_edge_weight = use_edge_weight
        self.conv = LeanRGATConv(in_dim, out_dim // (heads * dim), num_relations,
                             num_bases=num_bases, num_blocks=num_blocks, mod=None,
                             attention_mechanism=attention_mechanism(mechanism),
                             attention_mode=mode, heads=heads, dim=dim, concat=True,
                             negative_slope=negative_slope, dropout=dropout,
                             edge_dim=1 if use_edge_weight else None)
        self.skip = nn.Linear(in_dim, out_dim) if in_dim != out_dim else nn.Identity()
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, h: Tensor, edge_index: Tensor, edge_type: Tensor,
                edge_weight: Tensor | None = None) -> Tensor:
        attr = None
        if self.use_edge_weight:
            attr = (edge_weight if edge_weight is not None
                    else h.new_ones(edge_index.shape[1])).to(h.dtype).view(-1, 1)
        m = self.conv(h, edge_index, edge_type, edge_attr=attr)
        return self.norm(self.skip(h) + self.drop(F.gelu(m)))


class RGATStack(nn.Module):
    """``L`` :class:`RGATLayer` of widths ``hidden_dims`` (Table 6 "RGAT hidden dims").

    ``checkpoint=True`` recomputes each layer's per-edge intermediates in the backward pass
    instead of keeping them (``torch.utils.checkpoint``, random state preserved so dropout
    masks are the same): the same outputs and gradients, with the memory of one layer's edge
    tensors instead of all ``L`` (for graphs of hundreds of thousands of edges at Table 6
    widths), for about one more forward pass of the stack.
    """

    def __init__(self, in_dim: int, hidden_dims: Sequence[int], num_relations: int = 3,
                 heads: int = 4, num_bases: int | None = None, num_blocks: int | None = None,
                 mechanism: str = "across-relation", mode: str = "additive", dim: int = 1,
                 negative_slope: float = 0.2, dropout: float = 0.0,
                 use_edge_weight: bool = True, checkpoint: bool = False):
        super().__init__()
        self.checkpoint = checkpoint
        if not hidden_dims:
            raise ValueError("hidden_dims must name at least one layer width")
        if num_bases is not None and num_bases > num_relations:
            num_bases = num_relations  # more bases than relations buys nothing
        dims = [in_dim, *hidden_dims]
        self.out_dim = dims[-1]
        self.num_relations = num_relations
        self.layers = nn.ModuleList(
            RGATLayer(a, b, num_relations, heads, num_bases, num_blocks, mechanism, mode, dim,
                      negative_slope, dropout, use_edge_weight)
            for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, h: Tensor, edge_index: Tensor, edge_type: Tensor,
                edge_weight: Tensor | None = None) -> Tensor:
        if edge_type.numel() and int(edge_type.max()) >= self.num_relations:
            raise ValueError(f"edge_type has ids >= num_relations={self.num_relations}")
        for layer in self.layers:
            if self.checkpoint and torch.is_grad_enabled():
                from torch.utils.checkpoint import checkpoint

                h = checkpoint(layer, h, edge_index, edge_type, edge_weight,
                               use_reentrant=False, preserve_rng_state=True)
            else:
                h = layer(h, edge_index, edge_type, edge_weight)
        return h


class MLPStack(nn.Module):
    """The graph-free stand-in (``use_graph=False``): ``LN(Skip(h) + Dropout(GELU(W h)))``
    with the same widths as the RGAT stack, so only message passing is removed."""

    def __init__(self, in_dim: int, hidden_dims: Sequence[int], dropout: float = 0.0):
        super().__init__()
        dims = [in_dim, *hidden_dims]
        self.out_dim = dims[-1]
        self.lins = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.skips = nn.ModuleList(nn.Linear(a, b) if a != b else nn.Identity()
                                   for a, b in zip(dims[:-1], dims[1:]))
        self.norms = nn.ModuleList(nn.LayerNorm(b) for b in dims[1:])
        self.drop = nn.Dropout(dropout)

    def forward(self, h: Tensor, *_: object) -> Tensor:
        for lin, skip, norm in zip(self.lins, self.skips, self.norms):
            h = norm(skip(h) + self.drop(F.gelu(lin(h))))
        return h


def unused_parameter_names(model: nn.Module) -> set[str]:
    """Names of ``model``'s parameters that RGATConv never uses (see module docstring)."""
    return {n for n, _ in model.named_parameters()
            if ".conv." in f".{n}" and n.rsplit(".", 1)[-1] in UNUSED_RGAT_PARAMS}


def _check_edges(edge_index: Tensor, edge_type: Tensor) -> None:
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError("edge_index must be (2, E)")
    if edge_type.shape != (edge_index.shape[1],):
        raise ValueError("edge_type must be (E,)")


def select_relations(edge_index: Tensor, edge_type: Tensor, edge_weight: Tensor | None,
                     keep: Sequence[int]) -> tuple[Tensor, Tensor, Tensor | None]:
    """Keep the edges whose type is in ``keep``, renumbering the types 0..len(keep)-1.

    The Table 11 "Spatial-only graph" ablation is ``keep=(0,)``.
    """
    _check_edges(edge_index, edge_type)
    new_type = torch.full_like(edge_type, -1)
    for i, r in enumerate(keep):
        new_type[edge_type == r] = i
    mask = new_type >= 0
    w = edge_weight[mask] if edge_weight is not None else None
    return edge_index[:, mask], new_type[mask], w

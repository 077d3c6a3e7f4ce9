"""Mini-batches of target nodes with sampled neighbourhoods, in pure PyTorch (SOC paper 5.1).

The paper trains SpTGNN on mini-batches of target nodes (Table 6: batch size 32 for Africa, 16
for Europe and Global), as PyG's ``NeighborLoader`` does. ``NeighborLoader`` needs ``pyg-lib``
or ``torch-sparse``, neither of which installs from PyPI here (``../shared/STACK.md``), so
:class:`NeighbourSampler` gives the same thing with tensor operations only:

1. the seeds (target nodes of the batch) are hop 0;
2. for hop ``h = 1 .. L`` every node first reached at hop ``h - 1`` keeps at most
   ``fanouts[h - 1]`` of its **incoming** edges (all relations together), drawn uniformly
   without replacement (``-1``: keep them all); the sources not seen before form hop ``h``;
3. the batch is the subgraph of the sampled edges only, relabelled so that the seeds come
   first (positions ``0 .. n_seeds - 1``), then hop 1, hop 2, ... (GraphSAGE, Hamilton et al.
   2017; PyG's ``NeighborLoader`` with ``subgraph_type="directional"``).

With every fanout ``-1`` and ``L`` at least the number of message-passing layers, the model's
outputs at the seeds equal those on the whole graph (tested), because the ``L``-hop
in-neighbourhood of the seeds is then complete. With finite fanouts a node aggregates over a
random subset of its neighbours: an unbiased estimate of the mean aggregation, and for
attention a renormalised softmax over the kept neighbours. Draws come from a
``torch.Generator``, so a seeded sampler gives the same batches on every run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["SampledSubgraph", "NeighbourSampler", "seed_batches"]


class SampledSubgraph(NamedTuple):
    """One mini-batch: ``nodes`` (n_sub,) original ids, the ``n_seeds`` seeds first;
    ``edge_index`` (2, E_sub) relabelled to positions in ``nodes``; ``edge_type``,
    ``edge_weight`` (E_sub,); ``edge_id`` (E_sub,) the edges' positions in the full edge list;
    ``hop`` (n_sub,) the hop at which each node was reached (0 for the seeds)."""

    nodes: Tensor
    n_seeds: int
    edge_index: Tensor
    edge_type: Tensor
    edge_weight: Tensor | None
    edge_id: Tensor
    hop: Tensor


class NeighbourSampler:
    """Layer-wise uniform neighbour sampling over a typed edge list (module doc).

    ``edge_index`` (2, E) source -> target (PyG's ``source_to_target``: row 1 aggregates);
    ``edge_type`` (E,); ``edge_weight`` (E,) or None; ``fanouts`` one entry per hop (``-1``
    for all in-edges), usually one per message-passing layer.
    """

    def __init__(self, edge_index: Tensor, edge_type: Tensor, num_nodes: int,
                 fanouts: Sequence[int], edge_weight: Tensor | None = None):
        edge_index = torch.as_tensor(edge_index).long().cpu()
        if edge_index.dim() != 2 or edge_index.shape[0] != 2:
            raise ValueError(f"edge_index must have shape (2, E), got {tuple(edge_index.shape)}")
        e = edge_index.shape[1]
        self.edge_type = torch.as_tensor(edge_type).long().cpu().reshape(-1)
        if self.edge_type.numel() != e:
            raise ValueError(f"edge_type has {self.edge_type.numel()} entries for {e} edges")
        self.edge_weight = None
        if edge_weight is not None:
            self.edge_weight = torch.as_tensor(edge_weight).float().cpu().reshape(-1)
            if self.edge_weight.numel() != e:
                raise ValueError(f"edge_weight has {self.edge_weight.numel()} entries for "
                                 f"{e} edges")
        self.num_nodes = int(num_nodes)
        if e and (int(edge_index.min()) < 0 or int(edge_index.max()) >= self.num_nodes):
            raise ValueError(f"edge_index refers to nodes outside [0, {self.num_nodes})")
        self.fanouts = tuple(int(f) for f in fanouts)
        if not self.fanouts:
            raise ValueError("fanouts must name at least one hop")
        if any(f == 0 or f < -1 for f in self.fanouts):
            raise ValueError(f"fanouts must be positive or -1 (all), got {self.fanouts}")
        self.edge_index = edge_index
        # incoming edges of every node, contiguous (CSR over the target)
        order = torch.argsort(edge_index[1], stable=True)
        self._csr_edge = order
        self._csr_src = edge_index[0, order]
        deg = torch.bincount(edge_index[1], minlength=self.num_nodes)
        self._rowptr = torch.zeros(self.num_nodes + 1, dtype=torch.long)
        self._rowptr[1:] = torch.cumsum(deg, 0)

    @property
    def in_degree(self) -> Tensor:
        """(N,) number of incoming edges of every node."""
        return self._rowptr[1:] - self._rowptr[:-1]

    def _pick(self, frontier: Tensor, fanout: int, gen: torch.Generator | None) -> Tensor:
        """Positions (in CSR order) of the in-edges kept for the nodes of ``frontier``."""
        start = self._rowptr[frontier]
        deg = self._rowptr[frontier + 1] - start
        total = int(deg.sum())
        if total == 0:
            return torch.empty(0, dtype=torch.long)
        seg = torch.repeat_interleave(torch.arange(frontier.numel()), deg)
        seg_start = torch.cumsum(deg, 0) - deg  # first slot of every segment
        offset = torch.arange(total) - seg_start[seg]
        pos = start[seg] + offset
        if fanout < 0 or int(deg.max()) <= fanout:
            return pos
        # uniform without replacement inside each segment: sort by (segment, random key)
        key = seg.double() + torch.rand(total, generator=gen, dtype=torch.float64)
        perm = torch.argsort(key)  # segments stay contiguous and in order
        # so slot i of the sorted order is still in segment seg[i], at rank offset[i] in it
        return pos[perm[offset < fanout]]

    def sample(self, seeds, generator: torch.Generator | None = None) -> SampledSubgraph:
        """The sampled ``len(fanouts)``-hop neighbourhood of ``seeds`` (distinct node ids)."""
        seeds = torch.as_tensor(seeds).long().cpu().reshape(-1)
        if seeds.numel() == 0:
            raise ValueError("seeds is empty")
        if int(seeds.min()) < 0 or int(seeds.max()) >= self.num_nodes:
            raise ValueError(f"seeds outside [0, {self.num_nodes})")
        if torch.unique(seeds).numel() != seeds.numel():
            raise ValueError("seeds must be distinct")
        local = torch.full((self.num_nodes,), -1, dtype=torch.long)
        local[seeds] = torch.arange(seeds.numel())
        nodes, hops, edges = [seeds], [torch.zeros(seeds.numel(), dtype=torch.long)], []
        frontier, n_seen = seeds, seeds.numel()
        for h, fanout in enumerate(self.fanouts, start=1):
            pos = self._pick(frontier, fanout, generator)
            if pos.numel() == 0:
                break
            edges.append(pos)
            src = self._csr_src[pos]
            new = torch.unique(src[local[src] < 0])  # sorted: deterministic order
            if new.numel() == 0:
                break
            local[new] = torch.arange(n_seen, n_seen + new.numel())
            n_seen += new.numel()
            nodes.append(new)
            hops.append(torch.full((new.numel(),), h, dtype=torch.long))
            frontier = new
        pos = torch.cat(edges) if edges else torch.empty(0, dtype=torch.long)
        eid = self._csr_edge[pos]
        ei = local[self.edge_index[:, eid]]
        return SampledSubgraph(
            nodes=torch.cat(nodes), n_seeds=int(seeds.numel()), edge_index=ei,
            edge_type=self.edge_type[eid],
            edge_weight=None if self.edge_weight is None else self.edge_weight[eid],
            edge_id=eid, hop=torch.cat(hops))


def seed_batches(node_ids, batch_size: int, generator: torch.Generator | None = None,
                 shuffle: bool = True, drop_last: bool = False) -> Iterator[Tensor]:
    """``node_ids`` in mini-batches of ``batch_size`` (shuffled with ``generator``).

    A last batch smaller than ``batch_size`` is kept unless ``drop_last`` (then dropped only
    when there is more than one batch, so a small training set still gives one).
    """
    ids = torch.as_tensor(node_ids).long().cpu().reshape(-1)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if shuffle:
        ids = ids[torch.randperm(ids.numel(), generator=generator)]
    n = ids.numel()
    stop = n - n % batch_size if (drop_last and n > batch_size and n % batch_size) else n
    for i in range(0, stop, batch_size):
        yield ids[i:i + batch_size]

"""Neighbour sampling for mini-batch SpTGNN training (geohet_lib.soc.sampling)."""

import numpy as np
import pytest
import torch
from torch_geometric.utils import k_hop_subgraph

from geohet_lib.soc.rgat import RGATStack
from geohet_lib.soc.sampling import NeighbourSampler, seed_batches

torch.set_num_threads(1)


def _random_graph(n=80, e=600, relations=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=g)
    ei = ei[:, ei[0] != ei[1]]
    et = torch.randint(0, relations, (ei.shape[1],), generator=g)
    ew = torch.rand(ei.shape[1], generator=g) + 0.1
    return ei, et, ew, n


def test_all_fanouts_give_the_exact_l_hop_neighbourhood_and_the_same_outputs():
    ei, et, ew, n = _random_graph()
    seeds = torch.tensor([5, 17, 42])
    s = NeighbourSampler(ei, et, n, (-1, -1), ew)
    sub = s.sample(seeds)
    assert torch.equal(sub.nodes[:3], seeds) and sub.n_seeds == 3
    subset, *_ = k_hop_subgraph(seeds, 2, ei, num_nodes=n, flow="source_to_target")
    assert set(sub.nodes.tolist()) == set(subset.tolist())
    # the kept edges are exactly the in-edges of the nodes reached in fewer than 2 hops
    inner = sub.nodes[sub.hop < 2]
    expect = torch.nonzero(torch.isin(ei[1], inner)).flatten()
    assert sorted(sub.edge_id.tolist()) == expect.tolist()
    # relabelling is consistent with the original edges
    assert torch.equal(sub.nodes[sub.edge_index], ei[:, sub.edge_id])
    assert torch.equal(sub.edge_type, et[sub.edge_id]) and torch.equal(sub.edge_weight,
                                                                      ew[sub.edge_id])
    # a 2-layer RGAT stack gives the full-graph outputs at the seeds
    torch.manual_seed(0)
    stack = RGATStack(6, (8, 4), 3, heads=2, mechanism="within-relation", mode="additive",
                      dropout=0.0).eval()
    x = torch.randn(n, 6)
    with torch.no_grad():
        full = stack(x, ei, et, ew)[seeds]
        part = stack(x[sub.nodes], sub.edge_index, sub.edge_type, sub.edge_weight)[:3]
    torch.testing.assert_close(part, full, rtol=1e-5, atol=1e-6)


def test_fanout_caps_the_in_edges_of_every_expanded_node():
    ei, et, ew, n = _random_graph(n=200, e=3000)
    s = NeighbourSampler(ei, et, n, (4, 2), ew)
    sub = s.sample(torch.arange(10), torch.Generator().manual_seed(1))
    deg_full = s.in_degree
    tgt = sub.nodes[sub.edge_index[1]]
    for hop, fan in ((0, 4), (1, 2)):
        for v in sub.nodes[sub.hop == hop].tolist():
            got = int((tgt == v).sum())
            assert got == min(int(deg_full[v]), fan)
    # nodes of the last hop aggregate nothing; sampled edges are distinct real edges
    assert not torch.isin(sub.nodes[sub.hop == 2], tgt).any()
    assert sub.edge_id.unique().numel() == sub.edge_id.numel()
    assert torch.equal(sub.nodes[sub.edge_index], ei[:, sub.edge_id])
    assert sub.nodes.unique().numel() == sub.nodes.numel()


def test_sampling_is_uniform_and_reproducible():
    # node 0 has 10 in-edges; fanout 3 keeps each with probability 3/10
    ei = torch.stack([torch.arange(1, 11), torch.zeros(10, dtype=torch.long)])
    s = NeighbourSampler(ei, torch.zeros(10), 11, (3,))
    g = torch.Generator().manual_seed(0)
    counts = torch.zeros(10)
    draws = 3000
    for _ in range(draws):
        counts[s.sample(torch.tensor([0]), g).edge_id] += 1
    assert counts.sum() == 3 * draws
    np.testing.assert_allclose(counts.numpy() / draws, 0.3, atol=0.03)
    a = s.sample(torch.tensor([0]), torch.Generator().manual_seed(7))
    b = s.sample(torch.tensor([0]), torch.Generator().manual_seed(7))
    assert torch.equal(a.edge_id, b.edge_id) and torch.equal(a.nodes, b.nodes)


def test_sampler_rejects_bad_input():
    ei, et, ew, n = _random_graph(n=10, e=30)
    with pytest.raises(ValueError, match="fanouts"):
        NeighbourSampler(ei, et, n, (0,))
    with pytest.raises(ValueError, match="fanouts"):
        NeighbourSampler(ei, et, n, ())
    with pytest.raises(ValueError, match="edge_type"):
        NeighbourSampler(ei, et[:-1], n, (2,))
    with pytest.raises(ValueError, match="outside"):
        NeighbourSampler(ei, et, 3, (2,))
    s = NeighbourSampler(ei, et, n, (2,))
    with pytest.raises(ValueError, match="distinct"):
        s.sample(torch.tensor([1, 1]))
    with pytest.raises(ValueError, match="outside"):
        s.sample(torch.tensor([10]))
    with pytest.raises(ValueError, match="empty"):
        s.sample(torch.tensor([], dtype=torch.long))


def test_isolated_seed_gives_a_single_node_batch():
    ei = torch.tensor([[1], [2]])
    s = NeighbourSampler(ei, torch.zeros(1), 3, (5, 5))
    sub = s.sample(torch.tensor([0]))
    assert sub.nodes.tolist() == [0] and sub.edge_index.shape == (2, 0)


def test_seed_batches_cover_every_node_once():
    ids = torch.arange(100, 203)
    batches = list(seed_batches(ids, 32, torch.Generator().manual_seed(0)))
    assert [b.numel() for b in batches] == [32, 32, 32, 7]
    assert sorted(torch.cat(batches).tolist()) == ids.tolist()
    assert not torch.equal(torch.cat(batches), ids)  # shuffled
    again = list(seed_batches(ids, 32, torch.Generator().manual_seed(0)))
    assert all(torch.equal(a, b) for a, b in zip(batches, again))
    assert [b.numel() for b in seed_batches(ids, 32, drop_last=True)] == [32, 32, 32]
    assert [b.numel() for b in seed_batches(ids[:5], 32, drop_last=True)] == [5]
    assert torch.equal(next(seed_batches(ids, 200, shuffle=False)), ids)
    with pytest.raises(ValueError, match="batch_size"):
        next(seed_batches(ids, 0))

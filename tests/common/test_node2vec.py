"""Node2vec: biased random walks (exact transition law) and deterministic skip-gram."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from geohet_lib.node2vec import node2vec_embeddings, random_walks, to_csr


def undirected(pairs) -> np.ndarray:
    a = np.asarray(pairs, dtype=np.int64).T
    return np.concatenate((a, a[::-1]), axis=1)


def ring_of_cliques(n_cliques: int = 6, size: int = 6) -> tuple[np.ndarray, int]:
    pairs = []
    for c in range(n_cliques):
        base = c * size
        pairs += [(base + i, base + j) for i in range(size) for j in range(i + 1, size)]
        pairs.append((base + size - 1, ((c + 1) % n_cliques) * size))  # bridge to next clique
    return undirected(pairs), n_cliques * size


def test_csr_rows():
    ei = undirected([(0, 1), (1, 2)])
    indptr, indices, w = to_csr(ei, 4)
    assert indptr.tolist() == [0, 1, 3, 4, 4]
    assert indices.tolist() == [1, 0, 2, 1]
    assert w.tolist() == [1.0] * 4


def test_walks_shape_start_and_follow_edges():
    rng = np.random.default_rng(0)
    pairs = {tuple(sorted(p)) for p in rng.integers(0, 40, size=(120, 2)) if p[0] != p[1]}
    ei = undirected(sorted(pairs))
    n = 40
    edges = set(map(tuple, ei.T.tolist()))
    deg = np.bincount(ei[0], minlength=n)
    for p, q in [(1.0, 1.0), (0.25, 4.0), (4.0, 0.25)]:
        walks = random_walks(ei, n, walk_length=12, walks_per_node=3, p=p, q=q, seed=1)
        assert walks.shape == (3 * n, 12) and walks.dtype == np.int64
        assert walks[:, 0].tolist() == list(range(n)) * 3
        for walk in walks:
            for a, b in zip(walk[:-1], walk[1:]):
                assert (a, b) in edges or (deg[a] == 0 and a == b)


def test_isolated_node_walks_repeat_it():
    ei = undirected([(0, 1), (1, 2)])
    walks = random_walks(ei, 4, walk_length=5, walks_per_node=2, p=0.5, q=2.0, seed=0)
    assert (walks[[3, 7]] == 3).all()


def test_walks_deterministic_per_seed():
    ei, n = ring_of_cliques()
    a = random_walks(ei, n, 10, 4, p=0.5, q=2.0, seed=3)
    b = random_walks(ei, n, 10, 4, p=0.5, q=2.0, seed=3)
    c = random_walks(ei, n, 10, 4, p=0.5, q=2.0, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_weighted_first_order_transition_law():
    # star 0 -> {1, 2, 3} with weights 1, 2, 5 (and back edges)
    ei = undirected([(0, 1), (0, 2), (0, 3)])
    w = np.array([1.0, 2.0, 5.0, 1.0, 1.0, 1.0])
    walks = random_walks(ei, 4, walk_length=2, walks_per_node=20000, edge_weight=w, seed=0)
    first = walks[walks[:, 0] == 0, 1]
    freq = np.bincount(first, minlength=4)[1:] / first.size
    np.testing.assert_allclose(freq, [1 / 8, 2 / 8, 5 / 8], atol=0.012)


def test_second_order_transition_law():
    # t=0 - v=1; v's neighbours: 0 (return, 1/p), 2 (also a neighbour of 0: weight 1),
    # 3 (distance 2 from t: 1/q). Edge weights multiply: w(1,3) = 2.
    ei = undirected([(0, 1), (0, 2), (1, 2), (1, 3)])
    w = np.ones(ei.shape[1])
    w[[3, 7]] = 2.0  # (1, 3) and (3, 1)
    p, q = 0.5, 4.0
    walks = random_walks(ei, 4, walk_length=3, walks_per_node=60000, p=p, q=q, edge_weight=w,
                         seed=0)
    sel = walks[(walks[:, 0] == 0) & (walks[:, 1] == 1), 2]
    unnorm = np.array([1 / p, 1.0, 2.0 / q])  # to 0, 2, 3
    expected = unnorm / unnorm.sum()
    freq = np.array([(sel == x).mean() for x in (0, 2, 3)])
    assert sel.size > 20000
    np.testing.assert_allclose(freq, expected, atol=0.012)


def test_small_p_returns_more():
    ei, n = ring_of_cliques()

    def return_rate(p: float, q: float) -> float:
        walks = random_walks(ei, n, walk_length=20, walks_per_node=20, p=p, q=q, seed=0)
        return float((walks[:, 2:] == walks[:, :-2]).mean())

    low, unbiased, high = return_rate(0.1, 1.0), return_rate(1.0, 1.0), return_rate(10.0, 1.0)
    assert low > unbiased > high
    assert low > 0.6 and high < 0.05


def _cosine(emb):
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    return e @ e.T


def test_embeddings_shape_determinism_and_communities():
    ei, n = ring_of_cliques(6, 6)
    kw = dict(walk_length=20, walks_per_node=10, window=4, epochs=10, seed=7)
    a = node2vec_embeddings(ei, n, 16, **kw)
    b = node2vec_embeddings(ei, n, 16, **kw)
    assert a.shape == (n, 16) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, node2vec_embeddings(ei, n, 16, **{**kw, "seed": 8}))
    sim = _cosine(a)
    adj = np.zeros((n, n), dtype=bool)
    adj[ei[0], ei[1]] = True
    off = ~np.eye(n, dtype=bool)
    assert sim[adj].mean() > sim[off & ~adj].mean() + 0.2
    clique = np.arange(n) // 6
    same = (clique[:, None] == clique[None, :]) & off
    assert sim[same].mean() > sim[~same & off].mean() + 0.2


_SNIPPET = """
import numpy as np
from geohet_lib.node2vec import node2vec_embeddings
ei = np.array([[0, 1, 1, 2, 2, 3, 3, 0, 0, 2], [1, 0, 2, 1, 3, 2, 0, 3, 2, 0]])
e = node2vec_embeddings(ei, 4, 8, walk_length=8, walks_per_node=5, p=0.5, q=2.0, seed=11)
print(repr(e.tobytes().hex()))
"""


def test_embeddings_identical_across_processes():
    outs = []
    for hashseed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        res = subprocess.run([sys.executable, "-c", _SNIPPET], capture_output=True, text=True,
                             env=env, check=True, timeout=120)
        outs.append(res.stdout.strip())
    assert outs[0] == outs[1] and len(outs[0]) > 10


@pytest.mark.parametrize("bad", [dict(p=0.0), dict(q=-1.0), dict(walk_length=0)])
def test_bad_parameters(bad):
    ei = undirected([(0, 1)])
    args = dict(walk_length=3, walks_per_node=1) | bad
    with pytest.raises(ValueError):
        random_walks(ei, 2, **args)


def test_bad_weights():
    ei = undirected([(0, 1)])
    with pytest.raises(ValueError):
        random_walks(ei, 2, 3, 1, edge_weight=np.array([1.0, 0.0]))

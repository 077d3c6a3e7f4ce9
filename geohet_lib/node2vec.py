"""Node2vec (Grover & Leskovec 2016) without PyG extension packages.

PyG's ``Node2Vec`` needs ``pyg-lib``/``torch-cluster``, which are not installable here
(``/work/shared/STACK.md``). This module does the two halves itself:

1. :func:`random_walks`: second-order biased random walks, all walkers advanced together with
   NumPy on a CSR adjacency. From ``v`` (having come from ``t``) the next node ``x`` is drawn
   with probability proportional to ``alpha_pq(t, x) * w(v, x)``, where ``alpha = 1/p`` when
   ``x == t`` (return), ``1`` when ``x`` is a neighbour of ``t`` and ``1/q`` otherwise; ``w``
   are the edge weights (1 when none are given). The first step, which has no ``t``, is a
   weighted first-order step. For ``p == q == 1`` every step is a weighted first-order step
   (inverse-CDF draws on the cumulative weights). Otherwise each step uses rejection
   sampling (as in KnightKing and PyG's ``torch-cluster``): propose ``x`` from the first-order
   distribution ``w(v, .)``, accept with probability ``alpha(t, x) / max(1/p, 1, 1/q)``,
   redraw the rejected walkers. This samples the exact node2vec distribution.
2. :func:`node2vec_embeddings`: skip-gram with negative sampling on the walks with gensim's
   ``Word2Vec`` (``sg=1``, one worker, fixed seed and a deterministic ``hashfxn``), so the same
   inputs and seed give bit-identical embeddings in any process.

Nodes without out-edges (isolated nodes, or dead ends of a directed graph): a walker there
stays where it is, so an isolated node's walks are that node repeated ``walk_length`` times
and its embedding is trained on itself only (it carries no graph information).
"""

from __future__ import annotations

import hashlib

import numpy as np


def _as_edge_index(edge_index) -> np.ndarray:
    ei = edge_index.detach().cpu().numpy() if hasattr(edge_index, "detach") else edge_index
    ei = np.asarray(ei, dtype=np.int64)
    if ei.ndim != 2 or ei.shape[0] != 2:
        raise ValueError(f"edge_index must have shape [2, E], got {ei.shape}")
    return ei


def to_csr(edge_index, num_nodes: int, edge_weight=None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR adjacency ``(indptr, indices, weights)`` of the directed edges ``src -> dst``.

    Rows are sorted by source, neighbours within a row by target. Duplicate edges are kept
    (their weights add up in the transition probabilities). ``weights`` are float64; all
    ones when ``edge_weight`` is None. Weights must be positive and finite.
    """
    ei = _as_edge_index(edge_index)
    if ei.size and (ei.min() < 0 or ei.max() >= num_nodes):
        raise ValueError(f"edge_index has node ids outside [0, {num_nodes})")
    if edge_weight is None:
        w = np.ones(ei.shape[1], dtype=np.float64)
    else:
        w = edge_weight.detach().cpu().numpy() if hasattr(edge_weight, "detach") else edge_weight
        w = np.asarray(w, dtype=np.float64).ravel()
        if w.shape[0] != ei.shape[1]:
            raise ValueError(f"edge_weight has {w.shape[0]} values for {ei.shape[1]} edges")
        if not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise ValueError("edge weights must be positive and finite (they are transition "
                             "weights of the random walk)")
    order = np.lexsort((ei[1], ei[0]))
    src, dst, w = ei[0, order], ei[1, order], w[order]
    indptr = np.zeros(num_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=num_nodes), out=indptr[1:])
    return indptr, dst.astype(np.int64), w


def _first_order_step(cur: np.ndarray, indptr: np.ndarray, indices: np.ndarray,
                      cumw: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One weighted first-order step for every walker in ``cur`` (all have out-edges).

    Returns the *edge* positions drawn: ``P(edge e) = w_e / sum of w over the row``.
    ``cumw[e]`` is the running sum of weights up to and including edge ``e``.
    """
    lo, hi = indptr[cur], indptr[cur + 1]
    before = np.where(lo > 0, cumw[np.maximum(lo - 1, 0)], 0.0)
    total = cumw[hi - 1] - before
    target = before + rng.random(cur.size) * total
    e = np.searchsorted(cumw, target, side="right")
    return np.clip(e, lo, hi - 1)


def random_walks(edge_index, num_nodes: int, walk_length: int, walks_per_node: int,
                 p: float = 1.0, q: float = 1.0, edge_weight=None, seed: int = 0,
                 progress: bool = False) -> np.ndarray:
    """Node2vec walks: int64 array ``[num_nodes * walks_per_node, walk_length]``.

    Walk ``r * num_nodes + i`` is the ``r``-th walk started at node ``i`` (column 0 is the
    start node). Edges are directed ``edge_index[0] -> edge_index[1]``; pass both directions
    for an undirected graph. ``edge_weight`` (positive) are transition weights. ``p`` is the
    return parameter, ``q`` the in-out parameter (Grover & Leskovec 2016, section 3.2.2).
    A walker at a node without out-edges stays there (an isolated node's walk repeats it).
    Deterministic for a given ``seed``.
    """
    if walk_length < 1 or walks_per_node < 1:
        raise ValueError("walk_length and walks_per_node must be at least 1")
    if p <= 0 or q <= 0:
        raise ValueError(f"p and q must be positive, got p={p}, q={q}")
    indptr, indices, w = to_csr(edge_index, num_nodes, edge_weight)
    cumw = np.cumsum(w)
    deg = np.diff(indptr)
    rng = np.random.default_rng(seed)
    n_walks = num_nodes * walks_per_node
    walks = np.empty((n_walks, walk_length), dtype=np.int64)
    walks[:, 0] = np.tile(np.arange(num_nodes, dtype=np.int64), walks_per_node)
    if walk_length == 1 or n_walks == 0:
        return walks
    second_order = not (p == 1.0 and q == 1.0)
    a_return, a_out = 1.0 / p, 1.0 / q
    a_max = max(a_return, 1.0, a_out)
    # Sorted keys src * N + dst for the "is x a neighbour of t" test of the rejection step.
    src = np.repeat(np.arange(num_nodes, dtype=np.int64), deg)
    keys = src * num_nodes + indices

    steps = range(1, walk_length)
    if progress:
        from .progress import progress_bar

        steps = progress_bar(steps, desc="node2vec walks", unit="step")
    for s in steps:
        cur = walks[:, s - 1]
        nxt = cur.copy()  # walkers at nodes without out-edges stay where they are
        movable = np.flatnonzero(deg[cur] > 0)
        if not second_order or s == 1:
            e = _first_order_step(cur[movable], indptr, indices, cumw, rng)
            nxt[movable] = indices[e]
        else:
            prev = walks[:, s - 2]
            todo = movable
            while todo.size:
                v, t = cur[todo], prev[todo]
                x = indices[_first_order_step(v, indptr, indices, cumw, rng)]
                k = t * num_nodes + x
                pos = np.minimum(np.searchsorted(keys, k), keys.size - 1)
                is_nb = keys[pos] == k
                alpha = np.where(x == t, a_return, np.where(is_nb, 1.0, a_out))
                ok = rng.random(todo.size) * a_max < alpha
                nxt[todo[ok]] = x[ok]
                todo = todo[~ok]
        walks[:, s] = nxt
    return walks


def _stable_hash(text: str) -> int:
    """Deterministic replacement for Python's salted ``hash`` (gensim's ``hashfxn``)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little",
                          signed=True)


def skipgram_embeddings(walks: np.ndarray, num_nodes: int, dim: int, window: int = 5,
                        epochs: int = 5, negative: int = 5, seed: int = 0,
                        progress: bool = False, **word2vec_kwargs) -> np.ndarray:
    """Skip-gram with negative sampling (gensim ``Word2Vec``) on integer walks.

    Returns float32 ``(num_nodes, dim)``, row ``i`` the vector of node ``i``. One worker and a
    fixed seed make it deterministic. Frequent-node down-sampling is off (``sample=0``: in
    a random walk a node's frequency reflects its degree, not its being a stop word);
    ``min_count=1``. A node absent from every walk (impossible with :func:`random_walks`,
    which starts walks at every node) would keep a zero vector. Extra keyword arguments go
    to ``Word2Vec`` (e.g. ``alpha``).
    """
    from gensim.models import Word2Vec
    from gensim.models.callbacks import CallbackAny2Vec

    sentences = [[str(v) for v in walk] for walk in np.asarray(walks).tolist()]
    callbacks = []
    if progress:
        from .progress import progress_bar

        class _Bar(CallbackAny2Vec):
            def __init__(self):
                self.bar = progress_bar(total=epochs, desc="node2vec skip-gram", unit="epoch")

            def on_epoch_end(self, model):
                self.bar.update(1)

            def on_train_end(self, model):
                self.bar.close()

        callbacks.append(_Bar())
    params = dict(vector_size=dim, window=window, min_count=1, sg=1, hs=0, negative=negative,
                  sample=0, workers=1, seed=seed, epochs=epochs, hashfxn=_stable_hash)
    params.update(word2vec_kwargs)
    model = Word2Vec(sentences=sentences, callbacks=callbacks, **params)
    out = np.zeros((num_nodes, dim), dtype=np.float32)
    for i in range(num_nodes):
        key = str(i)
        if key in model.wv.key_to_index:
            out[i] = model.wv[key]
    return out


def node2vec_embeddings(edge_index, num_nodes: int, dim: int, walk_length: int = 20,
                        walks_per_node: int = 10, window: int = 5, p: float = 1.0,
                        q: float = 1.0, epochs: int = 5, negative: int = 5,
                        edge_weight=None, seed: int = 0, progress: bool = False
                        ) -> np.ndarray:
    """Node2vec embeddings ``(num_nodes, dim)`` float32: biased walks, then skip-gram.

    See :func:`random_walks` for the walk parameters (``edge_weight`` are transition
    weights) and :func:`skipgram_embeddings` for the skip-gram. The same arguments and seed
    give identical embeddings in every process.
    """
    walks = random_walks(edge_index, num_nodes, walk_length, walks_per_node, p=p, q=q,
                         edge_weight=edge_weight, seed=seed, progress=progress)
    return skipgram_embeddings(walks, num_nodes, dim, window=window, epochs=epochs,
                               negative=negative, seed=seed, progress=progress)

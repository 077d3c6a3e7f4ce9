"""Samplers and loaders over item indices, shared by every model (issue 11, part 2).

Every training loader iterates item *indices* (GPP cell-years, SOC seed nodes, image ids,
table rows) through :class:`EpochSeededDistributedSampler`: a ``DistributedSampler`` whose
permutation of epoch ``e`` is ``numpy.random.default_rng(epoch_seed(seed, e))`` - a function of
``(seed, epoch)`` only, so a resumed run sees the batches of an uninterrupted one - and whose
shard of rank ``r`` out of ``R`` is ``perm[r::R]``. Hence the ``k``-th batch of ``b / R`` items
on each of ``R`` ranks together hold exactly the ``k``-th batch of ``b`` items of one process,
and DDP's gradient average equals the single-process gradient (mean losses, equal shares).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from ..runtime import epoch_seed


class IndexDataset(Dataset):
    """The integers ``0 .. n - 1``; a ``collate_fn`` turns a list of them into a batch."""

    def __init__(self, n: int):
        self.n = int(n)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return int(i)


def _world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size(), torch.distributed.get_rank()
    return 1, 0


class EpochSeededDistributedSampler(DistributedSampler):
    """Shuffled, sharded item order; epoch ``e`` permutes with ``epoch_seed(seed, e)``.

    With one replica it yields the whole permutation (the single-process order). With ``R``
    replicas the permutation is padded by wrapping to a multiple of ``R`` (as
    ``DistributedSampler``) and rank ``r`` takes ``perm[r::R]``. ``shuffle=False`` keeps the
    natural order. ``drop_last_singleton`` drops one item when the last batch of
    ``batch_size`` would hold a single row (batch norm cannot train on it).
    """

    def __init__(self, dataset: Any, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, batch_size: int | None = None,
                 drop_last_singleton: bool = False):
        world, me = _world()
        super().__init__(dataset, num_replicas=num_replicas or world,
                         rank=me if rank is None else rank, shuffle=shuffle, seed=seed)
        self.batch_size = batch_size
        self.drop_last_singleton = drop_last_singleton

    def _order(self) -> np.ndarray:
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng(epoch_seed(self.seed, self.epoch)).permutation(n)

    def __iter__(self) -> Iterator[int]:
        order = self._order()
        if self.drop_last_singleton and self.batch_size and len(order) % self.batch_size == 1 \
                and len(order) > 1:
            order = order[:-1]
        total = math.ceil(len(order) / self.num_replicas) * self.num_replicas
        if total > len(order):
            order = np.concatenate([order, order[: total - len(order)]])
        return iter(order[self.rank:total:self.num_replicas].tolist())

    def __len__(self) -> int:
        n = len(self.dataset)
        if self.drop_last_singleton and self.batch_size and n % self.batch_size == 1 and n > 1:
            n -= 1
        return math.ceil(n / self.num_replicas)


class ShardedEvalSampler(Sampler[int]):
    """Rank ``r`` of ``R`` evaluates items ``r, r + R, ...`` in order, without padding, so
    sums reduced over ranks count every item exactly once."""

    def __init__(self, n: int, num_replicas: int | None = None, rank: int | None = None):
        world, me = _world()
        self.n, self.num_replicas = int(n), num_replicas or world
        self.rank = me if rank is None else rank

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.n, self.num_replicas))

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.num_replicas))


def index_loader(n: int, batch_size: int, collate_fn: Callable[[list[int]], Any], *,
                 train: bool, seed: int = 0, pin_memory: bool = False,
                 drop_last_singleton: bool = False) -> DataLoader:
    """A ``DataLoader`` over ``n`` item indices batched by ``collate_fn``.

    ``train=True``: :class:`EpochSeededDistributedSampler` (shuffled by ``(seed, epoch)``,
    sharded over the DDP ranks, which must be initialised before this is called: build loaders
    in a ``LightningDataModule``'s ``*_dataloader`` hooks); ``train=False``:
    :class:`ShardedEvalSampler`. Items are gathered in the main process (``num_workers=0``:
    the data are memory maps or tensors already in memory).
    """
    ds = IndexDataset(n)
    sampler = (EpochSeededDistributedSampler(ds, seed=seed, batch_size=batch_size,
                                             drop_last_singleton=drop_last_singleton)
               if train else ShardedEvalSampler(n))
    return DataLoader(ds, batch_size=batch_size, sampler=sampler, collate_fn=collate_fn,
                      num_workers=0, pin_memory=pin_memory)

"""GeoHet's data through Lightning: batches of cell-years from the memory-mapped sample cache.

One training item is one cell-year (46 consecutive 8-day steps, :mod:`.samples`); the training
loader shuffles cell-years by ``(seed, epoch)`` and shards them over DDP ranks
(:class:`~geohet_lib.engine.data.EpochSeededDistributedSampler`): with ``R`` processes each
takes ``batch_size / R`` cell-years per step (give the per-process batch). Batches are gathered
from the memory map in the main process and pinned when the device is CUDA.
"""

from __future__ import annotations

import lightning as L
import numpy as np
import torch

from ..engine import index_loader
from .samples import SampleCache, cell_year_collate


class GPPDataModule(L.LightningDataModule):
    """Training and validation cell-years (``(n, 2)`` cell / year-position arrays)."""

    def __init__(self, cache: SampleCache, train_ex: np.ndarray, val_ex: np.ndarray,
                 cell_cluster: np.ndarray, batch_size: int, seed: int = 0,
                 eval_batch_size: int = 1024, pin_memory: bool = False):
        super().__init__()
        self.cache, self.train_ex, self.val_ex = cache, train_ex, val_ex
        self.cell_cluster, self.batch_size, self.seed = cell_cluster, batch_size, seed
        self.eval_batch_size, self.pin_memory = eval_batch_size, pin_memory

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        return index_loader(len(self.train_ex), self.batch_size,
                            cell_year_collate(self.cache, self.train_ex, self.cell_cluster),
                            train=True, seed=self.seed, pin_memory=self.pin_memory)

    def val_dataloader(self) -> torch.utils.data.DataLoader:
        return index_loader(len(self.val_ex), self.eval_batch_size,
                            cell_year_collate(self.cache, self.val_ex, self.cell_cluster),
                            train=False, pin_memory=self.pin_memory)

"""How GeoHet sees the data: one training example is one cell over one calendar year.

An example is the 46 consecutive 8-day steps of one land cell in one year (the paper's
decoder predicts "one value per time step" of a sequence; the year is the natural sequence
because the condition embeddings are indexed by step of year, paper 3.1). Features are the
43 normalised variables, the target is GPP in its stored units.

:func:`build_sample_cache` turns the Zarr dataset into two memory-mapped ``.npy`` arrays,
``features.npy`` (cell, year, step, feature) and ``target.npy`` (cell, year, step), written
year by year so memory stays bounded; batches are then gathered from the memory map, so the
data path never holds the whole dataset in RAM.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..io import atomic_path, read_json, write_json
from ..paths import SAMPLE_CACHE_DIR
from ..stages import content_key
from .dataset import open_gpp_dataset, read_manifest, read_normalisation
from .variables import FEATURE_NAMES, TARGET_NAME


@dataclass
class SampleCache:
    """Memory-mapped features (cell, year, step, F) and target (cell, year, step)."""

    features: np.ndarray
    target: np.ndarray
    years: list[int]
    feature_names: list[str]
    source_key: str = ""  # stage 01's content key (geohet_lib.stages.content_key)

    @property
    def n_cells(self) -> int:
        return self.features.shape[0]

    def year_index(self, years) -> np.ndarray:
        """Positions of ``years`` along the year axis (error for a year not in the cache)."""
        missing = [y for y in years if y not in self.years]
        if missing:
            raise ValueError(f"years {missing} are not in the sample cache ({self.years})")
        return np.array([self.years.index(y) for y in years], dtype=np.int64)

    def examples(self, years, cells: np.ndarray | None = None) -> np.ndarray:
        """All (cell, year-position) pairs of ``years`` (and ``cells``), as an (n, 2) array."""
        yi = self.year_index(years)
        cells = np.arange(self.n_cells) if cells is None else np.asarray(cells, dtype=np.int64)
        c, y = np.meshgrid(cells, yi, indexing="ij")
        return np.stack([c.ravel(), y.ravel()], axis=1)

    def gather(self, ex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Features (n, 46, F) and target (n, 46) of examples, read in sorted order."""
        order = np.lexsort((ex[:, 1], ex[:, 0]))
        inv = np.empty_like(order)
        inv[order] = np.arange(order.size)
        s = ex[order]
        x = self.features[s[:, 0], s[:, 1]][inv]
        y = self.target[s[:, 0], s[:, 1]][inv]
        return x, y

    def flat(self, years, cells: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """A plain tabular view for the baselines: X (n*46, F), y (n*46,)."""
        x, y = self.gather(self.examples(years, cells))
        return x.reshape(-1, x.shape[-1]), y.reshape(-1)


def build_sample_cache(data_dir: str | Path, progress: bool = True) -> Path:
    """Write the normalised memory-mapped arrays beside stage 01's dataset (once per stage-01
    result: the cache records stage 01's content key and is rebuilt when it differs)."""
    from ..progress import progress_bar

    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir)
    out = data_dir / SAMPLE_CACHE_DIR
    meta_path = out / "meta.json"
    key = content_key(manifest)
    if meta_path.exists() and read_json(meta_path).get("source_key") == key:
        return out
    ds = open_gpp_dataset(data_dir)
    stats = read_normalisation(data_dir)
    n_c, n_y, n_s = ds.sizes["cell"], ds.sizes["year"], ds.sizes["step"]
    mean = stats.loc[list(FEATURE_NAMES), "mean"].to_numpy(np.float32)
    std = stats.loc[list(FEATURE_NAMES), "std"].to_numpy(np.float32)
    with atomic_path(out, directory=True) as tmp:
        feats = np.lib.format.open_memmap(tmp / "features.npy", mode="w+", dtype=np.float32,
                                          shape=(n_c, n_y, n_s, len(FEATURE_NAMES)))
        target = np.lib.format.open_memmap(tmp / "target.npy", mode="w+", dtype=np.float32,
                                           shape=(n_c, n_y, n_s))
        for yi in progress_bar(range(n_y), desc="sample cache", disable=not progress, unit="year"):
            one = ds.isel(year=yi)
            block = np.empty((n_c, n_s, len(FEATURE_NAMES)), np.float32)
            for k, name in enumerate(FEATURE_NAMES):
                v = one[name].values
                block[:, :, k] = v[:, None] if v.ndim == 1 else v  # land cover is per year
            feats[:, yi] = (block - mean) / std
            target[:, yi] = one[TARGET_NAME].values
        feats.flush()
        target.flush()
        del feats, target
        write_json({"source_key": key, "years": manifest["years"],
                    "features": list(FEATURE_NAMES), "target": TARGET_NAME}, tmp / "meta.json")
    return out


def open_sample_cache(data_dir: str | Path) -> SampleCache:
    """Open the memory-mapped cache (building it first when missing or stale)."""
    out = build_sample_cache(data_dir)
    meta = read_json(out / "meta.json")
    return SampleCache(np.load(out / "features.npy", mmap_mode="r"),
                       np.load(out / "target.npy", mmap_mode="r"),
                       [int(y) for y in meta["years"]], list(meta["features"]),
                       meta["source_key"])


def cell_year_collate(cache: SampleCache, examples: np.ndarray, cell_cluster: np.ndarray
                      ) -> Callable[[Sequence[int]], tuple[torch.Tensor, ...]]:
    """``rows -> (x (b, 46, F), y (b, 46), cluster (b,), steps (b, 46))`` of ``examples[rows]``
    (CPU tensors; the training loader and :func:`iterate_batches` both batch with it)."""
    n_steps = cache.features.shape[2]
    steps = torch.arange(n_steps)

    def collate(rows: Sequence[int]) -> tuple[torch.Tensor, ...]:
        ex = examples[np.asarray(rows, dtype=np.int64)]
        x, y = cache.gather(ex)
        return (torch.from_numpy(x), torch.from_numpy(y),
                torch.from_numpy(cell_cluster[ex[:, 0]]), steps.expand(len(ex), n_steps))

    return collate


def iterate_batches(cache: SampleCache, examples: np.ndarray, cell_cluster: np.ndarray,
                    batch_size: int, shuffle: bool, seed: int = 0, device: str | torch.device = "cpu"):
    """Yield (x, y, cluster, steps) tensors; the order depends only on ``seed``.

    Tensors are pinned before the copy when the device is CUDA, so transfers overlap compute.
    """
    idx = np.arange(len(examples))
    if shuffle:
        idx = np.random.default_rng(seed).permutation(len(examples))
    device = torch.device(device)
    pin = device.type == "cuda"
    collate = cell_year_collate(cache, examples, cell_cluster)
    for b0 in range(0, len(idx), batch_size):
        batch = collate(idx[b0:b0 + batch_size])
        yield tuple((t.pin_memory() if pin else t).to(device, non_blocking=pin) for t in batch)

"""Image patches per soil sample: Sentinel-2, Sentinel-1 and DEM (SOC paper 3.3, 4.2).

For every sample the paper extracts a square patch (224 x 224 pixels at 10 m) centred on it
from three modalities: Sentinel-2 L2A (11 bands), Sentinel-1 GRD (VV, VH, dB) and the
Copernicus GLO-30 DEM (1 band, m). At the paper's scale (49k samples x 14 channels x 224 x
224 float32, about 140 GB) patches are not stored by default: :class:`SyntheticPatchSource`
draws each one procedurally and deterministically from its ``sample_id``, and
:func:`write_patches` materialises them (small profiles, or a user's real chips) as
memory-mapped ``s2.npy``, ``s1.npy``, ``dem.npy`` that :class:`NpyPatchSource` reads.

Every source follows :class:`PatchSource`: ``get(ids)`` takes **row positions** in the
corpus table (0 .. n-1) and returns float32 arrays ``{"s2": (n, 11, P, P), "s1": (n, 2, P,
P), "dem": (n, 1, P, P)}`` in physical units (reflectance, dB, metres).

Synthetic patch content (per sample, from its ground truth):

- a vegetation texture: a few random plane waves whose **frequency and contrast grow with
  the sample's image-only signal** (``image_signal``, a term of log SOC that no covariate
  carries), around the sample's NDVI;
- bare-soil blobs whose reflectance is **darker where the image signal is higher** (organic
  matter darkens soil);
- Sentinel-2 bands moving with the pixel NDVI around the sample's median reflectances;
  Sentinel-1 backscatter from vegetation, slope and texture with speckle; the DEM as the
  sample's elevation plus a plane of its slope and aspect and a little relief;
- sensor noise.

So a model that sees the patches can learn part of SOC that the covariates miss.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from ..io import atomic_path

S2_BANDS: tuple[str, ...] = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11",
                             "B12")
S1_BANDS: tuple[str, ...] = ("VV", "VH")
DEM_BANDS: tuple[str, ...] = ("DEM",)
CHANNEL_NAMES: dict[str, tuple[str, ...]] = {"s2": S2_BANDS, "s1": S1_BANDS, "dem": DEM_BANDS}
CHANNELS: dict[str, int] = {k: len(v) for k, v in CHANNEL_NAMES.items()}
UNITS: dict[str, str] = {"s2": "surface reflectance (0-1)", "s1": "backscatter (dB)",
                         "dem": "m"}
PIXEL_SIZE_M = 10.0  # Sentinel-2 10 m grid (224 px = 2.24 km, paper Figure 6)
META_NAME = "meta.json"

#: columns of the ground truth a synthetic patch is drawn from
TRUTH_COLUMNS = ("image_signal", "true_ndvi_p50", "true_blue_p50", "true_green_p50",
                 "true_red_p50", "true_nir_p50", "true_swir1_p50", "true_swir2_p50",
                 "true_elevation", "true_slope", "true_aspect")


@runtime_checkable
class PatchSource(Protocol):
    """Anything that serves patches by corpus row position."""

    channels: dict[str, int]
    patch_size: int

    def __len__(self) -> int: ...

    def get(self, ids: np.ndarray) -> dict[str, np.ndarray]: ...


def _check_ids(ids: np.ndarray | list[int], n: int) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids must be a 1-D array of row positions, got shape {ids.shape}")
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"ids must be integer row positions, got dtype {ids.dtype}")
    ids = ids.astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= n):
        raise IndexError(f"patch ids must lie in [0, {n}), got min {ids.min()} max {ids.max()}")
    return ids


# ----------------------------------------------------------------------------- synthetic
class SyntheticPatchSource:
    """Procedural patches, a deterministic function of ``(seed, sample_id)``.

    ``corpus`` (for ``sample_id`` and the row order) and ``truth`` (the stage-01 ground
    truth with :data:`TRUTH_COLUMNS`) are aligned on ``sample_id``. ``n_waves`` plane waves
    make the texture; ``noise`` is the Sentinel-2 reflectance noise sd.
    """

    def __init__(self, corpus: pd.DataFrame, truth: pd.DataFrame, patch_size: int,
                 seed: int = 0, n_waves: int = 5, noise: float = 0.004):
        if int(patch_size) < 4:
            raise ValueError(f"patch_size must be at least 4 pixels, got {patch_size}")
        missing = [c for c in ("sample_id", *TRUTH_COLUMNS) if c not in truth.columns]
        if missing:
            raise ValueError(f"ground truth lacks column(s) {missing}: pass the ground_truth "
                             "table written by stage 01 (synthetic corpora only)")
        if "sample_id" not in corpus.columns:
            raise ValueError("corpus lacks column 'sample_id'")
        t = truth.set_index("sample_id")
        sid = corpus["sample_id"].to_numpy()
        absent = ~pd.Index(sid).isin(t.index)
        if absent.any():
            raise ValueError(f"{int(absent.sum())} corpus sample_id(s) have no ground truth, "
                             f"e.g. {sid[absent][:3].tolist()}")
        t = t.loc[sid]
        self.sample_id = np.asarray(sid, dtype=np.int64)
        self.params = {c: t[c].to_numpy(np.float64) for c in TRUTH_COLUMNS}
        self.channels = dict(CHANNELS)
        self.channel_names = dict(CHANNEL_NAMES)
        self.patch_size = int(patch_size)
        self.seed = int(seed)
        self.n_waves = int(n_waves)
        self.noise = float(noise)
        p = self.patch_size
        yy, xx = np.mgrid[0:p, 0:p].astype(np.float32)
        self._x = (xx - (p - 1) / 2) / p  # patch-relative coordinates in [-0.5, 0.5]
        self._y = ((p - 1) / 2 - yy) / p  # north up

    def __len__(self) -> int:
        return self.sample_id.size

    def __repr__(self) -> str:
        return (f"SyntheticPatchSource(n={len(self)}, patch_size={self.patch_size}, "
                f"seed={self.seed})")

    def get(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        """Patches of corpus rows ``ids`` (float32, ``{"s2", "s1", "dem"}``)."""
        ids = _check_ids(ids, len(self))
        p = self.patch_size
        out = {k: np.empty((ids.size, c, p, p), np.float32) for k, c in self.channels.items()}
        for j, i in enumerate(ids):
            s2, s1, dem = self._one(int(i))
            out["s2"][j], out["s1"][j], out["dem"][j] = s2, s1, dem
        return out

    def _one(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pr = {k: float(v[i]) for k, v in self.params.items()}  # python floats keep float32
        rng = np.random.default_rng([self.seed, 7331, int(self.sample_id[i])])
        p, x, y = self.patch_size, self._x, self._y
        img = pr["image_signal"]
        # vegetation texture: frequency (cycles per patch) and contrast grow with the signal
        theta = rng.uniform(0, np.pi, self.n_waves)
        freq = np.clip(2.0 * np.exp(0.45 * img) * rng.uniform(0.8, 1.25, self.n_waves),
                       0.5, p / 4)
        phase = rng.uniform(0, 2 * np.pi, self.n_waves)
        tex = np.zeros((p, p), np.float32)
        for k in range(self.n_waves):
            kx = np.float32(2 * np.pi * freq[k] * np.cos(theta[k]))
            ky = np.float32(2 * np.pi * freq[k] * np.sin(theta[k]))
            tex += np.cos(kx * x + ky * y + np.float32(phase[k]))
        tex /= np.sqrt(self.n_waves / 2)
        contrast = 0.08 * np.exp(0.35 * img)
        # bare-soil blobs, darker with more organic matter
        n_blobs = rng.poisson(2.0)
        bare = np.zeros((p, p), np.float32)
        for _ in range(n_blobs):
            cx, cy = rng.uniform(-0.5, 0.5, 2)
            rad = rng.uniform(0.06, 0.18)
            bare = np.maximum(bare, np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * rad**2)))
        bare = np.clip(1.6 * bare - 0.3, 0.0, 1.0)
        ndvi0 = pr["true_ndvi_p50"]
        ndvi = ndvi0 + contrast * tex
        ndvi = ndvi * (1 - bare) + min(ndvi0, 0.12) * bare
        dn = ndvi - ndvi0
        darkness = np.exp(-0.12 * img)
        gains = {"true_blue_p50": -0.35, "true_green_p50": -0.25, "true_red_p50": -0.9,
                 "true_nir_p50": 0.9, "true_swir1_p50": -0.6, "true_swir2_p50": -0.8}
        b = {}
        for col, g in gains.items():
            level = pr[col] * np.exp(g * dn / 0.3)
            b[col] = level * (1 - bare + bare * darkness)
        red, nir = b["true_red_p50"], b["true_nir_p50"]
        bands = [b["true_blue_p50"], b["true_green_p50"], red,
                 red + 0.25 * (nir - red), red + 0.60 * (nir - red), red + 0.85 * (nir - red),
                 nir, 1.02 * nir, 0.3 * nir + 0.02, b["true_swir1_p50"], b["true_swir2_p50"]]
        s2 = np.stack(bands) + np.float32(self.noise) * rng.standard_normal(
            (len(bands), p, p), dtype=np.float32)
        s2 = np.clip(s2, 0.0, 1.0)
        # Sentinel-1: vegetation volume scattering, terrain, texture; gamma speckle (ENL 4.4)
        slope = np.deg2rad(pr["true_slope"])
        vv0 = -13.0 + 5.0 * ndvi0 + 6.0 * np.sin(slope) + 0.8 * tex * np.exp(0.2 * img)
        speckle = 10 * np.log10(rng.standard_gamma(4.4, (2, p, p), dtype=np.float32) / 4.4)
        vv = vv0 + speckle[0]
        vh = vv0 - 7.5 + 3.0 * (ndvi - ndvi0) + speckle[1]
        s1 = np.stack([vv, vh])
        # DEM: elevation + a plane falling towards the aspect + relief
        asp = np.deg2rad(pr["true_aspect"])
        dist = p * PIXEL_SIZE_M
        plane = -np.tan(slope) * dist * (x * np.sin(asp) + y * np.cos(asp))
        dem = (pr["true_elevation"] + plane + 2.0 * tex * np.tanh(slope * 10)
               + 0.5 * rng.standard_normal((p, p), dtype=np.float32))
        return s2.astype(np.float32), s1.astype(np.float32), dem[None].astype(np.float32)


# ----------------------------------------------------------------------------- files
class NpyPatchSource:
    """Patches stored as ``s2.npy``, ``s1.npy``, ``dem.npy`` (n, C, P, P) in ``folder``.

    Files are memory-mapped (read-only), so only the rows asked for are read. Row ``i`` is
    corpus row ``i``. Any float dtype is accepted; :meth:`get` returns float32.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise FileNotFoundError(f"patch folder {self.folder} does not exist")
        self._arrays: dict[str, np.ndarray] = {}
        for key in CHANNELS:
            f = self.folder / f"{key}.npy"
            if not f.exists():
                raise FileNotFoundError(f"{f} is missing: a patch folder holds s2.npy, s1.npy "
                                        "and dem.npy, each of shape (n, channels, P, P)")
            a = np.load(f, mmap_mode="r")
            if a.ndim != 4 or a.shape[2] != a.shape[3]:
                raise ValueError(f"{f.name}: shape {a.shape}, expected (n, channels, P, P)")
            self._arrays[key] = a
        shapes = {k: a.shape for k, a in self._arrays.items()}
        if len({s[0] for s in shapes.values()}) != 1 or len({s[2] for s in shapes.values()}) != 1:
            raise ValueError(f"patch files disagree on sample count or patch size: {shapes}")
        self.channels = {k: int(a.shape[1]) for k, a in self._arrays.items()}
        self.patch_size = int(self._arrays["s2"].shape[2])
        meta = self.folder / META_NAME
        self.meta = json.loads(meta.read_text()) if meta.exists() else {}
        self.channel_names = self.meta.get("channel_names", {})

    def __len__(self) -> int:
        return int(self._arrays["s2"].shape[0])

    def __repr__(self) -> str:
        return f"NpyPatchSource({str(self.folder)!r}, n={len(self)}, patch_size={self.patch_size})"

    def get(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        """Patches of rows ``ids`` as float32 copies."""
        ids = _check_ids(ids, len(self))
        return {k: np.asarray(a[ids], dtype=np.float32) for k, a in self._arrays.items()}


def write_patches(source: PatchSource, folder: str | Path, ids: np.ndarray | None = None,
                  chunk: int = 256, dtype: str | np.dtype = np.float32,
                  progress: bool = False) -> Path:
    """Materialise ``source`` rows ``ids`` (default: all) into ``folder`` as ``.npy`` files.

    Row ``k`` of each file holds source row ``ids[k]``. Written ``chunk`` samples at a time
    into a temporary folder that replaces ``folder`` when complete (atomic). ``dtype``
    ``float16`` halves the size. Returns ``folder``.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    ids = np.arange(len(source)) if ids is None else _check_ids(ids, len(source))
    folder = Path(folder)
    p = int(source.patch_size)
    dtype = np.dtype(dtype)
    bar = None
    if progress:
        from ..progress import progress_bar

        bar = progress_bar(total=ids.size, desc="patches", unit="sample")
    with atomic_path(folder, directory=True) as tmp:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; give the usual folder mode
        arrays = {k: np.lib.format.open_memmap(tmp / f"{k}.npy", mode="w+", dtype=dtype,
                                               shape=(ids.size, c, p, p))
                  for k, c in source.channels.items()}
        for s in range(0, ids.size, chunk):
            batch = source.get(ids[s:s + chunk])
            for k, a in arrays.items():
                a[s:s + len(batch[k])] = batch[k]
            if bar is not None:
                bar.update(len(batch["s2"]))
        for a in arrays.values():
            a.flush()
        del arrays
        meta = {"n": int(ids.size), "patch_size": p, "channels": dict(source.channels),
                "channel_names": {k: list(v) for k, v in
                                  getattr(source, "channel_names", CHANNEL_NAMES).items()},
                "units": UNITS, "pixel_size_m": PIXEL_SIZE_M, "dtype": dtype.name,
                "source": repr(source),
                "ids_are_rows": bool(np.array_equal(ids, np.arange(len(source))))}
        (tmp / META_NAME).write_text(json.dumps(meta, indent=2) + "\n")
    if bar is not None:
        bar.close()
    return folder


def patch_statistics(patches: dict[str, np.ndarray]) -> pd.DataFrame:
    """Simple per-sample statistics: mean NDVI, texture energy (mean |grad NDVI|), mean DEM.

    ``texture_energy`` follows the image-only signal of the synthetic generator, so it is a
    quick check that the patches carry it.
    """
    s2 = patches["s2"].astype(np.float64)
    red, nir = s2[:, 2], s2[:, 6]
    ndvi = (nir - red) / np.clip(nir + red, 1e-6, None)
    grad = (np.abs(np.diff(ndvi, axis=1)).mean(axis=(1, 2))
            + np.abs(np.diff(ndvi, axis=2)).mean(axis=(1, 2))) / 2
    return pd.DataFrame({"ndvi_mean": ndvi.mean(axis=(1, 2)), "texture_energy": grad,
                         "dem_mean": patches["dem"][:, 0].mean(axis=(1, 2))})

"""The image encoder of the SOC study: a small ViT standing in for TerraMind (SOC paper 3.3, 5.2).

The paper fine-tunes TerraMind v1-large (Jakubik et al. 2025) per region as a regression on
log-SOC, with the backbone frozen for a warm-up of N_w epochs so that the MLP head adapts first
(5.2, Figure 9); it selects the checkpoint by validation MSE on the log target and reports
MAPE and R² on the original scale (Table 5); then it discards the head and uses the frozen
backbone as the feature extractor of SpTGNN. Sentinel-2 (11 bands), Sentinel-1 (VV, VH) and DEM
patches are encoded independently into one token sequence per modality, the sequences are
reduced element-wise across modalities (mean for Africa and Europe, max for Global) and a
"CLS-token patch-merge transformer" (Table 6: layers / heads / ff = 2/4/1024 Africa,
3/8/1024 Europe, 2/4/512 Global) gives one vector per sample.

TerraMind's weights cannot be fetched here, so :class:`PatchViT` is a plain-torch ViT trained
from scratch with the same interface:

* per-modality input standardisation (per-channel mean / std fitted on training patches, kept
  as buffers in the model's state; non-finite pixels become the channel mean, i.e. 0);
* per-modality patch embedding (a ``vit_patch``-pixel convolution, as TerraMind's
  modality-specific patch embeddings), one learnable CLS token per modality and a fixed 2-D
  sin-cos (or learnable) position embedding shared by the modalities;
* a shared pre-norm transformer body applied to each modality's stream independently;
* the modality merge (``mean`` / ``max``) of the token sequences, token by token;
* the CLS-merge transformer: a fresh learnable CLS token is prepended to the merged sequence,
  ``merge_depth`` pre-norm blocks follow, and the CLS output (``pool="cls"``; ``pool="max"``
  max-pools the patch tokens instead, the wording of paper 3.3) is the embedding of ``dim``.

Stand-in choices (the paper is silent or its setting cannot be reproduced): the body is
trained from scratch, so the warm-up trains the CLS-merge transformer and the head on a
*random* frozen body (in the paper the frozen body is pretrained); the CLS-merge transformer is
part of the fine-tuned encoder here so that embeddings are computed once and cached (in the
paper its sizes appear in the SpTGNN table); Table 6's merge feed-forward widths are scaled by
``dim / 1024`` (TerraMind-large's width); Huber's delta applies to the standardised target.

:class:`TerraMindAdapter` wraps the real TerraMind through ``terratorch`` for a user who has
the package and the weights; it is never required.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping
from torch import Tensor, nn
from torch.nn import functional as F

from ..engine import (BEST_NAME, BaseTask, History, OptimConfig, fit_task, index_loader,
                      load_checkpoint)
from ..io import atomic_path, write_json
from ..progress import progress_bar
from ..runtime import LOG, get_device

__all__ = [
    "MODALITIES", "PAPER_CLS_MERGE", "PAPER_VIT_LOSS", "PatchSourceLike", "ImageEncoderConfig",
    "PatchViT", "ImageRegressor", "HISTORY_COLUMNS", "ImagePatchData", "ImageRegressionTask",
    "WarmupEarlyStopping", "fit_image_encoder", "load_image_encoder", "predict_target",
    "embed_patches", "cache_embeddings", "load_cached_embeddings", "TerraMindAdapter",
    "TerraMindUnavailableError",
]

#: the three raster modalities and their channels (SOC paper 5.2: S2 L2A 11 bands, S1 GRD VV/VH,
#: GLO-30 DEM)
MODALITIES: tuple[tuple[str, int], ...] = (("s2", 11), ("s1", 2), ("dem", 1))

#: Table 6 (lower block): CLS-merge transformer layers / heads / feed-forward width and the
#: modality merge, per region
PAPER_CLS_MERGE: dict[str, dict[str, Any]] = {
    "africa": {"layers": 2, "heads": 4, "ff": 1024, "modality_merge": "mean"},
    "europe": {"layers": 3, "heads": 8, "ff": 1024, "modality_merge": "mean"},
    "global": {"layers": 2, "heads": 4, "ff": 512, "modality_merge": "max"},
}

#: SOC paper 5.2: the Africa ViT fine-tune uses MSE, Europe and Global use Huber
PAPER_VIT_LOSS: dict[str, str] = {"africa": "mse", "europe": "huber", "global": "huber"}

_TERRAMIND_WIDTH = 1024  # TerraMind v1-large token width, the reference of Table 6's ff sizes


@runtime_checkable
class PatchSourceLike(Protocol):
    """Anything that returns the image patches of some samples.

    ``get(ids)`` gives ``{"s2": (n, 11, P, P), "s1": (n, 2, P, P), "dem": (n, 1, P, P)}``
    float32 arrays in the order of ``ids`` (the real ``PatchSource`` may build them on the fly).
    """

    def get(self, ids: np.ndarray) -> dict[str, np.ndarray]: ...


# --------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageEncoderConfig:
    """Sizes of :class:`PatchViT`; :meth:`from_profile` reads them from a profile and region."""

    modalities: tuple[tuple[str, int], ...] = MODALITIES
    patch_size: int = 224  # P, pixels per side of every modality's patch
    vit_patch: int = 16  # token size in pixels
    dim: int = 192
    depth: int = 6
    heads: int = 3
    mlp_ratio: float = 4.0
    merge_depth: int = 2  # CLS-merge transformer layers (Table 6)
    merge_heads: int = 4
    merge_ff: int = 192
    modality_merge: str = "mean"  # "mean" (Africa, Europe) or "max" (Global), Table 6
    pool: str = "cls"  # "cls": merge-CLS output; "max": max over patch tokens (paper 3.3)
    pos_embed: str = "sincos"  # "sincos" (fixed 2-D) or "learned"
    dropout: float = 0.0
    head_hidden: int = 0  # hidden width of the regression MLP head; 0: dim

    def __post_init__(self):
        if self.patch_size % self.vit_patch:
            raise ValueError(f"patch_size={self.patch_size} is not a multiple of "
                             f"vit_patch={self.vit_patch}")
        for name, h in (("heads", self.heads), ("merge_heads", self.merge_heads)):
            if h < 1 or self.dim % h:
                raise ValueError(f"dim={self.dim} is not divisible by {name}={h}")
        if self.modality_merge not in ("mean", "max"):
            raise ValueError(f"modality_merge must be 'mean' or 'max', got {self.modality_merge!r}")
        if self.pool not in ("cls", "max"):
            raise ValueError(f"pool must be 'cls' or 'max', got {self.pool!r}")
        if self.pos_embed not in ("sincos", "learned"):
            raise ValueError(f"pos_embed must be 'sincos' or 'learned', got {self.pos_embed!r}")
        if self.pos_embed == "sincos" and self.dim % 4:
            raise ValueError(f"2-D sin-cos position embedding needs dim % 4 == 0 (dim={self.dim}); "
                             "use pos_embed='learned'")
        if self.pool == "cls" and self.merge_depth < 1:
            raise ValueError("pool='cls' needs merge_depth >= 1 (the merge CLS token must attend)")
        if not self.modalities or len({m for m, _ in self.modalities}) != len(self.modalities):
            raise ValueError(f"modalities must be distinct and non-empty: {self.modalities}")

    @property
    def n_tokens(self) -> int:
        """Patch tokens per modality, (P / vit_patch)²."""
        return (self.patch_size // self.vit_patch) ** 2

    @classmethod
    def from_profile(cls, profile: Any = "default", region: str = "africa",
                     **overrides: Any) -> ImageEncoderConfig:
        """Sizes from ``get_profile(name).soc`` and the CLS-merge of ``region`` (Table 6).

        Merge heads fall back to ``vit_heads`` when ``vit_dim`` is not divisible by Table 6's
        value; the merge feed-forward width is Table 6's scaled by ``vit_dim / 1024``.
        """
        from ..config import get_profile

        soc = get_profile(profile).soc if isinstance(profile, str) else getattr(profile, "soc",
                                                                               profile)
        if region not in PAPER_CLS_MERGE:
            raise ValueError(f"unknown region {region!r}: choose one of "
                             f"{', '.join(PAPER_CLS_MERGE)}")
        tab = PAPER_CLS_MERGE[region]
        dim = soc.vit_dim
        heads = tab["heads"] if dim % tab["heads"] == 0 else soc.vit_heads
        kw = dict(patch_size=soc.patch_size, vit_patch=soc.vit_patch, dim=dim,
                  depth=soc.vit_depth, heads=soc.vit_heads, merge_depth=tab["layers"],
                  merge_heads=heads, merge_ff=max(8, round(dim * tab["ff"] / _TERRAMIND_WIDTH)),
                  modality_merge=tab["modality_merge"])
        kw.update(overrides)
        return cls(**kw)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ImageEncoderConfig:
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        if "modalities" in d:
            d["modalities"] = tuple((str(m), int(c)) for m, c in d["modalities"])
        return cls(**d)


# --------------------------------------------------------------------------------------------
# the ViT
# --------------------------------------------------------------------------------------------


def sincos_2d(grid: int, dim: int) -> Tensor:
    """Fixed 2-D sin-cos position embedding (grid², dim): half the channels per axis."""
    q = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(q, dtype=torch.float64) / q)
    yy, xx = torch.meshgrid(torch.arange(grid, dtype=torch.float64),
                            torch.arange(grid, dtype=torch.float64), indexing="ij")
    parts = []
    for coord in (yy.reshape(-1), xx.reshape(-1)):
        ang = coord[:, None] * omega[None]
        parts += [torch.sin(ang), torch.cos(ang)]
    return torch.cat(parts, dim=1).float()


class Block(nn.Module):
    """Pre-norm transformer block: x + MHSA(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, ff: int, dropout: float = 0.0):
        super().__init__()
        self.h, self.p = heads, dropout
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, ff), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(ff, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, dropout_p=self.p if self.training else 0.0)
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(b, n, d)))
        return x + self.drop(self.mlp(self.norm2(x)))


class PatchViT(nn.Module):
    """Multi-modal ViT: per-modality streams, shared body, modality merge, CLS-merge transformer.

    ``encode({"s2": (n, 11, P, P), ...})`` -> (n, dim). The *body* (frozen during the warm-up
    and standing in for TerraMind) is the patch embeddings, CLS tokens, position embedding and
    ``depth`` blocks; the CLS-merge transformer sits on top of it.
    """

    def __init__(self, cfg: ImageEncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.embed_dim = cfg.dim
        self.modalities = tuple(m for m, _ in cfg.modalities)
        d, g = cfg.dim, cfg.patch_size // cfg.vit_patch
        self.patch_embed = nn.ModuleDict({m: nn.Conv2d(c, d, cfg.vit_patch, stride=cfg.vit_patch)
                                          for m, c in cfg.modalities})
        self.cls = nn.Parameter(torch.randn(len(self.modalities), 1, d) * 0.02)
        if cfg.pos_embed == "sincos":
            self.register_buffer("pos", sincos_2d(g, d)[None])
        else:
            self.pos = nn.Parameter(torch.randn(1, g * g, d) * 0.02)
        ff = int(round(cfg.mlp_ratio * d))
        self.blocks = nn.ModuleList(Block(d, cfg.heads, ff, cfg.dropout) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(d)
        self.merge_cls = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.merge_blocks = nn.ModuleList(Block(d, cfg.merge_heads, cfg.merge_ff, cfg.dropout)
                                          for _ in range(cfg.merge_depth))
        self.merge_norm = nn.LayerNorm(d)
        for m, c in cfg.modalities:  # input standardisation, fitted by fit_input_norm
            self.register_buffer(f"in_mean_{m}", torch.zeros(c))
            self.register_buffer(f"in_std_{m}", torch.ones(c))
        self.register_buffer("norm_fitted", torch.tensor(False))
        self.apply(_init_weights)

    # -- parameter groups ----------------------------------------------------------------------
    def body_parameters(self) -> list[nn.Parameter]:
        """The backbone (TerraMind's place): frozen during the warm-up."""
        mods = [self.patch_embed, self.blocks, self.norm]
        ps = [p for mod in mods for p in mod.parameters()] + [self.cls]
        return ps + ([self.pos] if isinstance(self.pos, nn.Parameter) else [])

    def config_dict(self) -> dict:
        return {"encoder": "PatchViT", **self.cfg.to_dict()}

    # -- input standardisation -------------------------------------------------------------------
    def fit_input_norm(self, source: PatchSourceLike, ids: np.ndarray, batch_size: int = 64,
                       max_samples: int | None = 2048, seed: int = 0,
                       progress: bool = False) -> PatchViT:
        """Per-channel mean / std of every modality over (a sample of) training patches.

        Streams batches from ``source`` (bounded memory), accumulates in float64 and ignores
        non-finite pixels; a channel with (near) zero spread keeps std 1.
        """
        ids = np.asarray(ids)
        if len(ids) == 0:
            raise ValueError("fit_input_norm: no training ids")
        if max_samples is not None and len(ids) > max_samples:
            rng = np.random.default_rng(seed)
            ids = ids[np.sort(rng.choice(len(ids), max_samples, replace=False))]
        acc = {m: np.zeros((3, c)) for m, c in self.cfg.modalities}  # count, sum, sum of squares
        for s in progress_bar(range(0, len(ids), batch_size), desc="input norm", disable=not progress,
                      leave=False, mininterval=10.0):
            batch = _check_batch(source.get(ids[s:s + batch_size]), self.cfg,
                                 min(batch_size, len(ids) - s))
            for m, _ in self.cfg.modalities:
                x = batch[m].astype(np.float64, copy=False)
                ok = np.isfinite(x)
                x = np.where(ok, x, 0.0)
                acc[m][0] += ok.sum(axis=(0, 2, 3))
                acc[m][1] += x.sum(axis=(0, 2, 3))
                acc[m][2] += (x * x).sum(axis=(0, 2, 3))
        for m, _ in self.cfg.modalities:
            cnt, s1, s2 = acc[m]
            mean = np.divide(s1, cnt, out=np.zeros_like(s1), where=cnt > 0)
            var = np.divide(s2, cnt, out=np.zeros_like(s2), where=cnt > 0) - mean**2
            std = np.sqrt(np.maximum(var, 0.0))
            std = np.where(std > 1e-6 * np.maximum(1.0, np.abs(mean)), std, 1.0)
            getattr(self, f"in_mean_{m}").copy_(torch.from_numpy(mean))
            getattr(self, f"in_std_{m}").copy_(torch.from_numpy(std))
        self.norm_fitted.fill_(True)
        return self

    # -- forward -----------------------------------------------------------------------------
    def tokens(self, x: dict[str, Tensor]) -> Tensor:
        """Body output per modality: (n_modalities, n, 1 + n_tokens, dim), CLS first."""
        streams = []
        for i, m in enumerate(self.modalities):
            xm = x[m]
            xm = (xm - getattr(self, f"in_mean_{m}")[:, None, None]) / \
                getattr(self, f"in_std_{m}")[:, None, None]
            xm = torch.nan_to_num(xm, nan=0.0, posinf=0.0, neginf=0.0)
            t = self.patch_embed[m](xm).flatten(2).transpose(1, 2) + self.pos  # (n, L, d)
            streams.append(torch.cat([self.cls[i].expand(t.shape[0], -1, -1), t], dim=1))
        n = streams[0].shape[0]
        h = torch.cat(streams, dim=0)  # the modalities are encoded independently, in one batch
        for blk in self.blocks:
            h = blk(h)
        return self.norm(h).view(len(self.modalities), n, *h.shape[1:])

    def merge_modalities(self, tok: Tensor) -> Tensor:
        """Element-wise reduction across modalities (Table 6): (M, n, L, d) -> (n, L, d)."""
        return tok.mean(dim=0) if self.cfg.modality_merge == "mean" else tok.amax(dim=0)

    def encode(self, x: dict[str, Tensor]) -> Tensor:
        """The embedding (n, dim) of a batch of patches."""
        h = self.merge_modalities(self.tokens(x))
        h = torch.cat([self.merge_cls.expand(h.shape[0], -1, -1), h], dim=1)
        for blk in self.merge_blocks:
            h = blk(h)
        h = self.merge_norm(h)
        return h[:, 0] if self.cfg.pool == "cls" else h[:, 2:].amax(dim=1)

    forward = encode


def _init_weights(mod: nn.Module) -> None:
    if isinstance(mod, nn.Linear):
        nn.init.trunc_normal_(mod.weight, std=0.02)
        if mod.bias is not None:
            nn.init.zeros_(mod.bias)
    elif isinstance(mod, nn.Conv2d):  # as a linear map of the flattened token (MAE, ViT)
        nn.init.xavier_uniform_(mod.weight.view(mod.weight.shape[0], -1))
        nn.init.zeros_(mod.bias)


class ImageRegressor(nn.Module):
    """Encoder + MLP regression head on the standardised target (paper 5.2, Figure 9).

    ``y_mean`` / ``y_std`` (buffers) map the head's output back to the target's scale; the head
    is discarded after the fine-tune.
    """

    def __init__(self, encoder: nn.Module, head_hidden: int = 0, dropout: float = 0.0):
        super().__init__()
        self.encoder = encoder
        d = encoder.embed_dim
        hid = head_hidden or d
        self.head = nn.Sequential(nn.Linear(d, hid), nn.GELU(), nn.Dropout(dropout),
                                  nn.Linear(hid, 1))
        self.register_buffer("y_mean", torch.tensor(0.0))
        self.register_buffer("y_std", torch.tensor(1.0))

    def forward(self, x: dict[str, Tensor]) -> Tensor:
        """Standardised prediction (n,)."""
        return self.head(self.encoder.encode(x)).squeeze(-1)

    def predict_target(self, x: dict[str, Tensor]) -> Tensor:
        """Prediction on the target's scale (e.g. log SOC)."""
        return self(x) * self.y_std + self.y_mean


# --------------------------------------------------------------------------------------------
# batches
# --------------------------------------------------------------------------------------------


def _check_batch(batch: dict[str, np.ndarray], cfg_or_mods: Any, n: int) -> dict[str, np.ndarray]:
    mods = cfg_or_mods.modalities if hasattr(cfg_or_mods, "modalities") else cfg_or_mods
    p = getattr(cfg_or_mods, "patch_size", None)
    out = {}
    for m, c in mods:
        if m not in batch:
            raise KeyError(f"patch source gave no {m!r} patches (keys: {sorted(batch)})")
        a = np.asarray(batch[m])
        if a.ndim != 4 or a.shape[0] != n or a.shape[1] != c or (p and a.shape[2:] != (p, p)):
            raise ValueError(f"{m!r} patches have shape {a.shape}; expected "
                             f"({n}, {c}, {p or 'P'}, {p or 'P'})")
        out[m] = a
    return out


def _to_tensors(source: PatchSourceLike, ids: np.ndarray, model: nn.Module,
                device: torch.device) -> dict[str, Tensor]:
    enc = getattr(model, "encoder", model)
    cfg = getattr(enc, "cfg", None)
    mods = cfg if cfg is not None else tuple((m, None) for m in enc.modalities)
    if cfg is None:  # e.g. TerraMindAdapter: no channel / size check
        batch = source.get(ids)
        return {m: torch.from_numpy(np.ascontiguousarray(batch[m], dtype=np.float32)).to(device)
                for m, _ in mods}
    batch = _check_batch(source.get(ids), cfg, len(ids))
    return {m: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(device)
            for m, a in batch.items()}


def _batches(n: int, batch_size: int, rng: np.random.Generator | None = None):
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for s in range(0, n, batch_size):
        yield order[s:s + batch_size]


# --------------------------------------------------------------------------------------------
# fine-tuning (on the training engine, geohet_lib.engine)
# --------------------------------------------------------------------------------------------

#: the columns of a fine-tune's :class:`~geohet_lib.engine.History` (one record per epoch):
#: training loss on the standardised target; validation MSE (the checkpoint criterion, Table 5)
#: and R² on the (log) target scale; validation MAPE (%) and R² on the original scale (NaN
#: without ``inverse_transform``); the head group's learning rate; whether the body was frozen
#: (warm-up); the epoch's seconds (training and validation) and training samples per second
HISTORY_COLUMNS: tuple[str, ...] = ("train_loss", "val_loss", "val_r2_target", "val_mape",
                                    "val_r2", "lr", "frozen", "seconds", "samples_per_s")


def _set_body_trainable(model: ImageRegressor, trainable: bool) -> None:
    for p in model.encoder.body_parameters():
        p.requires_grad_(trainable)


def predict_target(model: ImageRegressor, source: PatchSourceLike, ids: np.ndarray,
                   batch_size: int = 64, device: str | torch.device = "cpu") -> np.ndarray:
    """Regressor predictions (n,) on the target's scale (eval mode, no gradients)."""
    device = torch.device(device)
    model.eval()
    out = []
    with torch.no_grad():
        for b in _batches(len(ids), batch_size):
            out.append(model.predict_target(_to_tensors(source, ids[b], model, device))
                       .float().cpu().numpy())
    return np.concatenate(out) if out else np.empty(0, np.float32)


class ImagePatchData(L.LightningDataModule):
    """The fine-tune's batches, patches gathered by id from a :class:`PatchSourceLike`.

    Training batches are ``(patches, standardised target float32)`` of ``batch_size`` in the
    engine's epoch-seeded order (:func:`~geohet_lib.engine.index_loader`: a function of
    ``(seed, epoch)`` only, sharded over DDP ranks); validation batches are ``(patches, target
    float64)`` of ``2 * batch_size`` in order. Patches are read in the main process and checked
    against ``encoder``'s modalities and patch size (``patches``: ``{modality: (n, C, P, P)}``
    float32 tensors on the CPU; Lightning moves them to the device).
    """

    def __init__(self, source: PatchSourceLike, encoder: nn.Module, ids_train: np.ndarray,
                 y_train_std: np.ndarray, ids_val: np.ndarray, y_val: np.ndarray,
                 batch_size: int, seed: int = 0, pin_memory: bool = False):
        super().__init__()
        self.source, self.encoder = source, encoder
        self.ids_train, self.ids_val = np.asarray(ids_train), np.asarray(ids_val)
        self.y_train = torch.as_tensor(np.asarray(y_train_std), dtype=torch.float32)
        self.y_val = torch.as_tensor(np.asarray(y_val), dtype=torch.float64)
        self.batch_size, self.seed, self.pin_memory = int(batch_size), int(seed), pin_memory

    def _gather(self, ids: np.ndarray, y: Tensor) -> Callable[[list[int]], Any]:
        def collate(rows: list[int]) -> tuple[dict[str, Tensor], Tensor]:
            i = np.asarray(rows, dtype=np.int64)
            return (_to_tensors(self.source, ids[i], self.encoder, torch.device("cpu")),
                    y[torch.from_numpy(i)])
        return collate

    def train_dataloader(self) -> Any:
        return index_loader(len(self.ids_train), self.batch_size,
                            self._gather(self.ids_train, self.y_train), train=True,
                            seed=self.seed, pin_memory=self.pin_memory)

    def val_dataloader(self) -> Any:
        return index_loader(len(self.ids_val), 2 * self.batch_size,
                            self._gather(self.ids_val, self.y_val), train=False,
                            pin_memory=self.pin_memory)


def _r2_from_sums(sse: float, s: float, ss: float, n: float) -> float:
    """1 - SS_res / SS_tot from Σ(y - c), Σ(y - c)² (any shift c); NaN when undefined."""
    if n < 2:
        return float("nan")
    sst = ss - s * s / n
    return 1.0 - sse / sst if sst > 0 else float("nan")


class ImageRegressionTask(BaseTask):
    """The fine-tune of an :class:`ImageRegressor` on the engine (SOC paper 5.1-5.2).

    Loss ``"mse"`` or ``"huber"`` (``huber_delta``) on the standardised target; AdamW in two
    groups, the head and CLS-merge transformer at ``optim.lr`` and the body at
    ``optim.lr * body_lr_scale``; the body is frozen (``requires_grad=False``: no update, no
    weight decay) in the first ``warmup_epochs`` epochs. Monitor ``val_loss``: validation MSE on
    the target scale (the kept weights, Table 5). Validation MAPE (%) and R² on the original
    scale use ``inverse_transform`` (e.g. ``np.expm1``) and are NaN without it; predictions
    are validated in float32 (no autocast). The history's columns: :data:`HISTORY_COLUMNS`.

    ``hparams`` hold the encoder configuration (``model_config``, read by
    :func:`load_image_encoder`) and the ``settings`` a resume must share; the target scale
    (``y_mean`` / ``y_std``) and the head travel in the state dict, :attr:`run_info` (e.g.
    ``norm_seconds``, ``epochs``) in the checkpoint extras.
    """

    monitor = "val_loss"

    def __init__(self, model: ImageRegressor, optim: OptimConfig, seed: int = 0, *,
                 warmup_epochs: int = 0, loss: str = "mse", huber_delta: float = 1.0,
                 body_lr_scale: float = 1.0,
                 inverse_transform: Callable[[np.ndarray], np.ndarray] | None = None,
                 settings: dict[str, Any] | None = None):
        if loss not in ("mse", "huber"):
            raise ValueError(f"loss must be 'mse' or 'huber', got {loss!r}")
        settings = {"warmup_epochs": int(warmup_epochs), "loss": loss,
                    "huber_delta": float(huber_delta), "body_lr_scale": float(body_lr_scale),
                    **(settings or {})}
        super().__init__(model, optim, seed, {"model_config": model.encoder.config_dict(),
                                              "settings": settings})
        self.warmup_epochs, self.loss_kind = int(warmup_epochs), loss
        self.huber_delta, self.body_lr_scale = float(huber_delta), float(body_lr_scale)
        self.inverse_transform = inverse_transform
        self.run_info: dict[str, Any] = {}
        self._frozen = False

    # -- optimiser ---------------------------------------------------------------------------
    def param_groups(self) -> list[dict[str, Any]]:
        body_ids = {id(p) for p in self.model.encoder.body_parameters()}
        body = [p for p in self.model.parameters() if id(p) in body_ids]
        rest = [p for p in self.model.parameters() if id(p) not in body_ids]
        groups = [{"params": rest}]
        if body:
            groups.append({"params": body, "lr": self.optim.lr * self.body_lr_scale})
        return groups

    # -- training ----------------------------------------------------------------------------
    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self._frozen = self.current_epoch < self.warmup_epochs
        _set_body_trainable(self.model, not self._frozen)

    def training_loss(self, batch: Any) -> tuple[Tensor, dict[str, Tensor], int]:
        x, y = batch
        pred = self.model(x).float()
        y = y.float()
        loss = (F.mse_loss(pred, y) if self.loss_kind == "mse"
                else F.huber_loss(pred, y, delta=self.huber_delta))
        return loss, {"loss": loss}, int(y.shape[0])

    def train_record(self, means: dict[str, float]) -> dict[str, Any]:
        return {"train_loss": means.get("loss", float("nan")), "frozen": self._frozen}

    def on_train_epoch_end(self) -> None:
        super().on_train_epoch_end()
        r = self.history.records[-1]
        if self.global_rank == 0:
            LOG.info("ViT epoch %d%s: train loss %.4f, val MSE %.4f, val R2 %.3f, val MAPE %.1f "
                     "%%, %.0f samples/s", self.current_epoch + 1,
                     " (warm-up)" if r["frozen"] else "", r["train_loss"], r["val_loss"],
                     r["val_r2"] if self.inverse_transform else r["val_r2_target"],
                     r["val_mape"], r["samples_per_s"])

    # -- validation --------------------------------------------------------------------------
    def validation_sums(self, batch: Any) -> dict[str, Tensor]:
        x, y = batch
        with torch.autocast(self.device.type, enabled=False):  # float32, as at embedding time
            p = self.model.predict_target(x).float().double()
        y = y.double()
        c = float(self.model.y_mean)  # a shift for stable sums of squares
        sums = {"n": torch.tensor(float(y.shape[0]), device=y.device),
                "sse": ((p - y) ** 2).sum(), "sy": (y - c).sum(), "syy": ((y - c) ** 2).sum()}
        if self.inverse_transform is not None:
            inv = self.inverse_transform

            def orig(t: Tensor) -> Tensor:
                return torch.as_tensor(np.asarray(inv(t.cpu().numpy()), dtype=np.float64),
                                       device=t.device)

            yo, po = orig(y), orig(p)
            co = float(np.asarray(inv(np.array([c])), dtype=np.float64)[0])
            eps = float(np.finfo(np.float64).eps)  # as metrics.mape
            sums.update(ape=((yo - po).abs() / yo.abs().clamp_min(eps)).sum(),
                        sse_o=((yo - po) ** 2).sum(), syo=(yo - co).sum(),
                        syyo=((yo - co) ** 2).sum())
        return sums

    def validation_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        n = sums["n"]
        out = {"val_loss": sums["sse"] / n,
               "val_r2_target": _r2_from_sums(sums["sse"], sums["sy"], sums["syy"], n),
               "val_mape": float("nan"), "val_r2": float("nan")}
        if "ape" in sums:
            out.update(val_mape=100.0 * sums["ape"] / n,
                       val_r2=_r2_from_sums(sums["sse_o"], sums["syo"], sums["syyo"], n))
        return out

    # -- checkpoints ---------------------------------------------------------------------------
    def checkpoint_extra(self) -> dict[str, Any]:
        return {"y_mean": float(self.model.y_mean), "y_std": float(self.model.y_std),
                **self.run_info}


class WarmupEarlyStopping(EarlyStopping):
    """Lightning's early stopping (lowest ``monitor``) that does not count warm-up epochs.

    In the first ``warmup_epochs`` epochs an improvement still sets the best score (and resets
    the count), but an epoch without one is not counted and never stops the run, so
    ``patience`` counts post-warm-up epochs without improvement (SOC paper 5.2). On resume the
    caller's ``patience`` is kept (Lightning would restore the checkpoint's).
    """

    def __init__(self, monitor: str, warmup_epochs: int, patience: int, min_delta: float = 0.0,
                 **kwargs: Any):
        kwargs.setdefault("check_on_train_epoch_end", True)
        super().__init__(monitor=monitor, patience=patience, mode="min", min_delta=min_delta,
                         **kwargs)
        self.warmup_epochs = int(warmup_epochs)
        self._in_warmup = False

    def _run_early_stopping_check(self, trainer: L.Trainer) -> None:
        self._in_warmup = trainer.current_epoch < self.warmup_epochs
        super()._run_early_stopping_check(trainer)

    def _evaluate_stopping_criteria(self, current: Tensor) -> tuple[bool, str | None]:
        if self._in_warmup and torch.isfinite(current) and not self.monitor_op(
                current - self.min_delta, self.best_score.to(current.device)):
            return False, None
        return super()._evaluate_stopping_criteria(current)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        patience = self.patience
        super().load_state_dict(state_dict)
        self.patience = patience


def fit_image_encoder(source: PatchSourceLike, ids_train: np.ndarray, y_train: np.ndarray,
                      ids_val: np.ndarray, y_val: np.ndarray,
                      cfg: ImageEncoderConfig | None = None, *, warmup_epochs: int = 5,
                      epochs: int = 20, loss: str = "mse", lr: float = 3e-4,
                      weight_decay: float = 0.05, batch_size: int = 32, grad_clip: float = 1.0,
                      patience: int = 10, lr_patience: int = 3, huber_delta: float = 1.0,
                      body_lr_scale: float = 1.0,
                      inverse_transform: Callable[[np.ndarray], np.ndarray] | None = None,
                      norm_samples: int | None = 2048, regressor: ImageRegressor | None = None,
                      device: str | torch.device = "auto", seed: int = 0, amp: bool = True,
                      checkpoint_dir: str | Path | None = None, resume: bool = False,
                      progress: bool = True, max_batches: int | None = None,
                      ) -> tuple[nn.Module, History]:
    """Fine-tune the image encoder as a regression on the (log-scaled) target (paper 5.2).

    ``epochs`` counts every epoch; the first ``warmup_epochs`` keep the body frozen (the
    CLS-merge transformer and the MLP head train), the rest train the whole network. AdamW
    (body learning rate ``lr * body_lr_scale``), gradient-norm clipping and ReduceLROnPlateau
    (factor 0.5, ``lr_patience``) on the validation MSE as in paper 5.1; ``loss`` is ``"mse"``
    (Africa) or ``"huber"`` (Europe, Global) on the standardised target. The kept weights are
    those of the epoch with the lowest validation MSE on the target scale (Table 5); early
    stopping after ``patience`` post-warm-up epochs without improvement
    (:class:`WarmupEarlyStopping`). With ``inverse_transform`` (e.g. ``np.expm1`` for
    ``log1p``) the history also holds validation MAPE (%) and R² on the original scale.

    Trains through the engine (:class:`ImageRegressionTask`, :class:`ImagePatchData`,
    :func:`~geohet_lib.engine.fit_task`): epoch-seeded batch order, bf16 autocast on CUDA when
    ``amp``, ``max_batches`` training batches per epoch at most, Lightning progress bars when
    ``progress``. Per-channel input statistics are fitted on (up to ``norm_samples``) training
    patches before training (their seconds: the history's ``norm_seconds`` attribute and the
    checkpoint extras). ``regressor`` continues from a given :class:`ImageRegressor` (trained in
    place) instead of building a fresh ``PatchViT(cfg)`` seeded by ``seed``.

    Returns the encoder with the best weights, frozen, in eval mode and on ``device`` (the head
    is discarded, as in the paper; the best checkpoint keeps it), and the engine's
    :class:`~geohet_lib.engine.History` (columns :data:`HISTORY_COLUMNS`, ``best_epoch``
    0-based, ``best()`` the Table 5 row). With ``checkpoint_dir`` the engine writes
    ``last.ckpt`` every epoch (``resume=True`` continues it with the uninterrupted run's
    numbers; ``epochs`` and ``patience`` may differ, the encoder and the other settings may
    not), ``best.ckpt`` at the end (:data:`~geohet_lib.engine.BEST_NAME`, read by
    :func:`load_image_encoder`) and ``metrics.csv``.
    """
    if loss not in ("mse", "huber"):
        raise ValueError(f"loss must be 'mse' or 'huber', got {loss!r}")
    if not 0 <= warmup_epochs <= epochs:
        raise ValueError(f"need 0 <= warmup_epochs <= epochs, got {warmup_epochs}, {epochs}")
    ids_train, ids_val = np.asarray(ids_train), np.asarray(ids_val)
    y_train = np.asarray(y_train, dtype=np.float64)
    y_val = np.asarray(y_val, dtype=np.float64)
    if len(ids_train) == 0 or len(ids_val) == 0:
        raise ValueError("fit_image_encoder needs training and validation samples")
    if len(ids_train) != len(y_train) or len(ids_val) != len(y_val):
        raise ValueError("ids and targets differ in length")
    if not (np.isfinite(y_train).all() and np.isfinite(y_val).all()):
        raise ValueError("targets hold non-finite values")
    device = get_device(device) if isinstance(device, str) else torch.device(device)

    if regressor is None:
        if cfg is None:
            raise ValueError("give cfg (ImageEncoderConfig) or regressor")
        torch.manual_seed(seed)
        regressor = ImageRegressor(PatchViT(cfg), cfg.head_hidden, cfg.dropout)
    model = regressor.to(device)
    model.requires_grad_(True)  # a previously returned encoder is frozen; the epochs decide
    model.train()  # ... and in eval mode, which Lightning would keep while training
    enc = model.encoder
    t0 = time.perf_counter()
    if hasattr(enc, "fit_input_norm") and not bool(enc.norm_fitted):
        enc.fit_input_norm(source, ids_train, max_samples=norm_samples, seed=seed)
    norm_seconds = time.perf_counter() - t0
    model.y_mean.fill_(float(y_train.mean()))
    model.y_std.fill_(float(y_train.std()) or 1.0)
    y_train_std = (y_train.astype(np.float32) - np.float32(model.y_mean.item())) / \
        np.float32(model.y_std.item())

    optim = OptimConfig(lr=lr, weight_decay=weight_decay, schedule="plateau", plateau_factor=0.5,
                        plateau_patience=lr_patience)
    task = ImageRegressionTask(model, optim, seed, warmup_epochs=warmup_epochs, loss=loss,
                               huber_delta=huber_delta, body_lr_scale=body_lr_scale,
                               inverse_transform=inverse_transform,
                               settings={"batch_size": int(batch_size),
                                         "grad_clip": float(grad_clip or 0.0),
                                         "norm_samples": norm_samples})
    task.run_info = {"norm_seconds": norm_seconds, "epochs": int(epochs),
                     "patience": int(patience)}
    data = ImagePatchData(source, enc, ids_train, y_train_std, ids_val, y_val, batch_size, seed,
                          pin_memory=device.type == "cuda")
    stopper = WarmupEarlyStopping(task.monitor, warmup_epochs, patience, min_delta=task.min_delta)
    hist = fit_task(task, data, epochs=epochs, patience=patience, grad_clip=grad_clip or None,
                    device=device, checkpoint_dir=checkpoint_dir, resume=resume,
                    progress=progress, max_batches=max_batches or None, amp=amp,
                    early_stopping=stopper)
    if hist.stopped_early:
        LOG.info("ViT early stopping after epoch %d (best %d)", hist.epochs, hist.best_epoch + 1)
    hist.norm_seconds = norm_seconds  # not a column: seconds before the first epoch
    enc.eval()
    enc.requires_grad_(False)
    return enc, hist


def load_image_encoder(path: str | Path, device: str | torch.device = "cpu") -> PatchViT:
    """The frozen encoder of a fine-tune's ``best.ckpt`` written by :func:`fit_image_encoder`.

    ``path``: the checkpoint (an engine checkpoint, :func:`~geohet_lib.engine.load_checkpoint`;
    the encoder configuration is its ``hparams["model_config"]``) or the folder holding
    :data:`~geohet_lib.engine.BEST_NAME`.
    """
    path = Path(path)
    if path.is_dir():
        path = path / BEST_NAME
    ck = load_checkpoint(path, map_location=device)
    cfg = dict(ck["hparams"].get("model_config") or {})
    if cfg.pop("encoder", None) != "PatchViT":
        raise ValueError(f"{path} holds no PatchViT")
    enc = PatchViT(ImageEncoderConfig.from_dict(cfg)).to(device)
    enc.load_state_dict({k[len("encoder."):]: v for k, v in ck["state_dict"].items()
                         if k.startswith("encoder.")})
    enc.eval()
    enc.requires_grad_(False)
    return enc


# --------------------------------------------------------------------------------------------
# embeddings and their cache
# --------------------------------------------------------------------------------------------


def embed_patches(model: nn.Module, source: PatchSourceLike, ids: np.ndarray,
                  batch_size: int = 64, device: str | torch.device = "auto",
                  progress: bool = True) -> np.ndarray:
    """Embeddings (n, dim) float32 of the samples ``ids``, body frozen (eval, no gradients).

    ``model``: a :class:`PatchViT`, an :class:`ImageRegressor` (its encoder is used) or a
    :class:`TerraMindAdapter`. Float32 throughout, so the same model on the same device gives
    the same numbers.
    """
    enc = getattr(model, "encoder", model)
    device = get_device(device) if isinstance(device, str) else device
    ids = np.asarray(ids)
    enc.to(device)
    was_training = enc.training
    enc.eval()
    out = []
    with torch.no_grad():
        for b in progress_bar(_batches(len(ids), batch_size), total=-(-len(ids) // batch_size),
                      desc="ViT embeddings", disable=not progress, leave=False, mininterval=10.0):
            out.append(enc.encode(_to_tensors(source, ids[b], enc, device)).float().cpu().numpy())
    enc.train(was_training)
    return np.concatenate(out) if out else np.empty((0, enc.embed_dim), np.float32)


def _ids_hash(ids: np.ndarray) -> str:
    a = np.asarray(ids)
    h = hashlib.sha256()
    if a.dtype.kind in "iub":
        h.update(b"int:" + np.ascontiguousarray(a.astype("<i8")).tobytes())
    else:
        h.update(b"str:" + "\x1f".join(map(str, a.tolist())).encode())
    return h.hexdigest()


def _weights_hash(model: nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        v = v.detach().cpu().contiguous()
        if v.dtype == torch.bfloat16:
            v = v.float()
        h.update(k.encode())
        h.update(v.numpy().tobytes())
    return h.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def _model_config(model: nn.Module) -> dict:
    enc = getattr(model, "encoder", model)
    return json.loads(json.dumps(enc.config_dict(), default=list))


def cache_embeddings(model: nn.Module, source: PatchSourceLike, ids: np.ndarray,
                     path: str | Path, batch_size: int = 64, device: str | torch.device = "auto",
                     progress: bool = True) -> np.ndarray:
    """Embed ``ids`` and write ``path`` (``.npy``) plus a JSON sidecar beside it, atomically.

    The sidecar (``path`` with ``.json``) records the model configuration, a hash of its
    weights, a hash of ``ids`` (in order: row i is ``ids[i]``) and a hash of the array;
    :func:`load_cached_embeddings` checks them.
    """
    path = Path(path)
    if path.suffix != ".npy":
        raise ValueError(f"embedding cache path must end in .npy, got {path}")
    ids = np.asarray(ids)
    emb = embed_patches(model, source, ids, batch_size, device, progress)
    enc = getattr(model, "encoder", model)
    meta = {"kind": "soc_image_embeddings", "version": 1, "n": int(emb.shape[0]),
            "dim": int(emb.shape[1]), "ids_sha256": _ids_hash(ids),
            "model_config": _model_config(enc), "weights_sha256": _weights_hash(enc),
            "embeddings_sha256": hashlib.sha256(emb.tobytes()).hexdigest(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:  # np.save on a name would append ".npy"
            np.save(fh, emb)
    write_json(meta, _sidecar(path))
    return emb


def load_cached_embeddings(path: str | Path, ids: np.ndarray,
                           model: nn.Module | ImageEncoderConfig | dict | None = None
                           ) -> np.ndarray:
    """The cached embeddings of ``ids``; refuses a cache built for other ids or another model.

    ``model`` (optional): a model (configuration and weights are checked) or a configuration
    (:class:`ImageEncoderConfig` or ``config_dict()``; only the configuration is checked).
    """
    path = Path(path)
    side = _sidecar(path)
    if not path.exists() or not side.exists():
        raise FileNotFoundError(f"no embedding cache at {path} (with {side.name}); build it with "
                                "cache_embeddings(model, source, ids, path)")
    meta = json.loads(side.read_text())
    ids = np.asarray(ids)
    if meta.get("ids_sha256") != _ids_hash(ids):
        raise ValueError(f"embedding cache {path} was built for other sample ids ({meta.get('n')} "
                         f"ids, not these {len(ids)} in this order); rebuild it with "
                         "cache_embeddings")
    if model is not None:
        if isinstance(model, ImageEncoderConfig):
            want, weights = json.loads(json.dumps({"encoder": "PatchViT", **model.to_dict()},
                                                  default=list)), None
        elif isinstance(model, dict):
            want, weights = json.loads(json.dumps(model, default=list)), None
        else:
            want, weights = _model_config(model), _weights_hash(getattr(model, "encoder", model))
        if meta.get("model_config") != want:
            raise ValueError(f"embedding cache {path} was built with another encoder "
                             f"configuration ({meta.get('model_config')}); rebuild it")
        if weights is not None and meta.get("weights_sha256") != weights:
            raise ValueError(f"embedding cache {path} was built with other encoder weights "
                             "(same configuration, another fine-tune); rebuild it")
    emb = np.load(path)
    if emb.shape != (meta["n"], meta["dim"]) or \
            hashlib.sha256(np.ascontiguousarray(emb).tobytes()).hexdigest() != \
            meta["embeddings_sha256"]:
        raise ValueError(f"embedding cache {path} does not match its sidecar {side.name} "
                         "(stale or partly overwritten); rebuild it")
    return emb.astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------------
# the real TerraMind, for users who have it
# --------------------------------------------------------------------------------------------


class TerraMindUnavailableError(RuntimeError):
    """TerraMind cannot be built here: ``terratorch`` or the local weights are missing."""


_TERRAMIND_KEYS = {"s2": "S2L2A", "s1": "S1GRD", "dem": "DEM"}
_TERRAMIND_DIMS = {"terramind_v1_tiny": 192, "terramind_v1_small": 384, "terramind_v1_base": 768,
                   "terramind_v1_large": 1024}


class TerraMindAdapter(nn.Module):
    """TerraMind (via ``terratorch``) behind the :class:`PatchViT` interface; optional.

    Needs ``pip install terratorch`` (Python >= 3.10) and the weights file downloaded on a machine
    with internet access, e.g. ``TerraMind_v1_large.pt`` from the Hugging Face repository
    ``ibm-esa-geospatial/TerraMind-1.0-large``. The backbone is built as::

        from terratorch.registry import BACKBONE_REGISTRY
        BACKBONE_REGISTRY.build("terramind_v1_large", modalities=["S2L2A", "S1GRD", "DEM"],
                                ckpt_path="/path/TerraMind_v1_large.pt", merge_method="mean",
                                bands={"S2L2A": [...the 11 band names...]})

    ``merge_method`` is the paper's modality merge ("mean" Africa / Europe, "max" Global); the
    last layer's merged tokens (n, 196, dim) are max-pooled over the patch dimension (paper 3.3).
    Inputs must already be standardised with TerraMind's pretraining statistics (terratorch's
    ``v1_pretraining_mean`` / ``v1_pretraining_std``); ``s2_bands`` names the S2 channels in
    TerraMind's band vocabulary (``COASTAL_AEROSOL``, ``BLUE``, ..., ``SWIR_2``). The adapter is
    frozen; :func:`fit_image_encoder` (``regressor=ImageRegressor(TerraMindAdapter(...))``)
    fine-tunes it with the warm-up, and :func:`embed_patches` embeds with it.
    """

    def __init__(self, weights_path: str | Path | None = None, variant: str = "terramind_v1_large",
                 modalities: tuple[str, ...] = ("s2", "s1", "dem"), modality_merge: str = "mean",
                 s2_bands: list[str] | None = None, layer: int = -1):
        super().__init__()
        problems = []
        try:
            from terratorch.registry import BACKBONE_REGISTRY  # noqa: F401
        except ImportError:
            BACKBONE_REGISTRY = None
            problems.append("the `terratorch` package is not installed (pip install terratorch)")
        if weights_path is None:
            problems.append("no local weights file was given (weights_path=None); download e.g. "
                            "TerraMind_v1_large.pt from huggingface.co/ibm-esa-geospatial/"
                            "TerraMind-1.0-large on a machine with internet access")
        elif not Path(weights_path).is_file():
            problems.append(f"the weights file {weights_path} does not exist")
        if variant not in _TERRAMIND_DIMS:
            problems.append(f"unknown variant {variant!r} (one of {', '.join(_TERRAMIND_DIMS)})")
        if modality_merge not in ("mean", "max"):
            problems.append(f"modality_merge must be 'mean' or 'max', got {modality_merge!r}")
        unknown = [m for m in modalities if m not in _TERRAMIND_KEYS]
        if unknown:
            problems.append(f"unknown modalities {unknown} (known: {', '.join(_TERRAMIND_KEYS)})")
        if problems:
            raise TerraMindUnavailableError(
                "TerraMindAdapter cannot be built: " + "; ".join(problems) + ". TerraMind is "
                "optional: the default image encoder is PatchViT, trained with fit_image_encoder.")
        kwargs: dict[str, Any] = {"modalities": [_TERRAMIND_KEYS[m] for m in modalities],
                                  "ckpt_path": str(weights_path), "merge_method": modality_merge}
        if s2_bands is not None:
            kwargs["bands"] = {"S2L2A": list(s2_bands)}
        self.backbone = BACKBONE_REGISTRY.build(variant, **kwargs)
        self.modalities = tuple(modalities)
        self.embed_dim = _TERRAMIND_DIMS[variant]
        self.layer = layer
        self._config = {"encoder": "TerraMindAdapter", "variant": variant,
                        "modalities": list(modalities), "modality_merge": modality_merge,
                        "s2_bands": list(s2_bands) if s2_bands else None, "layer": layer,
                        "weights": Path(weights_path).name}
        self.backbone.eval()
        self.backbone.requires_grad_(False)

    def body_parameters(self) -> list[nn.Parameter]:
        return list(self.backbone.parameters())

    def config_dict(self) -> dict:
        return dict(self._config)

    def encode(self, x: dict[str, Tensor]) -> Tensor:
        out = self.backbone({_TERRAMIND_KEYS[m]: x[m] for m in self.modalities})
        tokens = out[self.layer] if isinstance(out, (list, tuple)) else out  # (n, L, dim)
        return tokens.amax(dim=1)

    forward = encode

    @staticmethod
    def available() -> bool:
        """Whether ``terratorch`` can be imported here."""
        try:
            import terratorch  # noqa: F401
        except ImportError:
            return False
        return True

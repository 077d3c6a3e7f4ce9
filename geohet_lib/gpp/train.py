"""Training GeoHet (GPP paper 4.1): AdamW, lr 1e-3 decayed to 1e-4 halfway, early stopping.

Checkpoints carry the model and training configuration; resuming from the last checkpoint
continues the same run: the batch order and dropout of epoch ``e`` depend only on
``(seed, e)``, so an interrupted and resumed run gives the numbers of an uninterrupted one.
On CUDA the forward pass runs under bfloat16 autocast (mixed precision); on CPU in float32.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..io import resume_checkpoint, torch_save
from ..runtime import LOG, epoch_seed
from .samples import SampleCache, iterate_batches


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and schedule (paper 4.1: AdamW, batch 256, lr 1e-3 -> 1e-4 at epoch 10 of 20)."""

    epochs: int = 20
    batch_size: int = 256
    lr: float = 1e-3
    lr_decayed: float = 1e-4
    decay_epoch: int | None = None  # None: halfway (epoch 10 of 20), as the paper
    weight_decay: float = 1e-2
    patience: int = 5  # early stopping on validation RMSE
    seed: int = 0
    amp: bool = True  # bf16 autocast on CUDA only
    max_batches: int | None = None  # cap per epoch (benchmarks, smoke runs)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class History:
    """Per-epoch losses; ``best_epoch`` is the one whose weights are kept."""

    train_rmse: list[float] = field(default_factory=list)
    val_rmse: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    samples_per_s: list[float] = field(default_factory=list)
    best_epoch: int = -1


def _lr_at(cfg: TrainConfig, epoch: int) -> float:
    decay = cfg.decay_epoch if cfg.decay_epoch is not None else (cfg.epochs + 1) // 2
    return cfg.lr if epoch < decay else cfg.lr_decayed


def predict(model: nn.Module, cache: SampleCache, examples: np.ndarray, cell_cluster: np.ndarray,
            y_scale: float, batch_size: int = 1024, device: str | torch.device = "cpu",
            amp: bool = True) -> np.ndarray:
    """Predictions (n_examples, 46) in the target's units."""
    device = torch.device(device)
    model.eval()
    out = []
    with torch.no_grad():
        for x, _, c, s in iterate_batches(cache, examples, cell_cluster, batch_size, False,
                                          device=device):
            with torch.autocast(device.type, dtype=torch.bfloat16,
                                enabled=amp and device.type == "cuda"):
                out.append(model(x, c, s).float().cpu().numpy())
    return np.concatenate(out) * y_scale if out else np.empty((0, cache.target.shape[2]))


def _rmse(model, cache, examples, cell_cluster, y_scale, device, amp) -> float:
    pred = predict(model, cache, examples, cell_cluster, y_scale, device=device, amp=amp)
    y = cache.gather(examples)[1]
    return float(np.sqrt(np.mean((pred - y) ** 2)))


def fit(model: nn.Module, cache: SampleCache, train_ex: np.ndarray, val_ex: np.ndarray,
        cell_cluster: np.ndarray, cfg: TrainConfig, device: str | torch.device = "cpu",
        checkpoint_dir: str | Path | None = None, resume: bool = False,
        model_config: dict | None = None, progress: bool = True,
        stop_after_epoch: int | None = None) -> tuple[nn.Module, History, float]:
    """Train ``model``; return it with the best validation weights, the history, ``y_scale``.

    The target is divided by ``y_scale`` (the training-set standard deviation of GPP) inside
    the loss so that one learning rate suits any GPP units; predictions are scaled back.
    ``stop_after_epoch`` ends the run early after that epoch (to test resuming).
    """
    device = torch.device(device)
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    y_scale = float(cache.gather(train_ex[: min(len(train_ex), 20000)])[1].std()) or 1.0
    hist = History()
    best_state, best_val, bad, start = None, float("inf"), 0, 0
    ckpt_last = Path(checkpoint_dir) / "checkpoint_last.pt" if checkpoint_dir else None
    if resume and ckpt_last is not None and ckpt_last.exists():
        ck = resume_checkpoint(ckpt_last, device, model, opt)
        hist, best_val, bad, y_scale = ck["history"], ck["best_val"], ck["bad_epochs"], ck["y_scale"]
        best_state = ck["best_state"]
        start = ck["epoch"] + 1
        LOG.info("resuming from %s at epoch %d", ckpt_last, start)
    use_amp = cfg.amp and device.type == "cuda"
    loss_fn = nn.MSELoss()
    for epoch in range(start, cfg.epochs):
        torch.manual_seed(epoch_seed(cfg.seed, epoch))
        for g in opt.param_groups:
            g["lr"] = _lr_at(cfg, epoch)
        model.train()
        t0, sq, n = time.perf_counter(), 0.0, 0
        n_batches = -(-len(train_ex) // cfg.batch_size)
        if cfg.max_batches:
            n_batches = min(n_batches, cfg.max_batches)
        batches = iterate_batches(cache, train_ex, cell_cluster, cfg.batch_size, True,
                                  seed=epoch_seed(cfg.seed, epoch), device=device)
        bar = tqdm(batches, total=n_batches, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                   disable=not progress, leave=False, mininterval=10.0)
        for b, (x, y, c, s) in enumerate(bar):
            if b >= n_batches:
                break
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                pred = model(x, c, s)
            loss = loss_fn(pred.float(), y / y_scale)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sq += loss.item() * y.numel()
            n += y.numel()
            if b % 20 == 0:
                bar.set_postfix(rmse=f"{np.sqrt(sq / n) * y_scale:.3f}")
        secs = time.perf_counter() - t0
        val = _rmse(model, cache, val_ex, cell_cluster, y_scale, device, cfg.amp)
        hist.train_rmse.append(float(np.sqrt(sq / max(n, 1)) * y_scale))
        hist.val_rmse.append(val)
        hist.lr.append(_lr_at(cfg, epoch))
        hist.seconds.append(secs)
        hist.samples_per_s.append(n / secs)
        if val < best_val:
            best_val, bad, hist.best_epoch = val, 0, epoch
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        else:
            bad += 1
        LOG.info("epoch %d: train RMSE %.4f, val RMSE %.4f, %.0f samples/s", epoch + 1,
                 hist.train_rmse[-1], val, hist.samples_per_s[-1])
        if ckpt_last is not None:
            torch_save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                        "epoch": epoch, "history": hist, "best_val": best_val, "bad_epochs": bad,
                        "best_state": best_state, "y_scale": y_scale,
                        "train_config": cfg.to_dict(), "model_config": model_config or {}},
                       ckpt_last)
        if bad >= cfg.patience:
            LOG.info("early stopping after epoch %d (best %d)", epoch + 1, hist.best_epoch + 1)
            break
        if stop_after_epoch is not None and epoch >= stop_after_epoch:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    if ckpt_last is not None:
        torch_save({"model": model.state_dict(), "history": hist, "y_scale": y_scale,
                    "train_config": cfg.to_dict(), "model_config": model_config or {}},
                   Path(checkpoint_dir) / "checkpoint_best.pt")
    return model, hist, y_scale

"""Training GeoHet (GPP paper 4.1): AdamW, lr 1e-3 decayed to 1e-4 halfway, early stopping.

Trained by the project's engine (:mod:`geohet_lib.engine`, PyTorch Lightning):
:class:`GeoHetTask` fills the engine's hooks (MSE on the target divided by ``y_scale``,
validation RMSE in the target's units) and :class:`~.datamodule.GPPDataModule` serves
cell-years. Checkpoints (``last.ckpt`` every epoch, ``best.ckpt`` at the end) carry the model
and training configuration and ``y_scale``; resuming from ``last.ckpt`` continues the same run:
the batch order and dropout of epoch ``e`` depend only on ``(seed, e)``, so an interrupted and
resumed run gives the numbers of an uninterrupted one. On CUDA the steps run under bfloat16
mixed precision; on CPU in float32 with deterministic algorithms. ``devices`` > 1 trains with
DDP (each process takes ``batch_size / devices`` cell-years per step).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..engine import BaseTask, History, OptimConfig, fit_task
from ..uq.losses import beta_nll, gaussian_nll
from .datamodule import GPPDataModule
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
    patience: int | None = 5  # early stopping on validation RMSE (None: every epoch runs)
    seed: int = 0
    amp: bool = True  # bf16 autocast on CUDA only
    max_batches: int | None = None  # cap per epoch (benchmarks, smoke runs)
    # "mse" (the paper); with GeoHet's variance head (stage 05, beyond the paper): "nll"
    # (SOC Eq. 4) or "beta_nll" (SOC Eq. 5, weight sg[sigma^(2 beta)]); both select the best
    # epoch by the validation NLL instead of the RMSE
    loss: str = "mse"
    beta: float = 0.5

    def to_dict(self) -> dict:
        return asdict(self)


def optim_config(cfg: TrainConfig) -> OptimConfig:
    """AdamW with the paper's step decay: ``lr`` until ``decay_epoch`` (default halfway,
    epoch 10 of 20), ``lr_decayed`` after."""
    decay = cfg.decay_epoch if cfg.decay_epoch is not None else (cfg.epochs + 1) // 2
    return OptimConfig(lr=cfg.lr, weight_decay=cfg.weight_decay, schedule="step",
                       lr_decayed=cfg.lr_decayed, decay_epoch=decay)


def lr_at(cfg: TrainConfig, epoch: int) -> float:
    """Learning rate of 0-based ``epoch`` (paper 4.1: 1e-3, then 1e-4 from halfway)."""
    o = optim_config(cfg)
    return o.lr_decayed if o.factor_at(epoch) != 1.0 else o.lr


LOSSES: tuple[str, ...] = ("mse", "nll", "beta_nll")


class GeoHetTask(BaseTask):
    """GeoHet under the engine: MSE on ``y / y_scale`` (or, with the variance head, the NLL
    of ``cfg.loss``); validation RMSE in GPP units (and NLL on the scaled target)."""

    monitor = "val_rmse"
    find_unused_parameters = True  # e.g. node embeddings a step does not reach

    def __init__(self, model: nn.Module, cfg: TrainConfig, y_scale: float,
                 model_config: dict | None = None, data_key: str | None = None):
        if cfg.loss not in LOSSES:
            raise ValueError(f"unknown loss {cfg.loss!r}: choose one of {', '.join(LOSSES)}")
        if cfg.loss != "mse" and getattr(model, "var_head", None) is None:
            raise ValueError(f"loss {cfg.loss!r} needs GeoHet's variance head "
                             "(GeoHetConfig(variance_head=True))")
        super().__init__(model, optim_config(cfg), cfg.seed,
                         {"model_config": model_config or {}, "train_config": cfg.to_dict()},
                         data_key=data_key)
        self.y_scale = float(y_scale)
        self.loss, self.beta = cfg.loss, cfg.beta
        if self.loss != "mse":
            self.monitor = "val_nll"

    def _dist(self, x: Tensor, c: Tensor, s: Tensor) -> tuple[Tensor, Tensor | None]:
        if self.loss == "mse":
            return self.model(x, c, s).float(), None
        mean, log_var = self.model.forward_dist(x, c, s)
        return mean.float(), log_var.float()

    def training_loss(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, dict, int]:
        x, y, c, s = batch
        self._steps = y.shape[1]  # samples per cell-year (46 eight-day steps)
        mean, log_var = self._dist(x, c, s)
        target = y / self.y_scale
        mse = nn.functional.mse_loss(mean, target)
        if log_var is None:
            return mse, {"mse": mse}, y.shape[0]
        loss = (beta_nll(mean, log_var, target, self.beta) if self.loss == "beta_nll"
                else gaussian_nll(mean, log_var, target))
        return loss, {"mse": mse.detach(), "nll": loss.detach()}, y.shape[0]

    def train_record(self, means: dict[str, float]) -> dict[str, float]:
        rec = {"train_rmse": math.sqrt(means["mse"]) * self.y_scale}
        if "nll" in means:
            rec["train_loss"] = means["nll"]
        return rec

    def samples_in(self, items: float) -> float:
        return items * getattr(self, "_steps", 1)

    def validation_sums(self, batch: tuple[Tensor, ...]) -> dict[str, Tensor]:
        x, y, c, s = batch
        mean, log_var = self._dist(x, c, s)
        err = mean * self.y_scale - y
        n = torch.tensor(float(y.numel()), device=y.device)
        sums = {"sq": torch.sum(err.double() ** 2), "n": n}
        if log_var is not None:  # Gaussian NLL with its constant, on the scaled target
            sums["nll"] = gaussian_nll(mean, log_var, y / self.y_scale, full=True).double() * n
        return sums

    def validation_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        n = max(sums["n"], 1.0)
        out = {"val_rmse": math.sqrt(sums["sq"] / n)}
        if "nll" in sums:
            out["val_nll"] = sums["nll"] / n
        return out

    def checkpoint_extra(self) -> dict:
        return {"y_scale": self.y_scale}

    def load_checkpoint_extra(self, extra: dict) -> None:
        self.y_scale = float(extra.get("y_scale", self.y_scale))


def _batched(fn, cache: SampleCache, examples: np.ndarray, cell_cluster: np.ndarray,
             batch_size: int, device: torch.device, amp: bool) -> list:
    """``fn(x, cluster, steps)`` of every batch of ``examples``, in order, without gradients
    (bfloat16 autocast on CUDA when ``amp``)."""
    out = []
    with torch.no_grad():
        for x, _, c, s in iterate_batches(cache, examples, cell_cluster, batch_size, False,
                                          device=device):
            with torch.autocast(device.type, dtype=torch.bfloat16,
                                enabled=amp and device.type == "cuda"):
                out.append(fn(x, c, s))
    return out


def predict(model: nn.Module, cache: SampleCache, examples: np.ndarray, cell_cluster: np.ndarray,
            y_scale: float, batch_size: int = 1024, device: str | torch.device = "cpu",
            amp: bool = True) -> np.ndarray:
    """Predictions (n_examples, 46) in the target's units."""
    model.eval()
    out = _batched(lambda x, c, s: model(x, c, s).float().cpu().numpy(), cache, examples,
                   cell_cluster, batch_size, torch.device(device), amp)
    return np.concatenate(out) * y_scale if out else np.empty((0, cache.target.shape[2]))


def predict_dist(model: nn.Module, cache: SampleCache, examples: np.ndarray,
                 cell_cluster: np.ndarray, y_scale: float, batch_size: int = 1024,
                 device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Predictive mean and variance (n_examples, 46) in the target's units (and its square)
    of a GeoHet with a variance head (float32 throughout)."""
    model.eval()

    def dist(x: Tensor, c: Tensor, s: Tensor) -> tuple[np.ndarray, np.ndarray]:
        mean, log_var = model.forward_dist(x, c, s)
        return mean.float().cpu().numpy(), torch.exp(log_var.float()).cpu().numpy()

    out = _batched(dist, cache, examples, cell_cluster, batch_size, torch.device(device), False)
    if not out:
        empty = np.empty((0, cache.target.shape[2]))
        return empty, empty
    return (np.concatenate([m for m, _ in out]) * y_scale,
            np.concatenate([v for _, v in out]).astype(np.float64) * y_scale ** 2)


def fit(model: nn.Module, cache: SampleCache, train_ex: np.ndarray, val_ex: np.ndarray,
        cell_cluster: np.ndarray, cfg: TrainConfig, device: str | torch.device = "cpu",
        checkpoint_dir: str | Path | None = None, resume: bool = False,
        model_config: dict | None = None, progress: bool = True,
        stop_after_epoch: int | None = None, devices: int = 1, num_nodes: int = 1,
        callbacks: list | None = None) -> tuple[nn.Module, History, float]:
    """Train ``model``; return it with the best validation weights, the history, ``y_scale``.

    The target is divided by ``y_scale`` (the training-set standard deviation of GPP) inside
    the loss so that one learning rate suits any GPP units; predictions are scaled back.
    ``stop_after_epoch`` ends the run early after that epoch (to test resuming). ``devices``,
    ``num_nodes``: DDP processes per machine and machines; ``cfg.batch_size`` cell-years are
    split evenly over them. ``callbacks``: more Lightning callbacks (benchmark timers).
    """
    world = devices * num_nodes
    if cfg.batch_size % world:
        raise ValueError(f"batch_size {cfg.batch_size} must divide evenly over {world} "
                         "processes (devices x num_nodes)")
    y_scale = float(cache.gather(train_ex[: min(len(train_ex), 20000)])[1].std()) or 1.0
    task = GeoHetTask(model, cfg, y_scale, model_config, data_key=cache.source_key or None)
    dm = GPPDataModule(cache, train_ex, val_ex, cell_cluster, cfg.batch_size // world, cfg.seed,
                       pin_memory=torch.device(device).type == "cuda")
    hist = fit_task(task, dm, epochs=cfg.epochs, patience=cfg.patience, device=device,
                    devices=devices, num_nodes=num_nodes, checkpoint_dir=checkpoint_dir,
                    resume=resume, progress=progress, max_batches=cfg.max_batches,
                    stop_after_epoch=stop_after_epoch, amp=cfg.amp, callbacks=callbacks)
    return task.model, hist, task.y_scale

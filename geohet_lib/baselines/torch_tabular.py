"""Training the torch tabular baselines through the project's engine (:mod:`geohet_lib.engine`).

Shared by :class:`~.tabular.MLPRegressor` and the PyTorch-Frame models of :mod:`.tabular_dl`
(neither imports the other's internals; both import this module lazily, when they fit):

* :class:`TabularData`: a ``LightningDataModule`` over the rows of a float (possibly
  memory-mapped, large) ``X``. Every batch is gathered by row index (``X[rows]``) and wrapped with
  ``torch.from_numpy``, so ``X`` is never copied as a whole; the training order comes from the
  engine's epoch-seeded sampler (a numpy permutation seeded by ``(seed, epoch)``), and a last
  batch of a single row is dropped (batch norm cannot train on one row).
* :class:`TabularTask`: the :class:`~geohet_lib.engine.BaseTask` of a regression network on a
  standardised target: training loss MSE on the standardised target (or the model's own loss
  hook, e.g. ExcelFormer's mixup loss), monitor ``val_rmse`` on the original target scale.
* :func:`train_tabular`: builds both, runs :func:`~geohet_lib.engine.fit_task` and returns the
  regressors' ``fit_info_`` entries; :func:`predict_batches`: the plain batched evaluation used by
  ``predict``; :func:`column_moments`, :func:`torch_threads`.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..engine import BaseTask, History, OptimConfig, fit_task, index_loader

__all__ = ["TabularData", "TabularTask", "column_moments", "fit_info_from_history",
           "fit_regressor", "predict_batches", "torch_threads", "train_tabular"]


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count (restored afterwards); None = leave as is."""
    if not n:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def column_moments(X: np.ndarray, chunk_rows: int = 1_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and (population) std in float64, in row chunks (no full float64 copy of X).

    A constant column gets std 1 (so standardising by it divides by one, not zero).
    """
    n, d = X.shape
    s = np.zeros(d)
    for i in range(0, n, chunk_rows):
        s += X[i : i + chunk_rows].sum(axis=0, dtype=np.float64)
    mean = s / n
    ss = np.zeros(d)
    for i in range(0, n, chunk_rows):
        ss += ((X[i : i + chunk_rows].astype(np.float64) - mean) ** 2).sum(axis=0)
    std = np.sqrt(ss / n)
    std[std == 0] = 1.0
    return mean, std


def predict_batches(model: nn.Module, forward: Callable[[Tensor], Tensor], X: np.ndarray,
                    batch_size: int, device: str | torch.device) -> np.ndarray:
    """``forward`` over the rows of ``X`` in batches, under ``eval()`` / ``no_grad``.

    ``model`` is moved to ``device`` first. Returns a
    float64 vector of the model's outputs (on the scale the network predicts).
    """
    device = torch.device(device)
    model.to(device)
    model.eval()
    out = np.empty(X.shape[0], dtype=np.float64)
    with torch.no_grad():
        for i in range(0, X.shape[0], batch_size):
            xb = _rows_tensor(X[i : i + batch_size]).to(device=device, non_blocking=True)
            out[i : i + batch_size] = forward(xb).reshape(-1).double().cpu().numpy()
    return out


def _rows_tensor(a: np.ndarray) -> Tensor:
    """A float32 tensor of one batch of rows (shares the batch's memory when it can: a batch
    sliced from a read-only memory map is copied, torch tensors being writable)."""
    a = np.ascontiguousarray(a)
    if not a.flags.writeable:
        a = a.copy()
    t = torch.from_numpy(a)
    return t if t.dtype == torch.float32 else t.float()


class TabularData(L.LightningDataModule):
    """Training rows ``(X, y_train)`` and optional validation rows ``(X_val, y_val)``.

    ``y_train`` is the training target as the loss sees it (standardised); ``y_val`` stays on
    the original scale (the task's ``val_rmse`` is computed there). Batches are
    ``(float32 rows, float32 targets)`` gathered by index from the arrays (no full copy).
    Without validation rows the validation loader is empty and Lightning runs no validation.
    """

    def __init__(self, X: np.ndarray, y_train: np.ndarray, X_val: np.ndarray | None = None,
                 y_val: np.ndarray | None = None, *, batch_size: int = 256,
                 eval_batch_size: int = 8192, seed: int = 0, pin_memory: bool = False):
        super().__init__()
        if batch_size < 1 or eval_batch_size < 1:
            raise ValueError("batch_size and eval_batch_size must be >= 1")
        self.X, self.y = X, np.asarray(y_train, dtype=np.float32)
        self.X_val = X_val
        self.y_val = None if y_val is None else np.asarray(y_val, dtype=np.float32)
        self.batch_size, self.eval_batch_size = int(batch_size), int(eval_batch_size)
        self.seed, self.pin_memory = int(seed), pin_memory

    @property
    def has_validation(self) -> bool:
        return self.X_val is not None and len(self.X_val) > 0

    @staticmethod
    def _collate(X: np.ndarray, y: np.ndarray) -> Callable[[list[int]], tuple[Tensor, Tensor]]:
        def gather(idx: list[int]) -> tuple[Tensor, Tensor]:
            if idx and idx[-1] - idx[0] + 1 == len(idx) and idx == list(range(idx[0], idx[-1] + 1)):
                rows: Any = slice(idx[0], idx[-1] + 1)  # in-order evaluation batches: a view
            else:
                rows = np.asarray(idx, dtype=np.int64)
            return _rows_tensor(X[rows]), torch.from_numpy(np.ascontiguousarray(y[rows]))
        return gather

    def train_dataloader(self):
        return index_loader(len(self.X), self.batch_size, self._collate(self.X, self.y),
                            train=True, seed=self.seed, pin_memory=self.pin_memory,
                            drop_last_singleton=True)

    def val_dataloader(self):
        if not self.has_validation:
            return []
        return index_loader(len(self.X_val), self.eval_batch_size,
                            self._collate(self.X_val, self.y_val), train=False,
                            pin_memory=self.pin_memory)


class TabularTask(BaseTask):
    """A regression network trained on a standardised target ``(y - y_mean) / y_std``.

    ``forward(x) -> prediction`` (standardised scale; may wrap ``model`` with preprocessing, e.g.
    building a PyTorch-Frame ``TensorFrame``). Training loss: ``loss_fn(x, y_std)`` when given
    (the model's own loss, e.g. ExcelFormer's mixup), else MSE of ``forward(x)`` against the
    standardised target; logged as ``train_loss``. Validation: ``val_rmse`` of
    ``forward(x) * y_std + y_mean`` (clamped to ``clip = (lo, hi)`` when given, as the model's
    ``predict``) against the original target; the monitor. ``min_delta``: the improvement an
    epoch's ``val_rmse`` must exceed to count as the new best (and to reset early stopping).

    ``keep_last=True``: the model ends with the weights of its last epoch instead of the
    best-validation ones. Use it when there is no validation set (then no epoch is ever
    "best": :attr:`history` has no ``val_rmse`` and ``best_epoch`` stays -1);
    :func:`train_tabular` sets it exactly then.
    """

    monitor = "val_rmse"

    def __init__(self, model: nn.Module, optim: OptimConfig, seed: int = 0, *,
                 forward: Callable[[Tensor], Tensor], y_mean: float = 0.0, y_std: float = 1.0,
                 loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
                 min_delta: float = 0.0, clip: tuple[float, float] | None = None,
                 keep_last: bool = False, hparams: dict[str, Any] | None = None):
        super().__init__(model, optim, seed, hparams)
        self._forward_fn = forward
        self._loss_fn = loss_fn
        self.y_mean, self.y_std = float(y_mean), float(y_std)
        self.min_delta = float(min_delta)
        self.clip = None if clip is None else (float(clip[0]), float(clip[1]))
        self.keep_last = bool(keep_last)

    def training_loss(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, dict[str, Tensor], int]:
        x, y = batch
        if self._loss_fn is not None:
            loss = self._loss_fn(x, y)
        else:
            loss = F.mse_loss(self._forward_fn(x).reshape(-1), y)
        return loss, {"loss": loss}, len(y)

    def predict_original(self, x: Tensor) -> Tensor:
        """Predictions of ``x`` on the original target scale (float64), clamped to ``clip``."""
        pred = self._forward_fn(x).reshape(-1).double() * self.y_std + self.y_mean
        return pred if self.clip is None else pred.clamp(*self.clip)

    def validation_sums(self, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        x, y = batch
        err = self.predict_original(x) - y.double()
        return {"sq": torch.sum(err * err),
                "n": torch.tensor(float(len(y)), dtype=torch.float64, device=err.device)}

    def validation_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        return {"val_rmse": math.sqrt(sums["sq"] / max(sums["n"], 1.0))}

    def on_fit_end(self) -> None:
        if not self.keep_last:
            super().on_fit_end()


def fit_info_from_history(history: History, best_value: float) -> dict[str, Any]:
    """The regressors' ``fit_info_`` entries from an engine :class:`~geohet_lib.engine.History`.

    ``train_loss`` / ``val_rmse`` / ``lr``: one entry per epoch run (``val_rmse`` empty without
    validation; ``lr`` at the start of the epoch); ``best_epoch``: 1-based epoch whose weights were
    kept (None without validation: the last epoch's are kept); ``best_val_rmse`` its val RMSE.
    """
    cols = history.columns
    has_best = history.best_epoch >= 0
    return {
        "train_loss": [float(v) for v in history.column("train_loss")] if "train_loss" in cols else [],
        "val_rmse": [float(v) for v in history.column("val_rmse")] if "val_rmse" in cols else [],
        "lr": [float(v) for v in history.column("lr")] if "lr" in cols else [],
        "epochs_run": history.epochs,
        "best_epoch": history.best_epoch + 1 if has_best else None,
        "best_val_rmse": float(best_value) if has_best else None,
        "stopped_early": bool(history.stopped_early),
    }


def train_tabular(model: nn.Module, *, forward: Callable[[Tensor], Tensor], X: np.ndarray,
                  y: np.ndarray, X_val: np.ndarray | None, y_val: np.ndarray | None,
                  y_mean: float, y_std: float, optim: OptimConfig, epochs: int, batch_size: int,
                  eval_batch_size: int, patience: int | None, min_delta: float, seed: int,
                  device: str | torch.device = "cpu", progress: bool = False,
                  loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
                  clip: tuple[float, float] | None = None,
                  hparams: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train ``model`` through the engine; it ends with its best-validation weights.

    Early stopping after ``patience`` epochs without a ``val_rmse`` improvement larger than
    ``min_delta`` (``patience=None``: every epoch runs; the best-validation epoch is restored
    either way). Without validation rows every epoch runs and the last epoch's weights are kept.
    Training is single-process on ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``...), in float32.
    Returns :func:`fit_info_from_history`.
    """
    if batch_size < 1 or epochs < 1:
        raise ValueError("batch_size and epochs must be >= 1")
    dev = torch.device(device)
    y_train = ((np.asarray(y, dtype=np.float64) - y_mean) / y_std).astype(np.float32)
    data = TabularData(X, y_train, X_val, y_val, batch_size=batch_size,
                       eval_batch_size=eval_batch_size, seed=seed, pin_memory=dev.type == "cuda")
    validate = data.has_validation
    task = TabularTask(model, optim, seed, forward=forward, y_mean=y_mean, y_std=y_std,
                       loss_fn=loss_fn, min_delta=min_delta, clip=clip, keep_last=not validate,
                       hparams=hparams)
    with warnings.catch_warnings():  # the empty validation loader is intended
        warnings.filterwarnings("ignore", message=".*across ranks is zero.*")
        history = fit_task(task, data, epochs=int(epochs), patience=patience if validate else None,
                           device=dev, progress=progress, amp=False)
    return fit_info_from_history(history, task.best_value)


def fit_regressor(reg: Any, X: np.ndarray, y: np.ndarray, X_val: np.ndarray | None,
                  y_val: np.ndarray | None, optim: OptimConfig, **kw: Any) -> dict[str, Any]:
    """:func:`train_tabular` with a torch regressor's own settings: its ``model_``,
    ``_forward``, ``y_mean_`` / ``y_std_``, ``seed``, ``device``, ``name`` and the ``config``
    entries ``epochs``, ``batch_size``, ``eval_batch_size``, ``patience``, ``min_delta``,
    ``progress``; ``kw``: the model's extras (``loss_fn``, ``clip``)."""
    cfg = reg.config
    return train_tabular(reg.model_, forward=reg._forward, X=X, y=y, X_val=X_val, y_val=y_val,
                         y_mean=reg.y_mean_, y_std=reg.y_std_, optim=optim,
                         epochs=int(cfg["epochs"]), batch_size=int(cfg["batch_size"]),
                         eval_batch_size=int(cfg["eval_batch_size"]), patience=cfg["patience"],
                         min_delta=float(cfg["min_delta"]), seed=reg.seed, device=reg.device,
                         progress=bool(cfg["progress"]),
                         hparams={"regressor": reg.name, "config": dict(cfg)}, **kw)

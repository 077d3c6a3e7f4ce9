"""One ``lightning.Trainer`` for every model: :func:`fit_task`.

Devices and nodes come from Lightning: ``devices=N`` processes on one machine (GPUs, or CPU
processes with the gloo backend) and ``num_nodes=M`` machines, with the DDP strategy when more
than one process takes part. Launch as Lightning documents: a plain ``python`` call on one node
(Lightning starts the other processes), ``srun`` under SLURM, or ``torchrun`` (README).
"""

from __future__ import annotations

import logging
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, Checkpoint, EarlyStopping

from ..progress import progress_mode
from ..runtime import LOG
from .checkpoint import BEST_NAME, LAST_NAME, model_state
from .history import History
from .progress import ProgressBar
from .task import BaseTask

_QUIET = ("lightning.pytorch", "lightning.fabric")
_IGNORED_WARNINGS = (".*does not have many workers.*", ".*smaller than the logging interval.*",
                     ".*Experiment logs directory.*exists and is not empty.*",
                     ".*Checkpoint directory.*exists and is not empty.*",
                     ".*`isinstance.*LeafSpec.*` is deprecated.*",
                     ".*when logging on epoch level in distributed setting.*")


def accelerator_of(device: str | torch.device) -> str:
    """Lightning's accelerator name for a torch device (``cuda`` -> ``gpu``)."""
    kind = torch.device(device).type
    if kind not in ("cpu", "cuda"):
        raise ValueError(f"device {device!r}: geohet trains on 'cpu' or 'cuda'")
    return "gpu" if kind == "cuda" else "cpu"


class LastCheckpoint(Checkpoint):
    """Writes ``last.ckpt`` at the end of every training epoch.

    A ``Checkpoint`` subclass, so Lightning runs it after the task's ``on_train_epoch_end``
    (the epoch's record is in) and after early stopping (its decision is in); every process
    calls ``save_checkpoint`` and rank 0 writes. (``ModelCheckpoint(save_top_k=0,
    save_last=True)`` writes ``last`` only when it also saved a top-k checkpoint.)
    """

    def __init__(self, path: Path):
        self.path = Path(path)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        trainer.save_checkpoint(self.path)


def _callbacks(task: BaseTask, patience: int | None, checkpoint_dir: Path | None,
               progress: bool, refresh: int, early_stopping: EarlyStopping | None
               ) -> list[Callback]:
    cbs: list[Callback] = []
    if early_stopping is not None:
        cbs.append(early_stopping)
    elif patience is not None:
        cbs.append(EarlyStopping(task.monitor, patience=patience, mode="min",
                                 min_delta=task.min_delta, check_on_train_epoch_end=True))
    if checkpoint_dir is not None:
        cbs.append(LastCheckpoint(checkpoint_dir / LAST_NAME))
    if progress:
        cbs.append(ProgressBar(refresh_rate=refresh, leave=False))
    return cbs


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (papermill included) or an interactive shell,
    where Lightning cannot re-launch the script for its other DDP processes."""
    from lightning.fabric.utilities.imports import _IS_INTERACTIVE

    return _IS_INTERACTIVE or "ipykernel" in sys.modules


def _strategy(strategy: Any, multi: bool, find_unused: bool) -> Any:
    """DDP when several processes take part: forked from a notebook (Lightning's
    ``ddp_notebook``), else Lightning's script launcher / the cluster's own processes.
    ``find_unused``: the task's model leaves parameters out of some steps' graphs."""
    if not multi or strategy != "auto":
        return strategy
    from lightning.pytorch.strategies import DDPStrategy

    if in_notebook():
        return DDPStrategy(start_method="fork", find_unused_parameters=find_unused)
    return DDPStrategy(find_unused_parameters=find_unused)


def _finished_early(task: BaseTask, last: Path) -> bool:
    """A run whose last checkpoint says it stopped early: restore it, train nothing more."""
    ck = torch.load(last, map_location="cpu", weights_only=False)
    if not ck.get("geohet", {}).get("history", {}).get("stopped_early"):
        return False
    task.on_load_checkpoint(ck)
    task.model.load_state_dict(model_state(ck))
    task.on_fit_end()
    return True


def _save_best(trainer: L.Trainer, task: BaseTask, path: Path) -> None:
    """``best.ckpt``: the restored best weights, configuration and history (no optimiser,
    no second copy of the best weights)."""
    task._saving_best = True
    try:
        trainer.save_checkpoint(path, weights_only=True)
    finally:
        task._saving_best = False


def fit_task(task: BaseTask, datamodule: L.LightningDataModule, *, epochs: int,
             patience: int | None = None, grad_clip: float | None = None,
             device: str | torch.device = "cpu", devices: int = 1, num_nodes: int = 1,
             strategy: str = "auto", checkpoint_dir: str | Path | None = None,
             resume: bool = False, progress: bool = True, max_batches: int | None = None,
             stop_after_epoch: int | None = None, amp: bool = True,
             early_stopping: EarlyStopping | None = None, refresh_rate: int = 20,
             callbacks: list[Callback] | None = None) -> History:
    """Train ``task`` on ``datamodule``; the task ends with its best weights; its history.

    ``patience``: early stopping on ``task.monitor`` (``None``: run every epoch; the best
    epoch's weights are restored either way). ``grad_clip``: gradient-norm clipping.
    ``devices`` / ``num_nodes``: processes per machine and machines (DDP when more than one).
    With ``checkpoint_dir``: ``last.ckpt`` every epoch, ``best.ckpt`` at the end, the CSV log
    ``metrics.csv``; ``resume=True`` continues from ``last.ckpt`` (the uninterrupted run's
    numbers). ``max_batches`` caps the batches per epoch; ``stop_after_epoch`` ends after that
    0-based epoch as an interruption would. Mixed precision (bfloat16) on CUDA when ``amp``;
    deterministic algorithms on CPU. ``callbacks``: more Lightning callbacks (e.g. timers).
    """
    accel = accelerator_of(device)
    progress = progress and progress_mode() != "off"
    ckdir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    last = ckdir / LAST_NAME if ckdir is not None else None
    resuming = resume and last is not None and last.exists()
    if resuming and _finished_early(task, last):
        LOG.info("%s: %s says the run stopped early; nothing to resume", type(task.model)
                 .__name__, last)
        return task.history
    multi = devices * num_nodes > 1
    forked = multi and strategy == "auto" and in_notebook()
    if forked and ckdir is None:  # the history comes back from forked processes as a CSV log
        with tempfile.TemporaryDirectory(prefix="geohet-ddp-") as tmp:
            return fit_task(task, datamodule, epochs=epochs, patience=patience,
                            grad_clip=grad_clip, device=device, devices=devices,
                            num_nodes=num_nodes, strategy=strategy, checkpoint_dir=tmp,
                            progress=progress, max_batches=max_batches,
                            stop_after_epoch=stop_after_epoch, amp=amp,
                            early_stopping=early_stopping, refresh_rate=refresh_rate,
                            callbacks=callbacks)
    max_epochs = epochs if stop_after_epoch is None else min(epochs, stop_after_epoch + 1)
    logger: Any = False
    if ckdir is not None and not resuming:  # a fresh run: no metrics of an earlier run
        for stale in ("metrics.csv", "hparams.yaml"):
            (ckdir / stale).unlink(missing_ok=True)
    if ckdir is not None:
        from lightning.pytorch.loggers import CSVLogger
        logger = CSVLogger(ckdir, name="", version="")
    index = torch.device(device).index
    lightning_devices: int | list[int] = [index] if index is not None and not multi else devices
    was_det = torch.are_deterministic_algorithms_enabled()
    # deterministic algorithms, without filling every new tensor with NaN first (that guards
    # against reading uninitialised memory, which no model here does, and costs a few %)
    was_fill = torch.utils.deterministic.fill_uninitialized_memory
    levels = {n: logging.getLogger(n).level for n in _QUIET}
    try:
        for n in _QUIET:
            logging.getLogger(n).setLevel(logging.WARNING)
        trainer = L.Trainer(
            accelerator=accel, devices=lightning_devices, num_nodes=num_nodes,
            strategy=_strategy(strategy, multi, task.find_unused_parameters),
            use_distributed_sampler=False,
            precision="bf16-mixed" if accel == "gpu" and amp else "32-true",
            max_epochs=max_epochs, limit_train_batches=max_batches, gradient_clip_val=grad_clip,
            gradient_clip_algorithm="norm", deterministic=accel == "cpu", logger=logger,
            callbacks=_callbacks(task, patience, ckdir, progress, refresh_rate, early_stopping)
            + list(callbacks or []),
            enable_checkpointing=ckdir is not None, enable_progress_bar=progress,
            enable_model_summary=False, num_sanity_val_steps=0, log_every_n_steps=50,
            default_root_dir=ckdir)
        torch.utils.deterministic.fill_uninitialized_memory = False
        with warnings.catch_warnings():
            for msg in _IGNORED_WARNINGS:
                warnings.filterwarnings("ignore", message=msg)
            if resuming:
                LOG.info("resuming %s from %s", type(task.model).__name__, last)
            trainer.fit(task, datamodule=datamodule, ckpt_path=str(last) if resuming else None)
            if forked and not task.history.records:  # trained in forked processes
                task.history = History.read_csv(ckdir / "metrics.csv", task.monitor)
            task.history.stopped_early = any(isinstance(c, EarlyStopping) and c.stopped_epoch > 0
                                             for c in trainer.callbacks)
            if ckdir is not None:
                _save_best(trainer, task, ckdir / BEST_NAME)
        if accel == "gpu" and not multi:  # Lightning's teardown leaves the model on the CPU
            task.to(torch.device(device))
    finally:
        for n, lvl in levels.items():
            logging.getLogger(n).setLevel(lvl)
        torch.use_deterministic_algorithms(was_det)
        torch.utils.deterministic.fill_uninitialized_memory = was_fill
    return task.history

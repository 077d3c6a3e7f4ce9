"""One ``lightning.Trainer`` for every model: :func:`fit_task`.

Devices and nodes come from Lightning: ``devices=N`` processes on one machine (GPUs, or CPU
processes with the gloo backend) and ``num_nodes=M`` machines, with the DDP strategy when more
than one process takes part. Launch as Lightning documents: a plain ``python`` call on one node
(Lightning starts the other processes), ``srun`` under SLURM, or ``torchrun`` (README).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint, TQDMProgressBar

from ..runtime import LOG
from .checkpoint import BEST_NAME, LAST_NAME
from .history import History
from .task import BaseTask

_QUIET = ("lightning.pytorch", "lightning.fabric")
_IGNORED_WARNINGS = (".*does not have many workers.*", ".*smaller than the logging interval.*",
                     ".*Experiment logs directory.*exists and is not empty.*",
                     ".*Checkpoint directory.*exists and is not empty.*",
                     ".*`isinstance.*LeafSpec.*` is deprecated.*")


def accelerator_of(device: str | torch.device) -> str:
    """Lightning's accelerator name for a torch device (``cuda`` -> ``gpu``)."""
    kind = torch.device(device).type
    if kind not in ("cpu", "cuda"):
        raise ValueError(f"device {device!r}: geohet trains on 'cpu' or 'cuda'")
    return "gpu" if kind == "cuda" else "cpu"


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
        ck = ModelCheckpoint(dirpath=checkpoint_dir, save_last=True, save_top_k=0,
                             save_on_train_epoch_end=True, enable_version_counter=False)
        ck.CHECKPOINT_NAME_LAST = Path(LAST_NAME).stem
        cbs.append(ck)
    if progress:
        cbs.append(TQDMProgressBar(refresh_rate=refresh, leave=False))
    return cbs


def _finished_early(task: BaseTask, last: Path) -> bool:
    """A run whose last checkpoint says it stopped early: restore it, train nothing more."""
    ck = torch.load(last, map_location="cpu", weights_only=False)
    if not ck.get("geohet", {}).get("history", {}).get("stopped_early"):
        return False
    task.on_load_checkpoint(ck)
    task.model.load_state_dict({k[6:]: v for k, v in ck["state_dict"].items()
                                if k.startswith("model.")})
    task.on_fit_end()
    return True


def fit_task(task: BaseTask, datamodule: L.LightningDataModule, *, epochs: int,
             patience: int | None = None, grad_clip: float | None = None,
             device: str | torch.device = "cpu", devices: int = 1, num_nodes: int = 1,
             strategy: str = "auto", checkpoint_dir: str | Path | None = None,
             resume: bool = False, progress: bool = True, max_batches: int | None = None,
             stop_after_epoch: int | None = None, amp: bool = True,
             early_stopping: EarlyStopping | None = None, refresh_rate: int = 20) -> History:
    """Train ``task`` on ``datamodule``; the task ends with its best weights; its history.

    ``patience``: early stopping on ``task.monitor`` (``None``: run every epoch; the best
    epoch's weights are restored either way). ``grad_clip``: gradient-norm clipping.
    ``devices`` / ``num_nodes``: processes per machine and machines (DDP when more than one).
    With ``checkpoint_dir``: ``last.ckpt`` every epoch, ``best.ckpt`` at the end, the CSV log
    ``metrics.csv``; ``resume=True`` continues from ``last.ckpt`` (the uninterrupted run's
    numbers). ``max_batches`` caps the batches per epoch; ``stop_after_epoch`` ends after that
    0-based epoch as an interruption would. Mixed precision (bfloat16) on CUDA when ``amp``;
    deterministic algorithms on CPU.
    """
    accel = accelerator_of(device)
    ckdir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    last = ckdir / LAST_NAME if ckdir is not None else None
    if resume and last is not None and last.exists() and _finished_early(task, last):
        LOG.info("%s: %s says the run stopped early; nothing to resume", type(task.model)
                 .__name__, last)
        return task.history
    max_epochs = epochs if stop_after_epoch is None else min(epochs, stop_after_epoch + 1)
    logger: Any = False
    if ckdir is not None:
        from lightning.pytorch.loggers import CSVLogger
        logger = CSVLogger(ckdir, name="", version="")
    multi = devices * num_nodes > 1
    was_det = torch.are_deterministic_algorithms_enabled()
    levels = {n: logging.getLogger(n).level for n in _QUIET}
    for n in _QUIET:
        logging.getLogger(n).setLevel(logging.WARNING)
    trainer = L.Trainer(
        accelerator=accel, devices=devices, num_nodes=num_nodes,
        # some models leave parameters out of a step's graph (ablation switches, MoE experts
        # a batch does not route to): DDP must look for them
        strategy=("ddp_find_unused_parameters_true" if multi and strategy == "auto"
                  else strategy), use_distributed_sampler=False,
        precision="bf16-mixed" if accel == "gpu" and amp else "32-true",
        max_epochs=max_epochs, limit_train_batches=max_batches, gradient_clip_val=grad_clip,
        gradient_clip_algorithm="norm", deterministic=accel == "cpu", logger=logger,
        callbacks=_callbacks(task, patience, ckdir, progress, refresh_rate, early_stopping),
        enable_checkpointing=ckdir is not None, enable_progress_bar=progress,
        enable_model_summary=False, num_sanity_val_steps=0, log_every_n_steps=50,
        default_root_dir=ckdir)
    try:
        with warnings.catch_warnings():
            for msg in _IGNORED_WARNINGS:
                warnings.filterwarnings("ignore", message=msg)
            ckpt = str(last) if resume and last is not None and last.exists() else None
            if ckpt:
                LOG.info("resuming %s from %s", type(task.model).__name__, ckpt)
            trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt)
            task.history.stopped_early = any(isinstance(c, EarlyStopping) and c.stopped_epoch > 0
                                             for c in trainer.callbacks)
            if ckdir is not None:
                task._saving_best = True
                trainer.save_checkpoint(ckdir / BEST_NAME, weights_only=True)
                task._saving_best = False
    finally:
        for n, lvl in levels.items():
            logging.getLogger(n).setLevel(lvl)
        torch.use_deterministic_algorithms(was_det)
    return task.history

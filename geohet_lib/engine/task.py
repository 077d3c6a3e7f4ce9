"""The base task every neural model trains through (issue 11; torchgeo's ``BaseTask`` pattern).

:class:`BaseTask` owns what the six former hand-written loops each re-implemented:

* the optimiser (AdamW, decoupled weight decay, as both papers) and the learning-rate schedule
  (:class:`OptimConfig`: constant, the GPP paper's step decay 1e-3 -> 1e-4 at an epoch, or
  ``ReduceLROnPlateau`` on the monitored validation metric as the SOC paper 5.1). The schedule
  is applied by the task at epoch boundaries (before the epoch's checkpoint is written), so a run
  resumed from a checkpoint continues with the learning rate of the uninterrupted one;
* per-epoch seeding: torch's generator is reseeded with ``epoch_seed(seed, epoch)`` at the start
  of every epoch (dropout), and the loaders' samplers shuffle by ``(seed, epoch)``
  (:mod:`.data`), so resuming at an epoch boundary reproduces the uninterrupted run;
* loss logging: the task's ``training_loss`` parts are averaged over the epoch's items (over all
  DDP ranks), validation sums are reduced over ranks, one record per epoch is appended to
  :attr:`history` and logged (Lightning's CSV logger);
* best weights: the weights of the epoch with the lowest ``monitor`` are kept (on CPU) and
  restored when the fit ends; they travel in every checkpoint.

A model's task fills in :meth:`training_loss`, :meth:`validation_sums` and
:meth:`validation_metrics` (and, when needed, :meth:`param_groups`, :meth:`train_record`,
:meth:`checkpoint_extra`).
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from ..runtime import epoch_seed
from .history import History

SCHEDULES = ("constant", "step", "plateau", "onecycle")


@dataclass(frozen=True)
class OptimConfig:
    """AdamW and its learning-rate schedule.

    ``schedule``: ``"constant"``; ``"step"`` (``lr`` until ``decay_epoch``, then
    ``lr_decayed``; GPP paper 4.1); ``"plateau"`` (``ReduceLROnPlateau`` on the monitored
    validation metric, ``plateau_factor``, ``plateau_patience``; SOC paper 5.1);
    ``"onecycle"`` (``OneCycleLR`` over every optimiser step of the run, peak ``lr``,
    ``pct_start``; fastai's schedule, which AutoGluon's tabular MLP uses). ``betas``: AdamW's.
    """

    lr: float = 1e-3
    weight_decay: float = 1e-2
    schedule: str = "constant"
    lr_decayed: float | None = None
    decay_epoch: int | None = None
    plateau_factor: float = 0.5
    plateau_patience: int = 3
    pct_start: float = 0.25
    betas: tuple[float, float] = (0.9, 0.999)

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.schedule == "step" and (self.lr_decayed is None or self.decay_epoch is None):
            raise ValueError("the step schedule needs lr_decayed and decay_epoch")

    def factor_at(self, epoch: int) -> float:
        """Learning-rate multiplier of the step schedule at 0-based ``epoch``."""
        if self.schedule == "step" and epoch >= self.decay_epoch:
            return self.lr_decayed / self.lr
        return 1.0


def _canonical(d: Any) -> str:
    return json.dumps(d, sort_keys=True, default=str)


def onecycle_pct_start(pct_start: float, total_steps: int) -> float | None:
    """The warm-up share of a one-cycle schedule of ``total_steps`` steps: ``pct_start``, but at
    least two steps (PyTorch's ``OneCycleLR`` divides by zero when the warm-up ends on step
    0, e.g. 4 steps at 0.25); None below three steps, where no cycle fits (constant lr)."""
    if total_steps < 3:
        return None
    return max(float(pct_start), 2.0 / total_steps)


class BaseTask(L.LightningModule):
    """Optimiser, schedule, seeding, epoch records and best weights for one ``model``.

    ``hparams``: the model configuration and training settings (saved in every checkpoint; a
    resume from a checkpoint written with other ``hparams`` is refused).
    """

    monitor: str = "val_loss"
    #: an epoch improves on the best only when its monitor is lower by more than this
    min_delta: float = 0.0
    #: DDP must look for parameters a step leaves out of its graph (costs a graph traversal)
    find_unused_parameters: bool = False

    def __init__(self, model: nn.Module, optim: OptimConfig, seed: int = 0,
                 hparams: dict[str, Any] | None = None, data_key: str | None = None):
        super().__init__()
        self.model = model
        self.optim = optim
        self.seed = int(seed)
        # data_key: the identity of the data trained on (geohet_lib.stages.content_key); kept
        # in the checkpoints' hyper-parameters, so a run never resumes on other data and a
        # later stage can refuse weights trained on another stage-01 result
        self.save_hyperparameters({"optim": asdict(optim), "seed": self.seed, **(hparams or {}),
                                   **({"data_key": data_key} if data_key else {})},
                                  logger=False)
        self.history = History()
        self.best_value = math.inf
        self.best_state: dict[str, Tensor] | None = None
        self._sums: dict[str, Tensor] = {}
        self._val: dict[str, Tensor] = {}
        self._val_record: dict[str, float] = {}
        self._plateau: torch.optim.lr_scheduler.ReduceLROnPlateau | None = None
        self._saving_best = False

    # ------------------------------------------------------------------ hooks to fill in
    def training_loss(self, batch: Any) -> tuple[Tensor, dict[str, Tensor], int]:
        """``(loss to minimise, parts to log (each a mean over the batch), items in batch)``."""
        raise NotImplementedError

    def validation_sums(self, batch: Any) -> dict[str, Tensor]:
        """Additive statistics of one validation batch (summed over batches and ranks)."""
        raise NotImplementedError

    def validation_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        """The epoch's validation metrics from the summed statistics; holds :attr:`monitor`."""
        raise NotImplementedError

    def param_groups(self) -> list[dict[str, Any]]:
        """AdamW parameter groups (default: every parameter of the model, one group)."""
        return [{"params": list(self.model.parameters())}]

    def train_record(self, means: dict[str, float]) -> dict[str, float]:
        """The epoch's training metrics from the item-weighted means of the loss parts."""
        return {f"train_{k}": v for k, v in means.items()}

    def checkpoint_extra(self) -> dict[str, Any]:
        """Task state beyond the weights that a checkpoint must carry (e.g. target scale)."""
        return {}

    def load_checkpoint_extra(self, extra: dict[str, Any]) -> None:
        """Restore :meth:`checkpoint_extra`."""

    # ------------------------------------------------------------------ optimiser, schedule
    def configure_optimizers(self) -> Any:
        o = self.optim
        opt = torch.optim.AdamW(self.param_groups(), lr=o.lr, weight_decay=o.weight_decay,
                                betas=tuple(o.betas))
        for g in opt.param_groups:
            g.setdefault("base_lr", g["lr"])
        if o.schedule == "onecycle":  # stepped by Lightning after every optimiser step
            total = max(1, int(self.trainer.estimated_stepping_batches))
            pct = onecycle_pct_start(o.pct_start, total)
            if pct is None:  # one or two steps hold no warm-up and annealing: constant lr
                return opt
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=o.lr, total_steps=total,
                                                        pct_start=pct)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
        if o.schedule == "plateau":
            self._plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
                opt, mode="min", factor=o.plateau_factor, patience=o.plateau_patience)
        return opt

    def _optimizer(self) -> torch.optim.Optimizer:
        opt = self.optimizers()
        return getattr(opt, "optimizer", opt)  # unwrap Lightning's LightningOptimizer

    # ------------------------------------------------------------------ training
    def on_train_epoch_start(self) -> None:
        e = self.current_epoch
        opt = self._optimizer()
        if self.optim.schedule == "step":
            for g in opt.param_groups:
                g["lr"] = g["base_lr"] * self.optim.factor_at(e)
        self._epoch_lr = float(opt.param_groups[0]["lr"])
        self._sums = {}
        self._t0 = time.perf_counter()

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # seeded at the first batch, after the loader's iterator has drawn its own base seed
        # (Lightning creates the iterator at different moments in fresh and resumed runs)
        if batch_idx == 0:
            torch.manual_seed(epoch_seed(self.seed, self.current_epoch) + 7919 * self.global_rank)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        loss, parts, n = self.training_loss(batch)
        if not torch.isfinite(loss.detach()):
            raise FloatingPointError(f"{type(self.model).__name__} training loss is "
                                     f"{float(loss)} at epoch {self.current_epoch + 1}")
        self._add(self._sums, {**{k: v.detach().float() * n for k, v in parts.items()},
                               "_n": torch.tensor(float(n), device=loss.device)})
        return loss

    def on_train_epoch_end(self) -> None:
        sums = self._reduced(self._sums)
        n = sums.pop("_n", 0.0)
        secs = time.perf_counter() - self._t0
        record = self.train_record({k: v / max(n, 1.0) for k, v in sums.items()})
        record.update(self._val_record)
        record.update(lr=self._epoch_lr, seconds=secs, samples_per_s=self.samples_in(n) / secs)
        self.history.records.append(record)
        self.log_dict({k: float(v) for k, v in record.items()}, on_epoch=True, on_step=False,
                      sync_dist=False, rank_zero_only=True)

    def samples_in(self, items: float) -> float:
        """Samples in ``items`` training items (a GPP cell-year holds 46 samples)."""
        return items

    # ------------------------------------------------------------------ validation
    def on_validation_epoch_start(self) -> None:
        self._val = {}

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._add(self._val, {k: v.detach().double() for k, v in
                              self.validation_sums(batch).items()})

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        metrics = self.validation_metrics(self._reduced(self._val))
        self._val_record = metrics
        value = float(metrics[self.monitor])
        self.log(self.monitor, value, on_epoch=True, sync_dist=False)
        if value < self.best_value - self.min_delta:
            self.best_value = value
            self.history.best_epoch = self.current_epoch
            self.best_state = {k: v.detach().to("cpu", copy=True)
                               for k, v in self.model.state_dict().items()}
        if self._plateau is not None:
            self._plateau.step(value)

    def on_fit_end(self) -> None:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _add(acc: dict[str, Tensor], new: dict[str, Tensor]) -> None:
        for k, v in new.items():
            acc[k] = acc[k] + v if k in acc else v

    def _reduced(self, acc: dict[str, Tensor]) -> dict[str, float]:
        if not acc:
            return {}
        keys = sorted(acc)
        vec = torch.stack([acc[k].double().reshape(()) for k in keys]).to(self.device)
        if self.trainer is not None and self.trainer.world_size > 1:
            vec = self.trainer.strategy.reduce(vec, reduce_op="sum")
        return dict(zip(keys, vec.tolist()))

    # ------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        hist = self.history.to_dict()
        hist["stopped_early"] = bool(self.trainer.should_stop) if self._trainer else False
        state = {"history": hist, "best_value": self.best_value,
                 "extra": self.checkpoint_extra()}
        if not self._saving_best:
            state["best_state"] = self.best_state
            state["plateau"] = self._plateau.state_dict() if self._plateau else None
        checkpoint["geohet"] = state

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        mine, theirs = _canonical(dict(self.hparams)), _canonical(checkpoint.get("hyper_parameters"))
        if mine != theirs:
            raise ValueError("the checkpoint was written for another configuration, seed or "
                             "data; delete it or give resume=False")
        self.restore_state(checkpoint["geohet"])

    def restore_state(self, state: dict[str, Any]) -> None:
        """History, best weights and extras from a checkpoint's ``"geohet"`` entry."""
        self.history = History.from_dict(state["history"])
        self.best_value = state["best_value"]
        self.best_state = copy.deepcopy(state.get("best_state"))
        self._pending_plateau = state.get("plateau")
        self.load_checkpoint_extra(state.get("extra", {}))

    def on_train_start(self) -> None:
        pending = getattr(self, "_pending_plateau", None)
        if pending is not None and self._plateau is not None:
            self._plateau.load_state_dict(pending)

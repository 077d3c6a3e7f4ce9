"""One training engine for every neural model (PyTorch Lightning; issue 11).

Following torchgeo's trainers: :class:`~.task.BaseTask` owns the optimiser, the learning-rate
schedule, per-epoch seeding, loss logging, the epoch history and the best weights; each model's
task fills in the hooks (``training_loss``, ``validation_sums``, ``validation_metrics``).
:func:`~.trainer.fit_task` builds the one ``lightning.Trainer`` every model trains with (early
stopping, checkpoints, resume, progress bars, mixed precision on CUDA, DDP over several devices
and nodes). :mod:`~.data` holds the sharded, epoch-seeded samplers; :mod:`~.history` the one
history format; :mod:`~.checkpoint` the one checkpoint format.
"""

from .checkpoint import BEST_NAME, LAST_NAME, load_checkpoint
from .data import EpochSeededDistributedSampler, IndexDataset, ShardedEvalSampler, index_loader
from .history import History
from .task import BaseTask, OptimConfig
from .trainer import fit_task

__all__ = ["BEST_NAME", "LAST_NAME", "BaseTask", "EpochSeededDistributedSampler", "History",
           "IndexDataset", "OptimConfig", "ShardedEvalSampler", "fit_task", "index_loader",
           "load_checkpoint"]

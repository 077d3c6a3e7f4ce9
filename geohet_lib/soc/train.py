"""Training SpTGNN on the heterogeneous sample graph (SOC paper 3.1, 3.7, 5.1, Table 6).

**Transductive** (paper 3.1, 4.5). The graph holds every sample of the region, so
validation and test nodes pass messages; the loss is taken on training nodes only. Two kinds
of optimiser step (``cfg.batch_size``):

* **mini-batches of target nodes** (Table 6: 32 Africa, 16 Europe and Global; the paper's
  schedule, ~710 steps per Africa epoch): every epoch shuffles the training nodes (seeded by
  ``(seed, epoch)``), and each step runs the model on the sampled neighbourhood of its batch
  (:class:`~geohet_lib.soc.sampling.NeighbourSampler`, ``cfg.fanouts`` in-edges per hop, as
  many hops as RGAT layers; PyG's ``NeighborLoader`` needs ``pyg-lib``, which cannot be
  installed here) with the loss on the batch's seeds. The MoE load-balance and entropy terms
  are taken over the sampled subgraph's nodes;
* **full batch** (``batch_size=None``): one step per epoch on the whole graph. Far cheaper
  per epoch on a CPU but 1 step instead of ~710, so the CPU profiles use it with the
  square-root scaled learning rate (:func:`~geohet_lib.soc.configs.full_batch_lr`).

Validation is always one full-graph pass in eval mode at the end of an epoch.

**Objective** (Eq. 3, :func:`~geohet_lib.soc.losses.sptgnn_loss`): Huber on the scaled log
target + ``lambda_aux`` x Huber between the auxiliary head and each node's local Moran's I +
``w_LB`` load balance + entropy gap of the MoE gates. ``loss_kind`` switches the main term to
the uncertainty losses of 3.8 (``"nll"``, ``"beta_nll"``, ``"mse_plus_nll"``; the hybrid's
``lambda_nll`` is 0 during the ``nll_warmup_epochs`` warm start of 5.3).

**Local Moran's I target** (:func:`training_moran_target`), computed once before training
from **training targets only**: the statistic is evaluated on the subgraph of the *spatial*
relation (the geographic k-NN with inverse-distance weights, the spatial weights matrix that
Moran's I is defined on) induced by the training nodes: mean, variance and every neighbour
lag use training nodes and training-to-training edges only, row-standardised over a node's
training neighbours. Validation and test nodes get the value 0 there, a placeholder that never
enters the loss (the auxiliary loss is masked to the training nodes, like the main loss), and
no validation or test target reaches any training node's target. A training node whose
spatial neighbours are all non-training nodes gets 0 (no lag), as :func:`local_morans_i` does
for isolated nodes. The statistic is affine invariant, so the scaled log target gives the same
values as log SOC.

**Optimisation** (5.1, Table 6): AdamW (Adam with decoupled weight decay, the regularisation
3.7 names) with the region's learning rate and weight decay, gradient-norm clipping at
``grad_clip``, ``ReduceLROnPlateau`` on the validation loss (factor 0.5, the paper gives
none; patience ``lr_patience``), early stopping after ``patience`` epochs without improvement
of the validation loss, best weights restored. The validation loss is the main term (Huber by
default) on the validation nodes in eval mode; the auxiliary and MoE terms are training
regularisers and stay out of it. (Table 4 reports the best-validation-MAPE checkpoint; we
select by the validation loss, as the training loop's early stopping does.)

**Engine**: trained by the project's engine (:mod:`geohet_lib.engine`, PyTorch Lightning):
:class:`SpTGNNTask` fills its hooks, :class:`SOCNodeDataModule` serves training seed nodes
(shuffled by ``(seed, epoch)`` and sharded over DDP ranks: ``devices`` processes each take
``batch_size / devices`` seeds per step; in full-batch mode each takes its share of the
training nodes as the loss mask of one whole-graph step) and the validation nodes.

**Reproducibility**: the caller seeds the initial weights (:func:`build_sptgnn`); dropout and
neighbour sampling of epoch ``e`` are seeded by ``(seed, e)``, so the run is deterministic on
CPU, and resuming from ``last.ckpt`` (model, optimiser, plateau scheduler, history, best
weights, early-stopping counters; written every epoch with the model configuration) gives the
uninterrupted run's numbers. On CUDA the training steps run under bfloat16 mixed precision, the
loss in float32; the validation pass and predictions run in float32 (CPU: float32
throughout).

**Inductive prediction** (paper 3.1, "a local subgraph from the target point's nearest
neighbors in the training graph"): :func:`predict_inductive` attaches points that are not in
the graph to a graph of reference samples with
:func:`~geohet_lib.soc.graph.inductive_subgraph` (edges reference -> new only, so the
reference nodes' outputs do not change and new points do not see each other),
:func:`~geohet_lib.soc.graph.extend_graph`, and runs the model on the
:func:`~geohet_lib.soc.graph.local_subgraph` of the new nodes (exact for an ``L``-layer stack
with ``L`` hops).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from ..engine import BaseTask, History, OptimConfig, fit_task, index_loader
from ..runtime import LOG, epoch_seed, get_device
from .configs import SpTGNNConfig
from .graph import SPATIAL, SOCGraph, extend_graph, inductive_subgraph, local_subgraph
from .losses import LOSS_KINDS, local_morans_i, sptgnn_loss
from .sampling import NeighbourSampler, seed_batches
from .sptgnn import SpTGNN

__all__ = ["FEATURE_KEYS", "SOCNodeDataModule", "SpTGNNTask", "build_sptgnn", "graph_batch",
           "training_moran_target", "fit_sptgnn", "predict_sptgnn", "inductive_batch",
           "predict_inductive"]

#: per-node inputs of SpTGNN (besides the graph): image embedding, covariates, position, year
FEATURE_KEYS: tuple[str, ...] = ("image", "covariates", "lat", "lon", "time")


# --------------------------------------------------------------------------- inputs


def build_sptgnn(cfg: SpTGNNConfig, seed: int = 0) -> SpTGNN:
    """A fresh :class:`SpTGNN` whose initial weights depend only on ``(cfg, seed)``.

    PyG 2.8's ``RGATConv.reset_parameters`` leaves its unused ``l2`` parameter as
    uninitialised memory (``torch.full`` without assignment); it is set here to the intended
    ``1 / out_channels`` so that state dicts (and checkpoints) are reproducible. It never
    enters the forward pass (``mod=None``).
    """
    from torch_geometric.nn import RGATConv

    torch.manual_seed(seed)
    model = SpTGNN(cfg)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, RGATConv):
                m.l2.fill_(1.0 / m.out_channels)
    return model


def _tensor(a: Any, dtype: torch.dtype) -> Tensor:
    if isinstance(a, Tensor):
        return a.detach().to(dtype)
    return torch.tensor(np.asarray(a), dtype=dtype)  # a copy: inputs may be read-only


def graph_batch(graph: SOCGraph | None, features: Mapping[str, Any]) -> dict[str, Tensor]:
    """The input dict of :meth:`SpTGNN.forward` for every node of ``graph``.

    ``features``: ``covariates`` (N, 63), ``lat``, ``lon`` (N,) degrees, ``time`` (N,)
    sampling year and optionally ``image`` (N, d_vit), numpy or torch, rows in node order.
    ``graph=None`` gives a batch without edges (for ``use_graph=False`` models).
    """
    n = len(features["covariates"])
    out = {"covariates": _tensor(features["covariates"], torch.float32)}
    for k in ("lat", "lon", "time"):
        out[k] = _tensor(features[k], torch.float32).reshape(-1)
    if features.get("image") is not None:
        out["image"] = _tensor(features["image"], torch.float32)
    for k, v in out.items():
        if v.shape[0] != n:
            raise ValueError(f"feature {k!r} has {v.shape[0]} rows, covariates {n}")
        if not torch.isfinite(v).all():
            raise ValueError(f"feature {k!r} holds non-finite values (impute the covariates "
                             "first)")
    if graph is not None:
        if graph.num_nodes != n:
            raise ValueError(f"graph has {graph.num_nodes} nodes, the features {n} rows")
        out.update(edge_index=graph.edge_index.long(), edge_type=graph.edge_type.long(),
                   edge_weight=graph.edge_weight.float())
    return out


def _to(batch: Mapping[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


def training_moran_target(y_scaled, batch: Mapping[str, Tensor] | SOCGraph,
                          train_mask, relation: int = SPATIAL) -> Tensor:
    """Local Moran's I of every training node from **training targets only** (module doc).

    ``y_scaled`` (N,) may hold anything (NaN included) outside ``train_mask``: only the
    training entries are read. The statistic uses the edges of ``relation`` (default the
    spatial one) whose both ends are training nodes, with their weights. Returns (N,)
    float32, 0 at non-training nodes (a placeholder outside the training loss).
    """
    if isinstance(batch, SOCGraph):
        ei, et, ew = batch.edge_index, batch.edge_type, batch.edge_weight
    else:
        ei, et = batch["edge_index"], batch["edge_type"]
        ew = batch.get("edge_weight")
    ei, et = ei.cpu().long(), et.cpu().long()
    ew = torch.ones(ei.shape[1]) if ew is None else ew.detach().cpu().float()
    train = torch.as_tensor(np.asarray(train_mask), dtype=torch.bool).reshape(-1)
    y = _tensor(y_scaled, torch.float64).cpu().reshape(-1)
    if y.numel() != train.numel():
        raise ValueError(f"y has {y.numel()} values, the mask {train.numel()}")
    yt = y[train]
    if not torch.isfinite(yt).all():
        raise ValueError("training targets hold non-finite values")
    keep = (et == relation) & train[ei[0]] & train[ei[1]]
    pos = torch.cumsum(train.long(), 0) - 1  # node -> position among the training nodes
    sub = pos[ei[:, keep]]
    out = torch.zeros(train.numel(), dtype=torch.float64)
    if yt.numel():
        out[train] = local_morans_i(yt, sub, ew[keep].double(), num_nodes=int(yt.numel()))
    return out.float()


# --------------------------------------------------------------------------- fit


def _forward(model: nn.Module, batch: Mapping[str, Tensor], device: torch.device,
             amp: bool) -> dict[str, Any]:
    use_amp = amp and device.type == "cuda"
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
        out = model(batch)
    if not use_amp:
        return out
    res = {k: (v.float() if isinstance(v, Tensor) else v) for k, v in out.items()}
    res["moe_aux"] = {k: v.float() for k, v in (out.get("moe_aux") or {}).items()}
    return res


def _settings(cfg: SpTGNNConfig, seed: int, loss_kind: str) -> dict:
    return {"seed": seed, "loss_kind": loss_kind, "lr": cfg.lr,
            "weight_decay": cfg.weight_decay, "grad_clip": cfg.grad_clip, "epochs": cfg.epochs,
            "patience": cfg.patience, "lr_patience": cfg.lr_patience, "lr_factor": 0.5,
            "optimizer": "AdamW",
            "step": ("full-batch (transductive)" if cfg.batch_size is None else
                     f"mini-batches of {cfg.batch_size} target nodes, fanouts {_fanouts(cfg)}")}


def _fanouts(cfg: SpTGNNConfig) -> tuple[int, ...]:
    """One fanout per RGAT layer: ``cfg.fanouts`` (a single entry is repeated), -1 = all."""
    layers = len(cfg.rgat_hidden)
    f = tuple(cfg.fanouts) if cfg.fanouts is not None else (-1,)
    if len(f) == 1:
        f = f * layers
    if len(f) != layers:
        raise ValueError(f"fanouts {f} must have one entry per RGAT layer ({layers}) or one")
    return f


_EDGE_KEYS = ("edge_index", "edge_type", "edge_weight")


def _subgraph_batch(batch: Mapping[str, Tensor], nodes: Tensor, edge_index: Tensor | None = None,
                    edge_type: Tensor | None = None, edge_weight: Tensor | None = None
                    ) -> dict[str, Tensor]:
    """The input dict of the nodes ``nodes`` of ``batch`` (every per-node feature gathered)
    with the given edges, already relabelled to positions in ``nodes`` (none: no edges)."""
    out = {k: v[nodes] for k, v in batch.items() if k not in _EDGE_KEYS}
    for k, v in zip(_EDGE_KEYS, (edge_index, edge_type, edge_weight)):
        if v is not None:
            out[k] = v.to(nodes.device)
    return out


def _mini_batch(batch: Mapping[str, Tensor], sampler: NeighbourSampler | None, seeds: Tensor,
                gen: torch.Generator, device: torch.device) -> tuple[dict[str, Tensor], Tensor]:
    """The input dict of the sampled neighbourhood of ``seeds`` (seeds first) on ``device``
    and its node ids there (``batch`` already on ``device``)."""
    if sampler is None:  # no graph: the seeds alone
        nodes = seeds.to(device)
        return _subgraph_batch(batch, nodes), nodes
    sub = sampler.sample(seeds, gen)
    nodes = sub.nodes.to(device)
    return _subgraph_batch(batch, nodes, sub.edge_index, sub.edge_type, sub.edge_weight), nodes


class SpTGNNTask(BaseTask):
    """SpTGNN under the engine: Eq. (3) on the step's seed nodes, validation main loss.

    ``data``: :func:`graph_batch` of every node; ``y_fit`` the scaled log target with zeros
    outside the training nodes, ``y`` with the validation targets too; ``moran`` the training
    Moran target (zeros elsewhere). Batches are tensors of seed node ids.
    """

    monitor = "val_loss"
    find_unused_parameters = True  # MoE experts a batch does not route to

    def __init__(self, model: SpTGNN, cfg: SpTGNNConfig, seed: int, loss_kind: str,
                 data: Mapping[str, Tensor], y: Tensor, y_fit: Tensor, moran: Tensor,
                 data_key: str | None = None):
        super().__init__(model, OptimConfig(lr=cfg.lr, weight_decay=cfg.weight_decay,
                                            schedule="plateau", plateau_factor=0.5,
                                            plateau_patience=cfg.lr_patience), seed,
                         {"model_config": cfg.to_dict(), "settings": _settings(cfg, seed,
                                                                               loss_kind)},
                         data_key=data_key)
        self.cfg, self.loss_kind = cfg, loss_kind
        self.data, self.y, self.y_fit, self.moran = dict(data), y, y_fit, moran
        self.sampler = None
        if cfg.batch_size is not None and cfg.use_graph:
            self.sampler = NeighbourSampler(data["edge_index"].cpu(), data["edge_type"].cpu(),
                                            y.numel(), _fanouts(cfg), data.get("edge_weight"))

    def on_fit_start(self) -> None:
        self.data = _to(self.data, self.device)
        self.y, self.y_fit, self.moran = (t.to(self.device) for t in (self.y, self.y_fit,
                                                                       self.moran))

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self._gen = torch.Generator().manual_seed(epoch_seed(self.seed, self.current_epoch)
                                                  + 7919 * self.global_rank)

    def _lam_nll(self) -> float:
        warm = self.loss_kind == "mse_plus_nll" and self.current_epoch < self.cfg.nll_warmup_epochs
        return 0.0 if warm else self.cfg.lambda_nll

    def _loss(self, out: dict, y: Tensor, moran: Tensor | None, mask: Tensor, aux: bool):
        """Training (``aux``): Eq. (3) with this epoch's lambda_nll (0 in the warm start).
        Validation: the main term with the run's final lambda_nll at every epoch, so that the
        best epoch is chosen by the objective the run ends with (a warm-start epoch, whose
        variance head is untrained, cannot win on MSE alone)."""
        c = self.cfg
        return sptgnn_loss(out, y, moran, None if aux else {},
                           c.lambda_aux if aux else 0.0, c.lb_weight if aux else 0.0,
                           c.entropy_weight if aux else 0.0, self.loss_kind, c.beta,
                           self._lam_nll() if aux else c.lambda_nll, c.huber_delta, mask=mask)

    def training_loss(self, seeds: Tensor) -> tuple[Tensor, dict[str, Tensor], int]:
        amp = self.trainer.precision == "bf16-mixed"
        if self.cfg.batch_size is None:  # full batch: the whole graph, loss on the seeds
            mask = torch.zeros_like(self.y, dtype=torch.bool)
            mask[seeds] = True
            out = _forward(self.model, self.data, self.device, amp)
            loss, parts = self._loss(out, self.y_fit, self.moran, mask, True)
        else:
            sb, nodes = _mini_batch(self.data, self.sampler, seeds.cpu(), self._gen, self.device)
            mask = torch.zeros(nodes.numel(), dtype=torch.bool, device=self.device)
            mask[:seeds.numel()] = True
            out = _forward(self.model, sb, self.device, amp)
            loss, parts = self._loss(out, self.y_fit[nodes], self.moran[nodes], mask, True)
        return loss, {k: parts[k] for k in ("total", "main", "autocorr", "moe")}, seeds.numel()

    def train_record(self, means: dict[str, float]) -> dict[str, float]:
        return {"train_loss": means["total"], "train_main": means["main"],
                "train_autocorr": means["autocorr"], "train_moe": means["moe"]}

    def validation_sums(self, ids: Tensor) -> dict[str, Tensor]:
        with torch.autocast(self.device.type, enabled=False):  # float32 for early stopping
            out = _forward(self.model, self.data, self.device, False)
        mask = torch.zeros_like(self.y, dtype=torch.bool)
        mask[ids] = True
        vloss, _ = self._loss(out, self.y, None, mask, False)
        err = out["pred"][ids].double() - self.y[ids].double()
        n = torch.tensor(float(ids.numel()), device=self.device)
        return {"loss": vloss.double() * n, "sq": torch.sum(err ** 2), "n": n}

    def validation_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        n = max(sums["n"], 1.0)
        return {"val_loss": sums["loss"] / n, "val_rmse": math.sqrt(sums["sq"] / n)}


class SOCNodeDataModule(L.LightningDataModule):
    """Training seed nodes (shuffled by ``(seed, epoch)``, sharded over ranks) and the
    validation nodes (one batch per rank). ``batch_size`` None: full batch (each rank takes
    its share of the training nodes in one step); otherwise seeds per process and step."""

    def __init__(self, train_ids: Tensor, val_ids: Tensor, batch_size: int | None, seed: int,
                 world: int = 1):
        super().__init__()
        self.train_ids, self.val_ids, self.seed = train_ids, val_ids, seed
        n = train_ids.numel()
        self.batch_size = -(-n // world) if batch_size is None else batch_size // world

    @staticmethod
    def _collate(ids: Tensor):
        return lambda rows: ids[torch.as_tensor(rows, dtype=torch.long)]

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        return index_loader(self.train_ids.numel(), self.batch_size,
                            self._collate(self.train_ids), train=True, seed=self.seed)

    def val_dataloader(self) -> torch.utils.data.DataLoader:
        n = self.val_ids.numel()
        return index_loader(n, n, self._collate(self.val_ids), train=False)


def _check_inputs(masks: Mapping[str, Any], y_scaled, loss_kind: str
                  ) -> tuple[Tensor, Tensor, Tensor]:
    if loss_kind not in LOSS_KINDS:
        raise ValueError(f"unknown loss_kind {loss_kind!r}: choose one of {', '.join(LOSS_KINDS)}")
    train = torch.as_tensor(np.asarray(masks["train"]), dtype=torch.bool).reshape(-1)
    val = torch.as_tensor(np.asarray(masks["val"]), dtype=torch.bool).reshape(-1)
    if not train.any() or not val.any():
        raise ValueError("fit_sptgnn needs training and validation nodes")
    if (train & val).any():
        raise ValueError("a node is both a training and a validation node")
    y = _tensor(y_scaled, torch.float32).reshape(-1)
    if y.numel() != train.numel():
        raise ValueError(f"y_scaled has {y.numel()} values for {train.numel()} nodes")
    if not torch.isfinite(y[train | val]).all():
        raise ValueError("training or validation targets hold non-finite values")
    return train, val, y


def fit_sptgnn(model: SpTGNN, data: Mapping[str, Tensor], masks: Mapping[str, Any],
               cfg: SpTGNNConfig, y_scaled, moran_target=None,
               device: str | torch.device = "cpu", seed: int = 0,
               checkpoint_dir: str | Path | None = None, resume: bool = False,
               progress: bool = True, loss_kind: str = "huber", *, amp: bool = True,
               stop_after_epoch: int | None = None, devices: int = 1, num_nodes: int = 1,
               data_key: str | None = None) -> tuple[SpTGNN, History]:
    """Train ``model`` on the graph ``data`` (full batch, or mini-batches of target nodes
    with sampled neighbourhoods when ``cfg.batch_size`` is set); return it with the best
    weights and the :class:`~geohet_lib.engine.History`.

    ``data``: :func:`graph_batch` of every node; ``masks``: ``{"train", "val"}`` boolean
    (N,) node masks (:func:`~geohet_lib.soc.graph.transductive_masks`; ``"test"`` is
    ignored); ``y_scaled`` (N,): the scaled log target, read at training and validation nodes
    only (put NaN elsewhere, e.g. at test nodes, to make sure they are never read);
    ``moran_target`` (N,): :func:`training_moran_target` (computed here when None). Table 6
    settings come from ``cfg`` (``lr``, ``weight_decay``, ``grad_clip``, ``epochs``,
    ``patience``, ``lr_patience``, ``lambda_aux``, ``lb_weight``, ``entropy_weight``,
    ``huber_delta``). With ``checkpoint_dir``, ``last.ckpt`` is written every epoch and
    ``best.ckpt`` (best weights, history, configuration) at the end; ``resume=True``
    continues from ``last.ckpt``. ``stop_after_epoch`` ends the run after that (0-based)
    epoch, as an interruption would (to test resuming). ``devices`` / ``num_nodes``: DDP
    processes per machine and machines (mini-batches of ``cfg.batch_size`` seeds are split
    evenly over them). ``data_key``: the identity of the region's data
    (:attr:`~geohet_lib.soc.stage03.RegionData.upstream`), kept in the checkpoints.
    """
    train, val, y = _check_inputs(masks, y_scaled, loss_kind)
    device = get_device(device) if isinstance(device, str) else device
    world = devices * num_nodes
    if cfg.batch_size is not None and cfg.batch_size % world:
        raise ValueError(f"batch_size {cfg.batch_size} must divide evenly over {world} processes")
    if moran_target is None:
        moran_target = training_moran_target(y, data, train)
    moran = _tensor(moran_target, torch.float32).reshape(-1)
    # nothing outside the training nodes can reach the training loss
    y_fit = torch.where(train, y, torch.zeros_like(y))
    moran = torch.where(train, moran, torch.zeros_like(moran))
    task = SpTGNNTask(model, cfg, seed, loss_kind, data, y, y_fit, moran, data_key)
    dm = SOCNodeDataModule(torch.nonzero(train).reshape(-1), torch.nonzero(val).reshape(-1),
                           cfg.batch_size, seed, world)
    hist = fit_task(task, dm, epochs=cfg.epochs, patience=cfg.patience, grad_clip=cfg.grad_clip
                    or None, device=device, devices=devices, num_nodes=num_nodes,
                    checkpoint_dir=checkpoint_dir, resume=resume, progress=progress, amp=amp,
                    stop_after_epoch=stop_after_epoch, refresh_rate=1)
    if hist.epochs:
        LOG.info("SpTGNN %s: %d epochs, best %d (val loss %.4f), %.2f s per epoch", cfg.region,
                 hist.epochs, hist.best_epoch + 1, task.best_value, float(np.mean(hist.seconds)))
    model.eval()
    return model, hist


# --------------------------------------------------------------------------- predict


def predict_sptgnn(model: SpTGNN, data: Mapping[str, Tensor],
                   device: str | torch.device = "cpu", amp: bool = False
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """``(mean, log_var)`` (N,) float64 of every node on the scaled log target (eval mode,
    float32; ``amp=True`` runs bfloat16 autocast on CUDA).

    ``log_var`` is the bounded log-variance head's output (``None`` without ``use_uq``); it is
    trained only by the NLL losses, so under Huber it is untrained.
    """
    device = get_device(device) if isinstance(device, str) else device
    model.to(device)
    was = model.training
    model.eval()
    with torch.no_grad():
        out = _forward(model, _to(data, device), device, amp)
    model.train(was)
    mean = out["pred"].float().cpu().numpy().astype(np.float64)
    lv = out.get("log_var")
    return mean, (None if lv is None else lv.float().cpu().numpy().astype(np.float64))


def _cat_features(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, np.ndarray]:
    out = {}
    for k in FEATURE_KEYS:
        if a.get(k) is None and b.get(k) is None:
            continue
        if a.get(k) is None or b.get(k) is None:
            raise ValueError(f"feature {k!r} given for only one of the reference / new points")
        out[k] = np.concatenate([np.asarray(a[k]), np.asarray(b[k])])
    return out


def inductive_batch(train_frame: pd.DataFrame, train_graph: SOCGraph,
                    new_frame: pd.DataFrame, train_features: Mapping[str, Any],
                    new_features: Mapping[str, Any]) -> tuple[dict[str, Tensor], SOCGraph]:
    """The reference graph extended by the points of ``new_frame`` and its input batch.

    ``train_frame`` / ``new_frame``: ``lat, lon, ndvi, elevation`` of the reference nodes
    (the rows ``train_graph`` was built from, in its node order) and of the new points
    (:func:`~geohet_lib.soc.stage02.graph_frame`); ``*_features``: the model inputs of each
    (:data:`FEATURE_KEYS`). New edges use ``train_graph``'s resolved scales. Nodes:
    reference ``0 .. n_ref - 1``, new ``n_ref ..``. Returns ``(batch, extended_graph)``.
    """
    index, ei, et, ew = inductive_subgraph(train_frame, train_graph.config, new_frame,
                                           train_graph=train_graph)
    ext = extend_graph(train_graph, index, ei, et, ew)
    return graph_batch(ext, _cat_features(train_features, new_features)), ext


def predict_inductive(model: SpTGNN, train_frame: pd.DataFrame, train_graph: SOCGraph,
                      new_frame: pd.DataFrame, train_features: Mapping[str, Any],
                      new_features: Mapping[str, Any], device: str | torch.device = "cpu",
                      amp: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """``(mean, log_var)`` on the scaled log target for points **not in the graph**.

    The points of ``new_frame`` are attached to the reference graph (:func:`inductive_batch`,
    edges reference -> new only) and the model runs on the ``L``-hop neighbourhood of the new
    nodes (``L`` = number of RGAT layers; :func:`~geohet_lib.soc.graph.local_subgraph`), which
    gives exactly the outputs of the whole extended graph at the new nodes.
    """
    n_new = len(new_frame)
    if n_new == 0:
        return np.empty(0), None
    cfg = model.cfg
    if not cfg.use_graph:
        return predict_sptgnn(model, graph_batch(None, new_features), device, amp)
    batch, ext = inductive_batch(train_frame, train_graph, new_frame, train_features,
                                 new_features)
    n_ref = ext.num_nodes - n_new
    hops = len(cfg.rgat_hidden)
    sub = local_subgraph(ext, np.arange(n_ref, ext.num_nodes), hops=hops)
    sb = _subgraph_batch(batch, sub.nodes, sub.edge_index, sub.edge_type, sub.edge_weight)
    mean, lv = predict_sptgnn(model, sb, device, amp)
    centre = sub.centre.numpy()
    return mean[centre], (None if lv is None else lv[centre])

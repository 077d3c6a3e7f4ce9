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

**Reproducibility**: the caller seeds the initial weights (:func:`build_sptgnn`); dropout of
epoch ``e`` is seeded by ``(seed, e)``, so the run is deterministic on CPU, and resuming from
``checkpoint_last.pt`` (model, optimiser, scheduler, history, best weights, counters; written
atomically every epoch with the model configuration) gives the uninterrupted run's numbers.
On CUDA the training forward pass runs under bfloat16 autocast, the loss in float32; the
validation pass and predictions run in float32 (CPU: float32 throughout).

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

import copy
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..io import resume_checkpoint, torch_save
from ..runtime import LOG, epoch_seed, get_device
from .configs import SpTGNNConfig
from .graph import SPATIAL, SOCGraph, extend_graph, inductive_subgraph, local_subgraph
from .losses import LOSS_KINDS, local_morans_i, sptgnn_loss
from .sampling import NeighbourSampler, seed_batches
from .sptgnn import SpTGNN

__all__ = ["FEATURE_KEYS", "SpTGNNHistory", "build_sptgnn", "graph_batch",
           "training_moran_target", "fit_sptgnn", "predict_sptgnn", "inductive_batch",
           "predict_inductive"]

#: per-node inputs of SpTGNN (besides the graph): image embedding, covariates, position, year
FEATURE_KEYS: tuple[str, ...] = ("image", "covariates", "lat", "lon", "time")
LAST_NAME = "checkpoint_last.pt"
BEST_NAME = "checkpoint_best.pt"


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


# --------------------------------------------------------------------------- history


@dataclass
class SpTGNNHistory:
    """Per-epoch record of :func:`fit_sptgnn`; ``best_epoch`` (0-based) is the kept one.

    ``train_loss`` is Eq. (3) on the training nodes (train mode, dropout on); ``train_main``,
    ``train_autocorr`` (unweighted), ``train_moe`` its parts; ``val_loss`` the main term on the
    validation nodes (eval mode), ``val_rmse`` the RMSE of the scaled log target there.
    """

    train_loss: list[float] = field(default_factory=list)
    train_main: list[float] = field(default_factory=list)
    train_autocorr: list[float] = field(default_factory=list)
    train_moe: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_rmse: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        d = {k: v for k, v in asdict(self).items() if isinstance(v, list)}
        return pd.DataFrame(d).rename_axis("epoch").reset_index().assign(
            epoch=lambda f: f["epoch"] + 1)


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


def _train_step(model: nn.Module, opt: torch.optim.Optimizer, params: list[Tensor],
                cfg: SpTGNNConfig, device: torch.device, amp: bool, loss_kind: str,
                lam_nll: float, epoch: int, batch: Mapping[str, Tensor], y: Tensor,
                moran: Tensor, mask: Tensor) -> dict[str, Tensor]:
    """One AdamW step of Eq. (3) on the nodes in ``mask``; returns the loss parts."""
    out = _forward(model, batch, device, amp)
    loss, parts = sptgnn_loss(out, y, moran, None, cfg.lambda_aux, cfg.lb_weight,
                              cfg.entropy_weight, loss_kind, cfg.beta, lam_nll,
                              cfg.huber_delta, mask=mask)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"SpTGNN loss is {loss.item()} at epoch {epoch + 1}")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip:
        nn.utils.clip_grad_norm_([p for p in params if p.grad is not None], cfg.grad_clip)
    opt.step()
    return parts


def fit_sptgnn(model: SpTGNN, data: Mapping[str, Tensor], masks: Mapping[str, Any],
               cfg: SpTGNNConfig, y_scaled, moran_target=None,
               device: str | torch.device = "cpu", seed: int = 0,
               checkpoint_dir: str | Path | None = None, resume: bool = False,
               progress: bool = True, loss_kind: str = "huber", *, amp: bool = True,
               stop_after_epoch: int | None = None) -> tuple[SpTGNN, SpTGNNHistory]:
    """Train ``model`` on the graph ``data`` (full batch, or mini-batches of target nodes
    with sampled neighbourhoods when ``cfg.batch_size`` is set); return it with the best
    weights.

    ``data``: :func:`graph_batch` of every node; ``masks``: ``{"train", "val"}`` boolean
    (N,) node masks (:func:`~geohet_lib.soc.graph.transductive_masks`; ``"test"`` is
    ignored); ``y_scaled`` (N,): the scaled log target, read at training and validation nodes
    only (put NaN elsewhere, e.g. at test nodes, to make sure they are never read);
    ``moran_target`` (N,): :func:`training_moran_target` (computed here when None). Table 6
    settings come from ``cfg`` (``lr``, ``weight_decay``, ``grad_clip``, ``epochs``,
    ``patience``, ``lr_patience``, ``lambda_aux``, ``lb_weight``, ``entropy_weight``,
    ``huber_delta``). With ``checkpoint_dir``, ``checkpoint_last.pt`` is written every epoch
    and ``checkpoint_best.pt`` (best weights, history, configuration) at the end;
    ``resume=True`` continues from ``checkpoint_last.pt``. ``stop_after_epoch`` ends the run
    after that (0-based) epoch, as an interruption would (to test resuming).
    """
    if loss_kind not in LOSS_KINDS:
        raise ValueError(f"unknown loss_kind {loss_kind!r}: choose one of {', '.join(LOSS_KINDS)}")
    device = get_device(device) if isinstance(device, str) else device
    train = torch.as_tensor(np.asarray(masks["train"]), dtype=torch.bool).reshape(-1)
    val = torch.as_tensor(np.asarray(masks["val"]), dtype=torch.bool).reshape(-1)
    n = train.numel()
    if not train.any() or not val.any():
        raise ValueError("fit_sptgnn needs training and validation nodes")
    if (train & val).any():
        raise ValueError("a node is both a training and a validation node")
    y = _tensor(y_scaled, torch.float32).reshape(-1)
    if y.numel() != n:
        raise ValueError(f"y_scaled has {y.numel()} values for {n} nodes")
    if not torch.isfinite(y[train | val]).all():
        raise ValueError("training or validation targets hold non-finite values")
    if moran_target is None:
        moran_target = training_moran_target(y, data, train)
    moran = _tensor(moran_target, torch.float32).reshape(-1)
    # nothing outside the training nodes can reach the training loss
    y_train_only = torch.where(train, y, torch.zeros_like(y))
    moran = torch.where(train, moran, torch.zeros_like(moran))

    batch = _to(data, device)
    y_dev, y_fit, moran = y.to(device), y_train_only.to(device), moran.to(device)
    train_d, val_d = train.to(device), val.to(device)
    model.to(device)
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5,
                                                       patience=cfg.lr_patience)
    cfg_dict = cfg.to_dict()
    settings = _settings(cfg, seed, loss_kind)
    hist = SpTGNNHistory()
    best_state, best_val, bad, start = None, float("inf"), 0, 0
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    ckpt_last = ckpt_dir / LAST_NAME if ckpt_dir is not None else None
    if resume and ckpt_last is not None and ckpt_last.exists():
        ck = resume_checkpoint(ckpt_last, device, model, opt, sched,
                               {"model_config": cfg_dict, "settings": settings},
                               "configuration or seed")
        hist = SpTGNNHistory(**ck["history"])
        best_val, bad, best_state = ck["best_val"], ck["bad_epochs"], ck["best_state"]
        start = ck["epoch"] + 1
        LOG.info("resuming SpTGNN training from %s at epoch %d", ckpt_last, start + 1)
        if hist.stopped_early:
            start = cfg.epochs

    sampler = None
    if cfg.batch_size is not None and cfg.use_graph:
        sampler = NeighbourSampler(batch["edge_index"].cpu(), batch["edge_type"].cpu(), n,
                                   _fanouts(cfg), batch.get("edge_weight"))
    train_ids = torch.nonzero(train).reshape(-1)
    bar = tqdm(range(start, cfg.epochs), desc=f"SpTGNN {cfg.region}", disable=not progress,
               leave=False, mininterval=10.0)
    for epoch in bar:
        t0 = time.perf_counter()
        torch.manual_seed(epoch_seed(seed, epoch))
        lam_nll = 0.0 if (loss_kind == "mse_plus_nll" and epoch < cfg.nll_warmup_epochs) \
            else cfg.lambda_nll
        model.train()
        step_args = (model, opt, params, cfg, device, amp, loss_kind, lam_nll, epoch)
        if cfg.batch_size is None:  # full batch: one step on the whole graph
            parts = _train_step(*step_args, batch, y_fit, moran, train_d)
        else:
            gen = torch.Generator().manual_seed(epoch_seed(seed, epoch))
            sums: dict[str, float] = {}
            for seeds in seed_batches(train_ids, cfg.batch_size, gen):
                sb, nodes = _mini_batch(batch, sampler, seeds, gen, device)
                mask = torch.zeros(nodes.numel(), dtype=torch.bool, device=device)
                mask[:seeds.numel()] = True
                p = _train_step(*step_args, sb, y_fit[nodes], moran[nodes], mask)
                for k in ("total", "main", "autocorr", "moe"):
                    sums[k] = sums.get(k, 0.0) + float(p[k]) * seeds.numel()
            parts = {k: v / train_ids.numel() for k, v in sums.items()}
        model.eval()
        with torch.no_grad():  # float32: early stopping should not see bfloat16 rounding
            vout = _forward(model, batch, device, False)
            vloss, _ = sptgnn_loss(vout, y_dev, None, {}, 0.0, 0.0, 0.0, loss_kind, cfg.beta,
                                   lam_nll, cfg.huber_delta, mask=val_d)
            vrmse = torch.sqrt(torch.mean((vout["pred"][val_d] - y_dev[val_d]) ** 2))
        vl = float(vloss)
        hist.train_loss.append(float(parts["total"]))
        hist.train_main.append(float(parts["main"]))
        hist.train_autocorr.append(float(parts["autocorr"]))
        hist.train_moe.append(float(parts["moe"]))
        hist.val_loss.append(vl)
        hist.val_rmse.append(float(vrmse))
        hist.lr.append(float(opt.param_groups[0]["lr"]))
        sched.step(vl)
        if vl < best_val:
            best_val, bad, hist.best_epoch = vl, 0, epoch
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        else:
            bad += 1
        hist.stopped_early = bad >= cfg.patience
        hist.seconds.append(time.perf_counter() - t0)
        bar.set_postfix(train=f"{hist.train_loss[-1]:.4f}", val=f"{vl:.4f}")
        LOG.debug("SpTGNN %s epoch %d: loss %.4f (main %.4f), val %.4f, lr %.2e, %.2f s",
                  cfg.region, epoch + 1, hist.train_loss[-1], hist.train_main[-1], vl,
                  hist.lr[-1], hist.seconds[-1])
        if ckpt_last is not None:
            torch_save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict(), "epoch": epoch,
                        "history": hist.to_dict(), "best_val": best_val, "bad_epochs": bad,
                        "best_state": best_state, "model_config": cfg_dict,
                        "settings": settings}, ckpt_last)
        if hist.stopped_early:
            LOG.info("SpTGNN %s: early stopping after epoch %d (best %d)", cfg.region,
                     epoch + 1, hist.best_epoch + 1)
            break
        if stop_after_epoch is not None and epoch >= stop_after_epoch:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    if ckpt_dir is not None:
        torch_save({"model": model.state_dict(), "history": hist.to_dict(),
                    "model_config": cfg_dict, "settings": settings}, ckpt_dir / BEST_NAME)
    if hist.epochs:
        LOG.info("SpTGNN %s: %d epochs, best %d (val loss %.4f), %.2f s per epoch", cfg.region,
                 hist.epochs, hist.best_epoch + 1, best_val, float(np.mean(hist.seconds)))
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

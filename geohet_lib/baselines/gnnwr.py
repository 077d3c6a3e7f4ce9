"""GNNWR and GTNNWR: neural-network weighted regression baselines of the GPP paper (section 4.3).

* **GNNWR** -- Du, Wang, Wu, Zhang & Liu (2020), "Geographically neural network weighted regression
  for the accurate estimation of spatial non-stationarity", IJGIS 34(7).
* **GTNNWR** -- Wu, Fan, Zhang, Wang, Du & Liu (2021), "Geographically and temporally neural network
  weighted regression for modeling spatiotemporal non-stationary relationships", IJGIS 35(3).

Model (both)::

    y_i = sum_{k=0..p} w_k(i) * beta_OLS_k * xs_ik          (xs_i0 = 1: the intercept)

where ``xs`` is the covariate matrix **standardised with the training mean/std** (``x_mean_``,
``x_std_``; see :meth:`GNNWR.design_matrix`), ``beta_OLS`` (``ols_coef_``, length p+1) is the global
least-squares fit of the *raw* ``y`` on ``[1, xs]`` over all points given to ``fit`` (fixed, not
trained), and ``w(i)`` in R^{p+1} is the output of a neural network fed with the distances from point
``i`` to the reference points:

* GNNWR: SWNN(standardised spatial distances d_S(i, ref_1..n)).
* GTNNWR: STWNN(d_ST(i, ref_1..n)) where d_ST_ij = STPNN([d_S_ij, d_T_ij]) is a small network shared
  over all pairs (Linear(2, h) -> PReLU -> Linear(h, 1)), d_S and d_T each standardised.

The local coefficients are ``beta_k(i) = w_k(i) * beta_OLS_k`` (:meth:`GNNWR.local_coefficients`), so
``predict == (local_coefficients * design_matrix(X)).sum(1)`` exactly: **the coefficients multiply the
standardised covariates** (intercept in column 0) and are in units of y per training standard
deviation of x_k; predictions are in the original units of y (y is never rescaled).

SWNN / STWNN architecture (Du et al. 2020, as in the authors' ``gnnwr`` package): fully connected
layers, each Linear -> BatchNorm1d -> PReLU(init 0.4) -> Dropout, then Linear to p+1 outputs.
``hidden=None`` gives widths halving from ``min(512, next power of two >= n_ref)`` down to 32
(e.g. n_ref = 1000 -> 512, 256, 128, 64, 32). The authors' default starts at ``2^floor(log2 n)`` with
no cap, i.e. a first layer of n x 2^floor(log2 n) weights (~n^2 / 2); the 512 cap keeps the first layer
O(n_ref) parameters. The last layer is initialised with zero weights and bias 1, so ``w == 1`` and the
model equals OLS before the first step (training starts from the global fit).

Deviations from the papers (stated, deliberate):

* GTNNWR reference points: all training observations when ``n <= n_references``, otherwise a fixed,
  seeded random subset of ``n_references`` (default 2048), so memory is O(batch x n_ref) rather than
  O(N^2) (the papers use all N training points; with N = 276k space-time observations that is
  infeasible). GNNWR uses all training points (``n_references=None``) unless told otherwise.
* Distances are computed per mini-batch on the device; no N x N matrix is ever built. Their
  standardisation mean/std are estimated on up to 4096 seeded rows x all references (float64).
* Validation points (a random ``val_fraction`` of the points given to ``fit``, used for early
  stopping with the best weights restored) are still reference points and enter the OLS fit.
* Optimiser AdamW (lr 1e-3, weight decay 1e-4, batch 256) with early stopping (patience 30,
  best weights restored) rather than the papers' / ``gnnwr`` package's optimiser settings; loss MSE.
  Trained by the project's engine (:mod:`geohet_lib.engine`); a single trailing row of an epoch
  (batch norm needs >= 2 rows per batch) is dropped for that epoch.
* The output layer starts at weight 0 / bias 1 (w == 1: training starts from OLS); y is not
  rescaled, so the OLS intercept is mean(y) and can vary spatially (with a centred y it would be 0,
  and a multiplicative weight could never move it). Any coefficient whose OLS value is ~0 stays ~0
  everywhere -- a property of the GNNWR formulation beta_k = w_k * beta_OLS_k itself.
* Time distance may be cyclic: ``min(|dt|, P - |dt|)`` with ``time_period=P`` (e.g. day-of-year).

Distances: ``spherical=True`` -> coords are (lon, lat) degrees and d_S is the great-circle (haversine)
distance in km (:func:`geohet_lib.geo.haversine_km`, R = 6371.0 km); ``spherical=False`` -> planar
Euclidean in coordinate units.

>>> m = GNNWR(epochs=200).fit(coords, X, y)          # coords (n, 2), X (n, p), y (n,)
>>> m.predict(coords_test, X_test); m.local_coefficients(coords_test)     # (m,), (m, p+1)
>>> g = GTNNWR(time_period=46).fit(coords, t, X, y)
>>> g.predict(coords_test, t_test, X_test)
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ..engine import BaseTask, OptimConfig, fit_task, index_loader
from ..geo import haversine_km
from ..runtime import get_device

__all__ = [
    "GNNWR",
    "GTNNWR",
    "spatial_distance",
    "time_distance",
    "default_hidden",
]

_STATS_ROWS = 4096  # rows (x all references) used to estimate the distance mean/std
_PRED_ELEMS = 2**23  # cap on batch x n_ref x width elements per prediction batch (CPU; x8 on CUDA)


# --------------------------------------------------------------------------------------------
# distances (torch, broadcasting, on whatever device the inputs live)
# --------------------------------------------------------------------------------------------


def spatial_distance(a: torch.Tensor, b: torch.Tensor, spherical: bool = True) -> torch.Tensor:
    """Pairwise distances (len(a), len(b)) between coordinate rows ``a`` (m, 2) and ``b`` (n, 2).

    ``spherical``: (lon, lat) degrees -> haversine km; else planar Euclidean (computed directly,
    not through the matrix-product shortcut, so it is exact and identical across devices).
    """
    if spherical:
        return haversine_km(a[:, None, 0], a[:, None, 1], b[None, :, 0], b[None, :, 1])
    dx = a[:, None, 0] - b[None, :, 0]
    dy = a[:, None, 1] - b[None, :, 1]
    return torch.sqrt(dx * dx + dy * dy)


def time_distance(t1: torch.Tensor, t2: torch.Tensor, period: float | None = None) -> torch.Tensor:
    """Pairwise |t1_i - t2_j| (len(t1), len(t2)); cyclic ``min(|d|, P - |d|)`` when ``period=P``."""
    d = torch.abs(t1[:, None] - t2[None, :])
    if period is not None:
        d = torch.remainder(d, period)
        d = torch.minimum(d, period - d)
    return d


def default_hidden(n_ref: int, cap: int = 512, floor: int = 32) -> tuple[int, ...]:
    """SWNN widths halving from ``min(cap, next power of two >= n_ref)`` down to ``floor``."""
    top = min(cap, 1 << max(0, math.ceil(math.log2(max(n_ref, 1)))))
    top = max(top, floor)
    widths = []
    w = top
    while w >= floor:
        widths.append(w)
        w //= 2
    return tuple(widths)


# --------------------------------------------------------------------------------------------
# networks
# --------------------------------------------------------------------------------------------


class SWNN(nn.Module):
    """Spatially weighted neural network (Du et al. 2020): distances -> p+1 weights.

    Hidden blocks Linear -> BatchNorm1d -> PReLU(0.4) -> Dropout; output Linear initialised to
    weight 0 / bias 1 (so the initial weights are exactly 1).
    """

    def __init__(self, n_in: int, hidden: tuple[int, ...], n_out: int, dropout: float):
        super().__init__()
        layers: list[nn.Module] = []
        prev = n_in
        for h in hidden:
            layers += [nn.Linear(prev, h), nn.BatchNorm1d(h), nn.PReLU(init=0.4), nn.Dropout(dropout)]
            prev = h
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(prev, n_out)
        nn.init.zeros_(self.out.weight)
        nn.init.ones_(self.out.bias)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(d))


class STPNN(nn.Module):
    """Spatiotemporal proximity network (Wu et al. 2021): [d_S, d_T] -> d_ST, shared over pairs."""

    def __init__(self, hidden: int = 16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.PReLU(init=0.4), nn.Linear(hidden, 1))

    def forward(self, ds: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        return self.net(torch.stack((ds, dt), dim=-1)).squeeze(-1)


class NNWRNet(nn.Module):
    """The full GNNWR / GTNNWR map: (coords, [t], design matrix) -> (prediction, weights).

    Buffers hold the reference points, the distance standardisation and ``beta_OLS``; distances
    to the references are computed inside ``forward`` per batch (batch x n_ref memory).
    """

    def __init__(self, ref_coords: np.ndarray, ref_t: np.ndarray | None, beta: np.ndarray,
                 dist_stats: dict[str, float], hidden: tuple[int, ...], dropout: float,
                 spherical: bool, time_period: float | None, stpnn_hidden: int):
        super().__init__()
        self.spherical = spherical
        self.time_period = time_period
        self.temporal = ref_t is not None
        self.register_buffer("ref_coords", torch.as_tensor(ref_coords, dtype=torch.float32))
        self.register_buffer("ref_t", torch.as_tensor(ref_t if ref_t is not None else np.zeros(0),
                                                      dtype=torch.float32))
        self.register_buffer("beta", torch.as_tensor(beta, dtype=torch.float32))
        self.ds_mean, self.ds_std = float(dist_stats["ds_mean"]), float(dist_stats["ds_std"])
        self.dt_mean, self.dt_std = float(dist_stats.get("dt_mean", 0.0)), float(dist_stats.get("dt_std", 1.0))
        n_ref = ref_coords.shape[0]
        self.stpnn = STPNN(stpnn_hidden) if self.temporal else None
        self.swnn = SWNN(n_ref, hidden, beta.shape[0], dropout)

    def distance_input(self, coords: torch.Tensor, t: torch.Tensor | None) -> torch.Tensor:
        """(B, n_ref) network input: standardised d_S (GNNWR) or STPNN(d_S, d_T) (GTNNWR)."""
        ds = (spatial_distance(coords, self.ref_coords, self.spherical) - self.ds_mean) / self.ds_std
        if not self.temporal:
            return ds
        dt = (time_distance(t, self.ref_t, self.time_period) - self.dt_mean) / self.dt_std
        return self.stpnn(ds, dt)

    def weights(self, coords: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        return self.swnn(self.distance_input(coords, t))

    def forward(self, coords: torch.Tensor, t: torch.Tensor | None, xa: torch.Tensor):
        w = self.weights(coords, t)
        return (w * self.beta * xa).sum(dim=1), w


# --------------------------------------------------------------------------------------------
# training: a task and a data module for the project's engine (geohet_lib.engine)
# --------------------------------------------------------------------------------------------

#: one batch: (coords (B, 2), t (B,) for GTNNWR or None, design matrix (B, p+1), y (B,))
Batch = tuple[Tensor, Tensor | None, Tensor, Tensor]


class GNNWRTask(BaseTask):
    """MSE training of an :class:`NNWRNet` (GNNWR, Du et al. 2020; GTNNWR, Wu et al. 2021).

    Monitor ``val_rmse``: the RMSE over the validation rows in eval mode; the weights of the
    epoch with the lowest one are restored when the fit ends. Train record ``train_rmse``: the
    root of the row-weighted mean batch MSE of the epoch, in train mode (i.e. with dropout).
    Without a validation loader (``val_fraction=0``) no epoch is ever validated, the engine keeps
    no best weights and the model ends with the weights of its last epoch.
    """

    monitor = "val_rmse"

    def _squared_errors(self, batch: Batch) -> Tensor:
        c, t, xa, y = batch
        pred, _ = self.model(c, t, xa)
        return (pred - y) ** 2

    def training_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor], int]:
        sq = self._squared_errors(batch)
        loss = sq.mean()
        return loss, {"mse": loss}, int(sq.shape[0])

    def validation_sums(self, batch: Batch) -> dict[str, Tensor]:
        sq = self._squared_errors(batch)
        return {"sse": sq.sum(), "n": torch.tensor(float(sq.shape[0]), device=sq.device)}

    def validation_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        return {"val_rmse": math.sqrt(sums["sse"] / max(sums["n"], 1.0))}

    def train_record(self, means: dict[str, float]) -> dict[str, float]:
        return {"train_rmse": math.sqrt(means["mse"])}


class GNNWRData(L.LightningDataModule):
    """The training rows of one fit, gathered from tensors already on the device.

    Training batches of ``batch_size`` rows, shuffled by ``(seed, epoch)`` by the engine's
    sampler. Batch norm needs >= 2 rows: when the last batch of an epoch would hold a single row,
    that row is dropped for the epoch (``drop_last_singleton``; a different row each epoch, as the
    order is reshuffled). No validation loader: see :class:`GNNWRValidatedData`.
    """

    def __init__(self, tensors: Batch, train_rows: np.ndarray, val_rows: np.ndarray,
                 batch_size: int, val_batch_size: int, seed: int):
        super().__init__()
        self.tensors = tensors
        dev = tensors[0].device
        self.train_rows = torch.as_tensor(train_rows, dtype=torch.long, device=dev)
        self.val_rows = torch.as_tensor(val_rows, dtype=torch.long, device=dev)
        self.batch_size, self.val_batch_size, self.seed = batch_size, val_batch_size, seed

    def _gather(self, rows: Tensor) -> Callable[[list[int]], Batch]:
        def collate(items: list[int]) -> Batch:
            i = rows[torch.as_tensor(items, dtype=torch.long, device=rows.device)]
            c, t, xa, y = self.tensors
            return c[i], (t[i] if t is not None else None), xa[i], y[i]
        return collate

    def train_dataloader(self) -> DataLoader:
        return index_loader(len(self.train_rows), self.batch_size, self._gather(self.train_rows),
                            train=True, seed=self.seed, drop_last_singleton=True)


class GNNWRValidatedData(GNNWRData):
    """:class:`GNNWRData` with validation: the validation rows in order, ``val_batch_size`` at a
    time (without validation rows use :class:`GNNWRData`: Lightning then validates nothing)."""

    def val_dataloader(self) -> DataLoader:
        return index_loader(len(self.val_rows), self.val_batch_size, self._gather(self.val_rows),
                            train=False)


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------


def _as_float_array(a: Any, name: str, ndim: int) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool) \
            or np.issubdtype(a.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real numeric, got dtype {a.dtype}")
    if ndim == 1 and a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != ndim:
        want = "1-D (n,)" if ndim == 1 else "2-D (n, columns)"
        raise ValueError(f"{name} must be {want}, got shape {a.shape}")
    a = a.astype(np.float64, copy=False)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains {int((~np.isfinite(a)).sum())} NaN/inf value(s)")
    return a


def _check_coords(coords: Any, spherical: bool) -> np.ndarray:
    c = _as_float_array(coords, "coords", 2)
    if c.shape[1] != 2:
        raise ValueError(f"coords must have 2 columns ((lon, lat) or (x, y)), got shape {c.shape}")
    if spherical and (np.abs(c[:, 1]) > 90.0).any():
        raise ValueError("spherical=True: coords are (lon, lat) degrees, but some |lat| > 90")
    return c


# --------------------------------------------------------------------------------------------
# estimators
# --------------------------------------------------------------------------------------------


class GNNWR:
    """Geographically neural network weighted regression (Du et al. 2020; GPP paper section 4.3).

    ``hidden=None`` -> :func:`default_hidden` (halving from min(512, 2^ceil(log2 n_ref)) to 32).
    ``n_references=None`` uses every point given to ``fit`` as a reference (the paper); an integer
    caps it with a seeded random subset (as GTNNWR does by default).

    Fitted attributes: ``ols_coef_`` (p+1,), ``x_mean_``/``x_std_`` (p,), ``ref_coords_`` (n_ref, 2),
    ``reference_index_`` (rows of the training data used as references), ``dist_stats_``,
    ``history_`` {"train_rmse", "val_rmse"} per epoch run (train RMSE in train mode, i.e. with
    dropout; val RMSE NaN without a validation split), ``best_epoch_`` (1-based epoch whose weights
    were kept; the last one without a validation split; 0 = untrained), ``val_index_`` (rows held
    out for validation), ``train_rmse_`` (all fit points, eval mode), ``val_rmse_`` (of the kept
    epoch), ``fit_seconds_``, ``device_`` (str), ``hidden_``, ``net_`` (:class:`NNWRNet`).

    Training runs on the project's engine (:class:`GNNWRTask`, :class:`GNNWRData`,
    :func:`geohet_lib.engine.fit_task`): shuffling by ``(seed, epoch)``; an epoch whose last batch
    would hold a single row (batch norm needs two) drops that row for the epoch.
    """

    _temporal = False

    def __init__(self, hidden: tuple[int, ...] | None = None, dropout: float = 0.2, lr: float = 1e-3,
                 weight_decay: float = 1e-4, epochs: int = 300, batch_size: int = 256, patience: int = 30,
                 val_fraction: float = 0.1, spherical: bool = True, device: str = "auto", seed: int = 0,
                 progress: bool = False, n_references: int | None = None):
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
        if epochs < 0 or batch_size < 2 or patience < 1:
            raise ValueError("need epochs >= 0, batch_size >= 2 (batch norm) and patience >= 1")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if n_references is not None and n_references < 1:
            raise ValueError(f"n_references must be a positive integer or None, got {n_references}")
        self.hidden = None if hidden is None else tuple(int(h) for h in hidden)
        self.dropout = float(dropout)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.patience = int(patience)
        self.val_fraction = float(val_fraction)
        self.spherical = bool(spherical)
        self.device = device
        self.seed = int(seed)
        self.progress = bool(progress)
        self.n_references = n_references
        self.time_period: float | None = None
        self.stpnn_hidden = 16
        self.net_: NNWRNet | None = None

    @property
    def config(self) -> dict[str, Any]:
        """The settings, as a printable dict (for tables and logs)."""
        keys = ("hidden", "dropout", "lr", "weight_decay", "epochs", "batch_size", "patience",
                "val_fraction", "spherical", "device", "seed", "n_references", "time_period",
                "stpnn_hidden")
        return {"model": type(self).__name__, **{k: getattr(self, k) for k in keys}}

    # ---------------- public API (spatial) ----------------

    def fit(self, coords, X, y) -> "GNNWR":
        """Fit on ``coords`` (n, 2), covariates ``X`` (n, p) and target ``y`` (n,)."""
        return self._fit(coords, None, X, y)

    def predict(self, coords, X) -> np.ndarray:
        """Predictions (m,) in the units of y."""
        return self._predict(coords, None, X)

    def local_coefficients(self, coords) -> np.ndarray:
        """(m, p+1) = weights * ols_coef_; column 0 the intercept; multiplies :meth:`design_matrix`."""
        return self.weights(coords) * self.ols_coef_[None, :]

    def weights(self, coords) -> np.ndarray:
        """The SWNN output w (m, p+1) at ``coords``."""
        return self._weights(coords, None)

    # ---------------- shared helpers ----------------

    def design_matrix(self, X) -> np.ndarray:
        """``[1, (X - x_mean_) / x_std_]`` (m, p+1): what the local coefficients multiply."""
        self._check_fitted()
        X = _as_float_array(X, "X", 2)
        if X.shape[1] != self.x_mean_.shape[0]:
            raise ValueError(f"X has {X.shape[1]} columns, the model was fit on {self.x_mean_.shape[0]}")
        return np.hstack([np.ones((X.shape[0], 1)), (X - self.x_mean_) / self.x_std_])

    def __getstate__(self) -> dict[str, Any]:
        """Pickles hold the network on the CPU (``device_ = "cpu"``), so a model trained on a
        GPU loads and predicts on a machine without one; move it back with ``net_.to(...)``
        and ``device_`` if wanted."""
        state = self.__dict__.copy()
        net = state.get("net_")
        if net is not None and any(p.device.type != "cpu" for p in net.parameters()):
            state["net_"] = copy.deepcopy(net).to("cpu")
        if "device_" in state:
            state["device_"] = "cpu"
        return state

    def _check_fitted(self) -> None:
        if self.net_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call fit() first")

    def _check_inputs(self, coords, t, X, y=None):
        c = _check_coords(coords, self.spherical)
        n = c.shape[0]
        arrays = {"coords": c}
        if self._temporal:
            arrays["t"] = _as_float_array(t, "t", 1)
        if X is not None:
            arrays["X"] = _as_float_array(X, "X", 2)
        if y is not None:
            arrays["y"] = _as_float_array(y, "y", 1)
        for name, a in arrays.items():
            if a.shape[0] != n:
                raise ValueError(f"length mismatch: coords has {n} rows but {name} has {a.shape[0]}")
        if n == 0:
            raise ValueError("no rows given")
        return arrays

    def _choose_references(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if self.n_references is None or n <= self.n_references:
            return np.arange(n)
        return np.sort(rng.choice(n, size=self.n_references, replace=False))

    def _distance_stats(self, c: torch.Tensor, t: torch.Tensor | None, ref_c: torch.Tensor,
                        ref_t: torch.Tensor | None, rng: np.random.Generator) -> dict[str, float]:
        """Mean/std of d_S (and d_T) over up to 4096 seeded rows x all references, in float64."""
        n = c.shape[0]
        rows = np.arange(n) if n <= _STATS_ROWS else np.sort(rng.choice(n, _STATS_ROWS, replace=False))
        rows_t = torch.as_tensor(rows, device=c.device)
        acc = {"ds": [0.0, 0.0], "dt": [0.0, 0.0]}
        count = 0
        chunk = max(1, _PRED_ELEMS // max(ref_c.shape[0], 1))
        for s in range(0, len(rows), chunk):
            r = rows_t[s : s + chunk]
            d = spatial_distance(c[r], ref_c, self.spherical).double()
            acc["ds"][0] += float(d.sum()); acc["ds"][1] += float((d * d).sum())
            if t is not None:
                d = time_distance(t[r], ref_t, self.time_period).double()
                acc["dt"][0] += float(d.sum()); acc["dt"][1] += float((d * d).sum())
            count += d.numel()
        out = {}
        for key in ("ds", "dt") if t is not None else ("ds",):
            mean = acc[key][0] / count
            std = math.sqrt(max(acc[key][1] / count - mean * mean, 0.0))
            out[f"{key}_mean"], out[f"{key}_std"] = mean, (std if std > 1e-12 else 1.0)
        return out

    def _fit(self, coords, t, X, y) -> "GNNWR":
        t0 = time.perf_counter()
        a = self._check_inputs(coords, t, X, y)
        c, X, y = a["coords"], a["X"], a["y"]
        tt = a.get("t")
        n, p = X.shape
        if p < 1:
            raise ValueError("X needs at least one covariate column")
        if n < p + 2:
            raise ValueError(f"need at least p + 2 = {p + 2} points for {p} covariates, got {n}")
        dev = get_device(self.device)
        self.device_ = str(dev)
        rng = np.random.default_rng(self.seed)
        torch.manual_seed(self.seed)
        if dev.type == "cuda":
            torch.cuda.manual_seed_all(self.seed)

        # standardise X; global OLS on [1, Xs] with raw y (fixed beta_OLS)
        self.x_mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        self.x_std_ = np.where(std > 1e-12, std, 1.0)
        xa = np.hstack([np.ones((n, 1)), (X - self.x_mean_) / self.x_std_])
        self.ols_coef_ = np.linalg.lstsq(xa, y, rcond=None)[0]
        self.n_features_in_ = p

        # references and distance standardisation
        ref_idx = self._choose_references(n, rng)
        self.reference_index_ = ref_idx
        self.ref_coords_ = c[ref_idx].copy()
        self.ref_t_ = tt[ref_idx].copy() if tt is not None else None
        self.n_references_ = int(len(ref_idx))
        c_d = torch.as_tensor(c, dtype=torch.float32, device=dev)
        t_d = torch.as_tensor(tt, dtype=torch.float32, device=dev) if tt is not None else None
        xa_d = torch.as_tensor(xa, dtype=torch.float32, device=dev)
        y_d = torch.as_tensor(y, dtype=torch.float32, device=dev)
        ref_c_d = c_d[torch.as_tensor(ref_idx, device=dev)]
        ref_t_d = t_d[torch.as_tensor(ref_idx, device=dev)] if t_d is not None else None
        self.dist_stats_ = self._distance_stats(c_d, t_d, ref_c_d, ref_t_d, rng)

        # network: built on CPU (same init on every device), then moved
        self.hidden_ = self.hidden if self.hidden is not None else default_hidden(self.n_references_)
        net = NNWRNet(self.ref_coords_, self.ref_t_, self.ols_coef_, self.dist_stats_, self.hidden_,
                      self.dropout, self.spherical, self.time_period, self.stpnn_hidden).to(dev)
        self.net_ = net

        # train / validation split
        perm = rng.permutation(n)
        n_val = int(round(self.val_fraction * n)) if self.val_fraction > 0 else 0
        n_val = min(n_val, n - 2)
        val_idx, tr_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        self.val_index_ = val_idx

        self.history_ = {"train_rmse": [], "val_rmse": []}
        self.best_epoch_ = 0
        self.val_rmse_ = float("nan")
        if self.epochs > 0:
            self._train(net, (c_d, t_d, xa_d, y_d), tr_idx, val_idx, dev)
        net.eval()
        self.train_rmse_ = float(np.sqrt(np.mean((self._predict_arrays(c, tt, xa) - y) ** 2)))
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _train(self, net: NNWRNet, tensors: Batch, tr_idx: np.ndarray, val_idx: np.ndarray,
               dev: torch.device) -> None:
        """AdamW on the MSE through the engine (:class:`GNNWRTask`, :class:`GNNWRData`).

        With validation rows: early stopping on ``val_rmse`` after ``patience`` epochs without
        improvement, the best epoch's weights restored. Without: every epoch runs and the last
        weights are kept. Full float32, no mixed precision (as before: CPU and CUDA fits agree).
        """
        task = GNNWRTask(net, OptimConfig(lr=self.lr, weight_decay=self.weight_decay), self.seed,
                         {"model_config": self.config})
        validated = len(val_idx) > 0
        data = (GNNWRValidatedData if validated else GNNWRData)(
            tensors, tr_idx, val_idx, self.batch_size, self._pred_rows(), self.seed)
        with warnings.catch_warnings():  # no validation rows: skipping validation is intended
            warnings.filterwarnings("ignore", message=".*no `val_dataloader`.*")
            hist = fit_task(task, data, epochs=self.epochs, device=dev, progress=self.progress,
                            patience=self.patience if validated else None, amp=False)
        val = [r.get("val_rmse", float("nan")) for r in hist.records]
        self.history_ = {"train_rmse": list(hist.train_rmse), "val_rmse": val}
        if not validated:
            self.best_epoch_ = hist.epochs
        elif hist.best_epoch >= 0:
            self.best_epoch_ = hist.best_epoch + 1
            self.val_rmse_ = float(val[hist.best_epoch])

    def _pred_rows(self) -> int:
        width = self.stpnn_hidden + 2 if self._temporal else 2
        cap = _PRED_ELEMS * (8 if self.device_.startswith("cuda") else 1)
        return int(max(16, min(4096, cap // max(self.n_references_ * width, 1))))

    def _weights_tensors(self, c_d, t_d) -> torch.Tensor:
        rows = self._pred_rows()
        out = []
        for s in range(0, c_d.shape[0], rows):
            out.append(self.net_.weights(c_d[s : s + rows], t_d[s : s + rows] if t_d is not None else None))
        return torch.cat(out)

    def _predict_tensors(self, c_d, t_d, xa_d) -> torch.Tensor:
        w = self._weights_tensors(c_d, t_d)
        return (w * self.net_.beta * xa_d).sum(dim=1)

    def _to_device(self, c, t):
        dev = torch.device(self.device_)
        c_d = torch.as_tensor(c, dtype=torch.float32, device=dev)
        t_d = torch.as_tensor(t, dtype=torch.float32, device=dev) if t is not None else None
        return c_d, t_d, dev

    def _predict_arrays(self, c, t, xa) -> np.ndarray:
        self.net_.eval()
        c_d, t_d, dev = self._to_device(c, t)
        with torch.no_grad():
            pred = self._predict_tensors(c_d, t_d, torch.as_tensor(xa, dtype=torch.float32, device=dev))
        return pred.cpu().numpy().astype(np.float64)

    def _predict(self, coords, t, X) -> np.ndarray:
        self._check_fitted()
        a = self._check_inputs(coords, t, X)
        return self._predict_arrays(a["coords"], a.get("t"), self.design_matrix(a["X"]))

    def _weights(self, coords, t) -> np.ndarray:
        self._check_fitted()
        a = self._check_inputs(coords, t, None)
        self.net_.eval()
        c_d, t_d, _ = self._to_device(a["coords"], a.get("t"))
        with torch.no_grad():
            w = self._weights_tensors(c_d, t_d)
        return w.cpu().numpy().astype(np.float64)


class GTNNWR(GNNWR):
    """Geographically and temporally NNWR (Wu et al. 2021; GPP paper section 4.3).

    STPNN (Linear(2, ``stpnn_hidden``) -> PReLU -> Linear(., 1)) turns each standardised pair
    (d_S_ij, d_T_ij) into a proximity d_ST_ij; the STWNN (an :class:`SWNN`) maps d_ST_i (length
    n_ref) to the p+1 weights. References: all training observations if n <= ``n_references``, else
    a seeded random subset of ``n_references`` (stored as ``ref_coords_``, ``ref_t_``).
    ``time_period=P`` makes the time distance cyclic (min(|dt|, P - |dt|)).
    """

    _temporal = True

    def __init__(self, hidden: tuple[int, ...] | None = None, dropout: float = 0.2, lr: float = 1e-3,
                 weight_decay: float = 1e-4, epochs: int = 300, batch_size: int = 256, patience: int = 30,
                 val_fraction: float = 0.1, spherical: bool = True, device: str = "auto", seed: int = 0,
                 progress: bool = False, n_references: int = 2048, time_period: float | None = None,
                 stpnn_hidden: int = 16):
        super().__init__(hidden=hidden, dropout=dropout, lr=lr, weight_decay=weight_decay, epochs=epochs,
                         batch_size=batch_size, patience=patience, val_fraction=val_fraction,
                         spherical=spherical, device=device, seed=seed, progress=progress,
                         n_references=n_references)
        if time_period is not None and not time_period > 0:
            raise ValueError(f"time_period must be positive or None, got {time_period}")
        if stpnn_hidden < 1:
            raise ValueError(f"stpnn_hidden must be >= 1, got {stpnn_hidden}")
        self.time_period = None if time_period is None else float(time_period)
        self.stpnn_hidden = int(stpnn_hidden)

    def fit(self, coords, t, X, y) -> "GTNNWR":  # type: ignore[override]
        """Fit on ``coords`` (n, 2), times ``t`` (n,), covariates ``X`` (n, p), target ``y`` (n,)."""
        return self._fit(coords, t, X, y)

    def predict(self, coords, t, X) -> np.ndarray:  # type: ignore[override]
        """Predictions (m,) in the units of y."""
        return self._predict(coords, t, X)

    def local_coefficients(self, coords, t) -> np.ndarray:  # type: ignore[override]
        """(m, p+1) = weights * ols_coef_; column 0 the intercept; multiplies :meth:`design_matrix`."""
        return self.weights(coords, t) * self.ols_coef_[None, :]

    def weights(self, coords, t) -> np.ndarray:  # type: ignore[override]
        """The STWNN output w (m, p+1) at (``coords``, ``t``)."""
        return self._weights(coords, t)

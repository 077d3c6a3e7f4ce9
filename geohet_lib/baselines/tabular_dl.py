"""Deep tabular baselines of the GPP paper: TabNet, ResNet, FTTransformer, ExcelFormer (section 4.1, 4.2).

The paper uses PyTorch-Frame 0.2.3; here ``pytorch-frame`` (``torch_frame``) 0.3.0 is used (it installs
with ``--no-deps`` and trains with torch 2.13 CPU). Architectures are PyTorch-Frame's model classes with
the hyperparameters of PyTorch-Frame's own example scripts (``examples/tabnet.py``,
``examples/revisiting.py`` for ResNet / FT-Transformer, ``examples/excelformer.py``); optimisation
follows the paper ("All deep learning models use the same optimizer settings as our method"):

* AdamW, learning rate 1e-3, decayed ×0.1 to 1e-4 halfway through the epochs (paper: after 10 of
  20 epochs), batch size 256 (``batch_size``), ``epochs`` (default small: 10);
* trained by the project's engine (:mod:`geohet_lib.engine`, through :mod:`.torch_tabular`):
  early stopping on the validation RMSE (original target scale) when a validation set is given
  (``patience`` epochs without an improvement larger than ``min_delta``; default None = run all
  epochs but still restore the best-validation epoch); without a validation set every epoch runs
  and the last epoch's weights are kept;
* the target is standardised internally with the training mean/std (inverted at predict time);
  features are normalised by PyTorch-Frame's encoders from the training column statistics (the
  paper: "All features, except GPP, are normalized");
* seeded (torch, numpy, python ``random`` before the model is built; the engine reseeds torch
  every epoch and shuffles with a numpy permutation seeded by ``(seed, epoch)``), Lightning's
  progress bar (``progress=False`` disables it), ``device`` "cpu" or "cuda" (float32),
  ``num_threads`` torch intra-op threads during fit and predict.

``fit_info_``: ``train_loss`` (per epoch, MSE on the standardised target, or the mixup loss),
``val_rmse`` (per epoch; empty without validation), ``lr`` (at the start of each epoch),
``epochs_run``, ``best_epoch`` (1-based; None without validation), ``best_val_rmse``,
``stopped_early``.

Large data: each mini-batch is gathered by row index from the (possibly memory-mapped) float32
training array and wrapped with ``torch.from_numpy`` (no copy of the whole array); column statistics are computed in float64 row chunks; quantile
statistics (used only by bucket encoders) and ExcelFormer's mutual-information feature ranking are
computed on seeded subsamples (``max_stats_rows``, ``max_mi_rows``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .tabular import BaseRegressor

__all__ = [
    "TorchFrameRegressor",
    "TabNetRegressor",
    "ResNetRegressor",
    "FTTransformerRegressor",
    "ExcelFormerRegressor",
    "DEEP_DEFAULTS",
    "torch_frame_status",
]


def torch_frame_status() -> str:
    """'ok' if ``torch_frame`` imports and its model classes are present, else the reason."""
    try:
        import torch_frame  # noqa: F401
        from torch_frame.nn.models import ExcelFormer, FTTransformer, ResNet, TabNet  # noqa: F401
    except Exception as exc:  # ImportError, or a binary mismatch with the installed torch
        return f"pytorch-frame unavailable: {type(exc).__name__}: {exc}"
    return "ok"


# --------------------------------------------------------------------------------------------
# PyTorch-Frame models
# --------------------------------------------------------------------------------------------

#: options shared by all deep models (paper section 4.1 optimiser + wrapper options)
DEEP_DEFAULTS: dict[str, Any] = {
    "epochs": 10,
    "batch_size": 256,
    "lr": 1e-3,
    "lr_final": 1e-4,  # reached by one ×(lr_final/lr) step ...
    "lr_decay_epoch": None,  # ... at this epoch (None = epochs // 2, "halfway")
    "weight_decay": 0.01,  # torch AdamW default
    "patience": None,
    "min_delta": 0.0,
    "standardize_y": True,
    "eval_batch_size": 8192,
    "max_stats_rows": 1_000_000,
    "progress": True,
    "num_threads": None,  # torch intra-op threads during fit/predict (None = torch's setting)
}


class TorchFrameRegressor(BaseRegressor):
    """Base for the PyTorch-Frame models: builds col_stats / TensorFrames from a numpy array."""

    allow_nan_X = False
    _arch: dict[str, Any] = {}

    def __init__(self, name: str, seed: int = 0, device: str = "cpu", **overrides: Any):
        self._defaults = {**self._arch, **DEEP_DEFAULTS}
        super().__init__(name=name, seed=seed, device=device, **overrides)

    # -- hooks ------------------------------------------------------------------------------
    def _build_model(self, col_stats, col_names_dict, X, y):  # pragma: no cover - abstract
        raise NotImplementedError

    def _call(self, tf, train: bool = False):
        return self.model_(tf)

    # -- pieces -----------------------------------------------------------------------------
    def _col_stats(self, X: np.ndarray, names: list[str]):
        from torch_frame.data.stats import StatType

        from .torch_tabular import column_moments

        mean, std = column_moments(X)
        m = int(self.config["max_stats_rows"])
        if X.shape[0] > m:
            rows = np.sort(np.random.default_rng(self.seed).choice(X.shape[0], m, replace=False))
            sample = X[rows]
        else:
            sample = X
        q = np.quantile(sample, [0, 0.25, 0.5, 0.75, 1], axis=0)
        return {
            c: {StatType.MEAN: float(mean[j]), StatType.STD: float(std[j]), StatType.QUANTILES: q[:, j].astype(float).tolist()}
            for j, c in enumerate(names)
        }

    def _tf(self, xb, yb=None):
        import torch_frame
        from torch_frame import TensorFrame

        return TensorFrame(feat_dict={torch_frame.numerical: xb}, col_names_dict=self.col_names_dict_, y=yb)

    def _fit(self, X, y, X_val, y_val) -> None:
        from .torch_tabular import torch_threads

        with torch_threads(self.config["num_threads"]):
            self._fit_impl(X, y, X_val, y_val)

    def _optim(self):
        """AdamW, ``lr`` until ``lr_decay_epoch`` (None = halfway), then ``lr_final``."""
        from ..engine import OptimConfig

        cfg = self.config
        decay_epoch = cfg["lr_decay_epoch"]
        decay_epoch = max(1, int(cfg["epochs"]) // 2) if decay_epoch is None else int(decay_epoch)
        return OptimConfig(lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]), schedule="step",
                           lr_decayed=float(cfg["lr_final"]), decay_epoch=decay_epoch)

    def _fit_impl(self, X, y, X_val, y_val) -> None:
        import torch_frame

        from ..runtime import seed_everything
        from .torch_tabular import fit_regressor

        cfg = self.config
        seed_everything(self.seed)
        names = [f"x{j}" for j in range(X.shape[1])]
        col_stats = self._col_stats(X, names)
        self.col_names_dict_ = {torch_frame.numerical: names}
        if cfg["standardize_y"]:
            self.y_mean_ = float(np.mean(y, dtype=np.float64))
            self.y_std_ = float(np.std(y, dtype=np.float64)) or 1.0
        else:
            self.y_mean_, self.y_std_ = 0.0, 1.0
        self.model_ = self._build_model(col_stats, self.col_names_dict_, X, y)
        self.fit_info_.update(fit_regressor(self, X, y, X_val, y_val, self._optim(),
                                            loss_fn=self._train_loss()))

    def _forward(self, xb):
        """The network's prediction (standardised target scale) for a float32 batch of rows."""
        return self._call(self._tf(xb), train=False)

    def _train_loss(self):
        """The model's own training loss ``(x, y_standardised) -> loss``; None = MSE."""
        return None

    def _predict(self, X) -> np.ndarray:
        from .torch_tabular import predict_batches, torch_threads

        with torch_threads(self.config["num_threads"]):
            pred = predict_batches(self.model_, self._forward, X, int(self.config["eval_batch_size"]), self.device)
        return pred * self.y_std_ + self.y_mean_


class TabNetRegressor(TorchFrameRegressor):
    """TabNet (Arik & Pfister 2019) via ``torch_frame.nn.models.TabNet`` — paper Fig. 2 "TabNet".

    Architecture from PyTorch-Frame ``examples/tabnet.py``: num_layers 6,
    split_feat_channels = split_attn_channels = 128, gamma 1.2 (2 shared + 2 dependent GLU layers,
    StackEncoder for numerical features — the model's defaults).
    """

    _arch = {"num_layers": 6, "channels": 128, "gamma": 1.2, "num_shared_glu_layers": 2, "num_dependent_glu_layers": 2}

    def __init__(self, name: str = "TabNet", seed: int = 0, device: str = "cpu", **overrides: Any):
        super().__init__(name=name, seed=seed, device=device, **overrides)

    def _build_model(self, col_stats, col_names_dict, X, y):
        from torch_frame.nn.models import TabNet

        c = self.config
        return TabNet(
            out_channels=1,
            num_layers=int(c["num_layers"]),
            split_feat_channels=int(c["channels"]),
            split_attn_channels=int(c["channels"]),
            gamma=float(c["gamma"]),
            col_stats=col_stats,
            col_names_dict=col_names_dict,
            num_shared_glu_layers=int(c["num_shared_glu_layers"]),
            num_dependent_glu_layers=int(c["num_dependent_glu_layers"]),
        )


class ResNetRegressor(TorchFrameRegressor):
    """ResNet for tabular data (Gorishniy et al. 2021) via ``torch_frame`` — paper Fig. 2 "ResNet".

    Architecture from PyTorch-Frame ``examples/revisiting.py``: channels 256, num_layers 4, linear
    numerical encoder (model default).
    """

    _arch = {"channels": 256, "num_layers": 4}

    def __init__(self, name: str = "ResNet", seed: int = 0, device: str = "cpu", **overrides: Any):
        super().__init__(name=name, seed=seed, device=device, **overrides)

    def _build_model(self, col_stats, col_names_dict, X, y):
        from torch_frame.nn.models import ResNet

        c = self.config
        return ResNet(
            channels=int(c["channels"]),
            out_channels=1,
            num_layers=int(c["num_layers"]),
            col_stats=col_stats,
            col_names_dict=col_names_dict,
        )


class FTTransformerRegressor(TorchFrameRegressor):
    """FT-Transformer (Gorishniy et al. 2021) via ``torch_frame`` — paper Fig. 2 "FTTransformer".

    Architecture from PyTorch-Frame ``examples/revisiting.py``: channels 256, num_layers 4, linear
    numerical encoder (model default).
    """

    _arch = {"channels": 256, "num_layers": 4}

    def __init__(self, name: str = "FTTransformer", seed: int = 0, device: str = "cpu", **overrides: Any):
        super().__init__(name=name, seed=seed, device=device, **overrides)

    def _build_model(self, col_stats, col_names_dict, X, y):
        from torch_frame.nn.models import FTTransformer

        c = self.config
        return FTTransformer(
            channels=int(c["channels"]),
            out_channels=1,
            num_layers=int(c["num_layers"]),
            col_stats=col_stats,
            col_names_dict=col_names_dict,
        )


class ExcelFormerRegressor(TorchFrameRegressor):
    """ExcelFormer (Chen et al. 2024) via ``torch_frame`` — paper Fig. 2 "ExcelFormer".

    Architecture from PyTorch-Frame ``examples/excelformer.py``: channels 256, num_heads 4,
    num_layers 5, diam_dropout 0.3, aium_dropout 0, residual_dropout 0; features sorted by mutual
    information with the target (``MutualInformationSort``'s ``mutual_info_regression``, fitted on
    at most ``max_mi_rows`` seeded rows); training uses ExcelFormer's FEAT-MIX mixup
    (``mixup='feature'``, beta 0.5, as the example's ``forward_mixup``); ``mixup=None`` disables it.
    """

    _arch = {
        "channels": 256,
        "num_heads": 4,
        "num_layers": 5,
        "diam_dropout": 0.3,
        "aium_dropout": 0.0,
        "residual_dropout": 0.0,
        "mixup": "feature",
        "beta": 0.5,
        "max_mi_rows": 100_000,
    }

    def __init__(self, name: str = "ExcelFormer", seed: int = 0, device: str = "cpu", **overrides: Any):
        super().__init__(name=name, seed=seed, device=device, **overrides)

    def _build_model(self, col_stats, col_names_dict, X, y):
        import torch
        from sklearn.feature_selection import mutual_info_regression
        from torch_frame.nn.models import ExcelFormer

        c = self.config
        m = int(c["max_mi_rows"])
        if X.shape[0] > m:
            rows = np.sort(np.random.default_rng(self.seed).choice(X.shape[0], m, replace=False))
            Xs, ys = X[rows], y[rows]
        else:
            Xs, ys = X, y
        mi = mutual_info_regression(Xs, ys, random_state=self.seed)
        order = np.argsort(-mi, kind="stable")
        self.mi_order_ = order
        self.mi_scores_ = mi[order]
        names = col_names_dict[next(iter(col_names_dict))]
        sorted_names = [names[j] for j in order]
        col_names_dict[next(iter(col_names_dict))][:] = sorted_names  # same dict object as self.col_names_dict_
        self._order_t = torch.from_numpy(order.astype(np.int64))
        # MI scores must be positive for FEAT-MIX weights; guard all-zero scores
        scores = np.maximum(self.mi_scores_, 0.0)
        if scores.sum() <= 0:
            scores = np.ones_like(scores)
        self._mi_t = torch.tensor(scores, dtype=torch.float32)
        return ExcelFormer(
            in_channels=int(c["channels"]),
            out_channels=1,
            num_cols=X.shape[1],
            num_layers=int(c["num_layers"]),
            num_heads=int(c["num_heads"]),
            col_stats=col_stats,
            col_names_dict=col_names_dict,
            diam_dropout=float(c["diam_dropout"]),
            aium_dropout=float(c["aium_dropout"]),
            residual_dropout=float(c["residual_dropout"]),
            mixup=c["mixup"],
            beta=float(c["beta"]),
        )

    def _tf(self, xb, yb=None):
        order = self._order_t.to(xb.device)
        tf = super()._tf(xb.index_select(1, order), yb)
        tf.mi_scores = self._mi_t.to(xb.device)
        return tf

    def _train_loss(self):
        if self.config["mixup"] is None:
            return None
        import torch.nn.functional as F

        def loss(xb, yb):
            out, y_mix = self.model_(self._tf(xb, yb), mixup_encoded=True)
            return F.mse_loss(out.reshape(-1), y_mix.reshape(-1))

        return loss

"""Stage 03 of the SOC study: image encoder, SpTGNN per region, XGBoost; Tables 4, 5 and 10.

Per region (SOC paper 5.1-5.2):

1. :func:`prepare_region`: the region's samples in graph node order, covariates imputed and
   standardised by a :class:`~geohet_lib.soc.split.CovariatePreprocessor` fitted on the
   region's **training** rows, the :class:`~geohet_lib.soc.split.LogTargetScaler` fitted on
   the training targets, the transductive masks and stage 02's graph;
2. :func:`image_embeddings`: the ViT stand-in for TerraMind fine-tuned on the region's
   training patches (frozen-body warm-up, then all weights; loss per region as in 5.2), its
   best-validation checkpoint frozen and every sample of the region embedded once into
   ``data/soc/<profile>/vit_<region>/`` (reused while the fit settings, split and targets are
   unchanged);
3. :func:`run_region`: SpTGNN with the region's Table 6 configuration
   (:func:`~geohet_lib.soc.configs.config_for`), trained transductively
   (:func:`~geohet_lib.soc.train.fit_sptgnn`), validation metrics in g/kg (Table 4) and test
   predictions.

On the Africa test split (5.4, Table 10): the single SpTGNN (transductive: the test points
were unlabeled nodes of the training graph), the same model predicting the test points
**inductively** (:func:`run_inductive`: the test points are removed, the graph rebuilt over
the other samples, and each test point attached to it as in paper 3.1), and XGBoost on the
covariates (:func:`run_xgboost`). Metrics are always on the original scale (g/kg) after the
scaler's inverse (5.1): MAE, RMSE, MAPE (%), R².
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..config import SOC_REGIONS, Profile, get_profile
from ..io import read_json, write_json
from ..metrics import mae, mape, r2, rmse
from ..runtime import LOG, get_device, seed_everything
from ..tables import verdict
from .configs import SPTGNN_CONFIGS, SpTGNNConfig, config_for, full_batch_lr
from .covariates import COVARIATE_NAMES
from .graph import SOCGraph, build_hetero_graph, transductive_masks
from .split import CovariatePreprocessor, LogTargetScaler
from .sptgnn import count_parameters

METRIC_KEYS: tuple[str, ...] = ("MAE", "RMSE", "MAPE", "R2")

#: SOC paper Table 4: validation metrics of the three regional SpTGNN instances (g/kg, MAPE %)
PAPER_TABLE4: dict[str, dict[str, float]] = {
    "africa": {"n_train": 25200, "MAE": 1.52, "RMSE": 2.57, "MAPE": 13.7, "R2": 0.864},
    "europe": {"n_train": 12600, "MAE": 6.58, "RMSE": 9.32, "MAPE": 37.1, "R2": 0.445},
    "global": {"n_train": 44100, "MAE": 4.52, "RMSE": 7.36, "MAPE": 29.3, "R2": 0.597},
}

#: SOC paper Table 5: per-region ViT fine-tune, best checkpoint (val-loss: MSE on log SOC)
PAPER_TABLE5: dict[str, dict[str, float]] = {
    "africa": {"epoch": 10, "val_loss": 0.365, "val_mape": 26.3, "val_r2": 0.676},
    "europe": {"epoch": 50, "val_loss": 0.163, "val_mape": 40.8, "val_r2": 0.405},
    "global": {"epoch": 23, "val_loss": 0.173, "val_mape": 36.2, "val_r2": 0.512},
}

#: SOC paper Table 10: Africa test split (n = 682), g/kg and %. The paper has no single-model
#: SpTGNN test row (Table 4 and Table 11 are validation numbers); its ensembles are stage 05's.
PAPER_TABLE10: dict[str, dict[str, Any]] = {
    "XGBoost": {"label": "XGBoost (covariates only)", "n_test": 682, "MAE": 2.52,
                "RMSE": 3.84, "MAPE": 25.2, "R2": 0.715, "later": False},
    "SpTGNN": {"label": "SpTGNN, single model (transductive)", "n_test": None, "MAE": None,
               "RMSE": None, "MAPE": None, "R2": None, "later": False},
    "SpTGNN (inductive)": {"label": "SpTGNN, single model (inductive: test points not in "
                           "the graph)", "n_test": None, "MAE": None, "RMSE": None,
                           "MAPE": None, "R2": None, "later": False},
    "beta-NLL ensemble": {"label": "beta-NLL ensemble (M=5)", "n_test": 682, "MAE": 2.42,
                          "RMSE": 3.93, "MAPE": 24.7, "R2": 0.700, "later": True},
    "SpTGNN ensemble": {"label": "SpTGNN ensemble (M=5), MSE + 0.05 NLL", "n_test": 682,
                        "MAE": 2.27, "RMSE": 3.51, "MAPE": 22.9, "R2": 0.762, "later": True,
                        "RMSE CI": 0.48},
}


def resolve_regions(regions: str | list[str] | tuple[str, ...] = "all") -> list[str]:
    """``"all"`` -> every SOC region; a name or a list of names, checked."""
    if isinstance(regions, str):
        regions = list(SOC_REGIONS) if regions == "all" else [regions]
    out = list(regions)
    bad = [r for r in out if r not in SOC_REGIONS]
    if bad or not out:
        raise ValueError(f"unknown region(s) {bad or out}: choose from {', '.join(SOC_REGIONS)}")
    return out


def regions_with_data(data_dir: str | Path, regions: str | list[str] | tuple[str, ...] = "all"
                      ) -> tuple[list[str], list[str]]:
    """The regions of ``regions`` a later stage runs on, and those it skips.

    A region without samples in stage 01's corpus (an Africa-only corpus has no Europe) is
    skipped and said; a region with samples needs its stage-02 graph (else
    ``FileNotFoundError`` naming notebook 02); no region with samples at all is an error."""
    from .stage01 import load_corpus

    return _regions_to_run(load_corpus(data_dir), data_dir, resolve_regions(regions))


def check_region(data_dir: str | Path, region: str) -> None:
    """A single-region stage (04, 05 on ``region``): the region must have samples and its
    stage-02 graph; the error names the regions that have data."""
    from .stage01 import load_corpus, regions_with_samples

    resolve_regions(region)
    corpus = load_corpus(data_dir)
    if not regions_with_samples(corpus, [region]):
        raise ValueError(f"region {region!r} has no samples in {data_dir}'s corpus; set "
                         f"region= one of {regions_with_samples(corpus)}")
    _regions_to_run(corpus, data_dir, [region])


def _regions_to_run(corpus: pd.DataFrame, data_dir: str | Path, wanted: list[str]
                    ) -> tuple[list[str], list[str]]:
    """:func:`regions_with_data` on a corpus already loaded."""
    from .stage01 import regions_with_samples
    from .stage02 import NOTEBOOK_02, graph_path

    run = regions_with_samples(corpus, wanted)
    skipped = [r for r in wanted if r not in run]
    if not run:
        raise ValueError(f"none of the regions {wanted} has samples in {data_dir}'s corpus; "
                         f"regions with samples: {regions_with_samples(corpus)}")
    if skipped:
        LOG.warning("regions %s have no samples in %s's corpus and are skipped", skipped,
                    data_dir)
    missing = [r for r in run if not graph_path(data_dir, r).exists()]
    if missing:
        raise FileNotFoundError(f"{data_dir}: no graph for region(s) {missing}: run {NOTEBOOK_02} "
                                "for this profile first")
    return run, skipped


def _profile(profile: Profile | str) -> Profile:
    return get_profile(profile) if isinstance(profile, str) else profile


# --------------------------------------------------------------------------- metrics


def soc_metrics(y_gkg, pred_gkg) -> dict[str, float]:
    """MAE, RMSE (g/kg), MAPE (%), R² on the original SOC scale (paper 5.1)."""
    y = np.asarray(y_gkg, dtype=np.float64).ravel()
    p = np.asarray(pred_gkg, dtype=np.float64).ravel()
    return {"MAE": mae(y, p), "RMSE": rmse(y, p), "MAPE": mape(y, p, percent=True),
            "R2": r2(y, p) if y.size > 1 else float("nan")}


def metrics_from_scaled(scaler: LogTargetScaler, y_gkg, pred_scaled) -> dict[str, float]:
    """:func:`soc_metrics` of predictions on the scaled log target, inverse-transformed first."""
    return soc_metrics(y_gkg, scaler.inverse(np.asarray(pred_scaled, dtype=np.float64)))


# --------------------------------------------------------------------------- region data


@dataclass
class RegionData:
    """Everything stage 03 needs about one region, rows in graph node order.

    ``frame``: the region's corpus rows (index = corpus row = patch id); ``split``: labels;
    ``masks``: transductive node masks; ``graph_frame``: ``lat, lon, ndvi, elevation`` of
    the nodes (stage 02's node table); ``covariates`` (n, 63) float32, imputed and
    standardised; ``soc`` g/kg; ``y_scaled`` the scaled log target (test entries included,
    for scoring; training never reads them).
    """

    region: str
    profile: str
    frame: pd.DataFrame
    split: np.ndarray
    masks: dict[str, torch.Tensor]
    graph: SOCGraph
    graph_frame: pd.DataFrame
    covariates: np.ndarray
    preprocessor: CovariatePreprocessor
    scaler: LogTargetScaler
    soc: np.ndarray
    y_scaled: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    time: np.ndarray
    upstream: str = ""  # content key of the graph (and so of the corpus) the region came from

    @property
    def n(self) -> int:
        return len(self.frame)

    @property
    def ids(self) -> np.ndarray:
        """Corpus rows (= patch ids) of the nodes."""
        return self.frame.index.to_numpy()

    def index(self, *splits: str) -> np.ndarray:
        """Node positions of the given split labels (in node order)."""
        return np.flatnonzero(np.isin(self.split, splits))

    def log_target(self) -> np.ndarray:
        """``log(1 + SOC)`` (or ``log SOC``): the ViT's regression target (5.2)."""
        return self.y_scaled * self.scaler.sd_ + self.scaler.mean_

    def features(self, image: np.ndarray | None = None, rows=None) -> dict[str, np.ndarray]:
        """Model inputs (:data:`~geohet_lib.soc.train.FEATURE_KEYS`) of ``rows`` (all: None)."""
        sel = slice(None) if rows is None else np.asarray(rows)
        out = {"covariates": self.covariates[sel], "lat": self.lat[sel], "lon": self.lon[sel],
               "time": self.time[sel]}
        if image is not None:
            img = np.asarray(image)
            if img.shape[0] != self.n:
                raise ValueError(f"image embeddings have {img.shape[0]} rows, region {self.n}")
            out["image"] = img[sel]
        return out


def _load_graph(data_dir: Path, region: str) -> SOCGraph:
    from .stage02 import load_soc_graph

    return load_soc_graph(data_dir, region)


def prepare_region(data_dir: str | Path, profile: Profile | str, region: str, seed: int = 0,
                   graph: SOCGraph | None = None) -> RegionData:
    """The region's inputs (module docstring, step 1); ``graph`` overrides stage 02's file.

    The covariate preprocessor (KNN imputation with ``profile.soc.impute_k``, then
    standardisation) and the log target scaler are fitted on the region's training rows only.
    The graph's node order is the region's corpus order; it is checked against stage 02's
    summary (hash of the sample ids) when present.
    """
    from ..stages import content_key
    from .stage01 import load_corpus, read_manifest, select_region
    from .stage02 import graph_frame, load_graph_summary, node_ids_hash

    prof = _profile(profile)
    seed_everything(seed)
    data_dir = Path(data_dir)
    corpus = load_corpus(data_dir)
    reg = select_region(corpus, region)
    split = reg[f"split_{region}"].astype(str).to_numpy()
    train = split == "train"
    if not train.any() or not (split == "val").any():
        raise ValueError(f"region {region!r} needs training and validation samples")
    cols = list(COVARIATE_NAMES)
    pre = CovariatePreprocessor(k=prof.soc.impute_k).fit(reg.loc[train, cols])
    X = pre.transform(reg[cols])
    soc = reg["soc_gkg"].to_numpy(np.float64)
    scaler = LogTargetScaler().fit(soc[train])
    if graph is None:
        graph = _load_graph(data_dir, region)
        summary = load_graph_summary(data_dir, region)
        if summary.get("node_ids_sha256") != node_ids_hash(corpus, region):
            raise ValueError(f"graph_{region}.pt in {data_dir} was built for other samples: "
                             "rerun stage 02 after stage 01")
        upstream = content_key(summary)
    else:  # a graph of the caller's: the corpus identifies the data, the graph is theirs
        upstream = content_key(read_manifest(data_dir)) + "+own-graph"
    if graph.num_nodes != len(reg):
        raise ValueError(f"graph of {region!r} has {graph.num_nodes} nodes, the region "
                         f"{len(reg)} samples: rerun stage 02")
    gframe = graph_frame(corpus, region, imputer=pre)
    return RegionData(region=region, profile=prof.name, frame=reg, split=split,
                      masks=transductive_masks(len(reg), split), graph=graph,
                      graph_frame=gframe, covariates=X, preprocessor=pre, scaler=scaler,
                      soc=soc, y_scaled=scaler.transform(soc).astype(np.float64),
                      lat=reg["lat"].to_numpy(np.float64), lon=reg["lon"].to_numpy(np.float64),
                      time=reg["year"].to_numpy(np.float64), upstream=upstream)


# --------------------------------------------------------------------------- image encoder


@dataclass
class ImageResult:
    """Cached image embeddings (n, d) of a region in node order, and their fine-tune."""

    region: str
    embeddings: np.ndarray
    history: Any  # engine.History (columns image_encoder.HISTORY_COLUMNS)
    config: dict
    settings: dict
    reused: bool
    seconds: float
    folder: Path

    def table5_row(self) -> dict[str, Any]:
        """This run's Table 5 row beside the paper's."""
        best = self.history.best() if self.history is not None else {}
        p = PAPER_TABLE5[self.region]
        frozen = sum(bool(f) for f in self.history.frozen) if self.history is not None else 0
        return {"region": self.region, "checkpoint epoch": best.get("epoch"),
                "val-loss (MSE, log SOC)": best.get("val_loss"),
                "val-MAPE %": best.get("val_mape"), "val-R2": best.get("val_r2"),
                "epochs run": len(self.history.val_loss) if self.history is not None else 0,
                "warm-up epochs (frozen body)": frozen, "loss": self.settings.get("loss"),
                "paper epoch": p["epoch"], "paper val-loss": p["val_loss"],
                "paper val-MAPE %": p["val_mape"], "paper val-R2": p["val_r2"],
                "reused cache": self.reused}


def _hash_arrays(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a))
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def image_embeddings(data_dir: str | Path, profile: Profile | str, region: str, seed: int = 0,
                     device: str | torch.device = "auto", data: RegionData | None = None,
                     progress: bool = True, force: bool = False, **fit_overrides: Any
                     ) -> ImageResult:
    """Fine-tune the ViT of ``region`` and cache the embeddings of all its samples.

    Encoder sizes: :meth:`ImageEncoderConfig.from_profile` (profile widths, Table 6 CLS-merge
    of the region); ``profile.soc.vit_epochs`` epochs of which ``vit_warmup_epochs`` keep the
    body frozen; loss :data:`PAPER_VIT_LOSS` (MSE Africa, Huber Europe / Global); target
    ``log(1 + SOC)``, checkpoint by validation MSE on it, MAPE / R² in g/kg (Table 5). Other
    fine-tune settings are :func:`fit_image_encoder`'s defaults unless ``fit_overrides``.

    Written to ``<data_dir>/vit_<region>/``: the engine's ``best.ckpt`` / ``last.ckpt`` /
    ``metrics.csv`` (the best checkpoint holds the encoder, its configuration and the
    fine-tune's history), ``embeddings.npy`` + ``.json`` (:func:`cache_embeddings`: rows = the
    region's nodes) and ``fit_record.json`` (settings, encoder configuration, hashes of the
    training and validation ids and targets). A later call with the same record, encoder and
    ids loads the cache instead of fine-tuning again (``force=True`` refits).
    """
    from ..engine import BEST_NAME, load_checkpoint
    from .image_encoder import (PAPER_VIT_LOSS, ImageEncoderConfig, cache_embeddings,
                                fit_image_encoder, load_cached_embeddings, load_image_encoder)
    from .stage01 import open_patches

    prof = _profile(profile)
    data_dir = Path(data_dir)
    data = data if data is not None else prepare_region(data_dir, prof, region, seed)
    dev = get_device(device) if isinstance(device, str) else device
    folder = data_dir / f"vit_{region}"
    cfg = ImageEncoderConfig.from_profile(prof, region)
    settings = {"warmup_epochs": prof.soc.vit_warmup_epochs, "epochs": prof.soc.vit_epochs,
                "loss": PAPER_VIT_LOSS[region], "seed": seed, **fit_overrides}
    ids = data.ids
    tr, va = data.index("train"), data.index("val")
    y_log = data.log_target()
    record = json.loads(json.dumps({
        "kind": "soc_vit_fit", "region": region, "profile": prof.name, "settings": settings,
        "encoder": {"encoder": "PatchViT", **cfg.to_dict()}, "scaler": data.scaler.kind,
        "train": _hash_arrays(ids[tr], y_log[tr]), "val": _hash_arrays(ids[va], y_log[va]),
        "ids": _hash_arrays(ids)}, default=list))
    rec_path, emb_path = folder / "fit_record.json", folder / "embeddings.npy"
    best_path = folder / BEST_NAME
    t0 = time.perf_counter()
    if not force and rec_path.exists() and best_path.exists():
        try:
            if read_json(rec_path) != record:
                raise ValueError("the fit record differs (settings, split or targets)")
            enc = load_image_encoder(best_path, "cpu")
            emb = load_cached_embeddings(emb_path, ids, model=enc)
            hist = load_checkpoint(best_path, "cpu")["history"]
            LOG.info("ViT %s: reusing the cached embeddings in %s", region, folder)
            return ImageResult(region, emb, hist, record["encoder"],
                               settings, True, time.perf_counter() - t0, folder)
        except (FileNotFoundError, ValueError, KeyError, RuntimeError) as err:
            LOG.info("ViT %s: cache in %s not reused (%s); fine-tuning", region, folder, err)
    source = open_patches(data_dir)
    inverse = np.exp if data.scaler.kind == "log" else np.expm1
    kw = {k: v for k, v in settings.items() if k != "seed"}
    enc, hist = fit_image_encoder(source, ids[tr], y_log[tr], ids[va], y_log[va], cfg,
                                  inverse_transform=inverse, device=dev, seed=seed,
                                  checkpoint_dir=folder, progress=progress, **kw)
    emb = cache_embeddings(enc, source, ids, emb_path, device=dev, progress=progress)
    write_json(record, rec_path)
    return ImageResult(region, emb, hist, record["encoder"], settings, False,
                       time.perf_counter() - t0, folder)


# --------------------------------------------------------------------------- SpTGNN


@dataclass
class RegionResult:
    """A trained SpTGNN of one region and its scores (g/kg).

    ``pred_scaled`` / ``log_var``: every node, scaled log target; ``val_pred`` /
    ``test_pred``: g/kg at the validation / test nodes (node order of ``data.index``).
    """

    region: str
    cfg: SpTGNNConfig
    model: Any
    history: Any
    val_metrics: dict[str, float]
    test_metrics: dict[str, float]
    val_pred: np.ndarray
    test_pred: np.ndarray
    pred_scaled: np.ndarray
    log_var: np.ndarray | None
    n_train: int
    n_params: int
    fit_seconds: float
    extra: dict = field(default_factory=dict)

    @property
    def seconds_per_epoch(self) -> float:
        return float(np.mean(self.history.seconds)) if self.history.seconds else float("nan")

    def table4_row(self) -> dict[str, Any]:
        return {"n_train": self.n_train, **self.val_metrics}


def _image_array(image) -> np.ndarray | None:
    if image is None:
        return None
    return np.asarray(getattr(image, "embeddings", image), dtype=np.float32)


def region_config(data: RegionData, image, profile: Profile | str | None = None,
                  full_batch: bool | None = None, **overrides: Any) -> SpTGNNConfig:
    """Table 6 config of the region, scaled by the profile, fitted to the image width.

    ``full_batch`` overrides the profile's kind of optimiser step (``soc.full_batch``):
    ``True`` full-batch steps with the square-root-scaled learning rate for this region's
    training nodes (:func:`~geohet_lib.soc.configs.full_batch_lr`), ``False`` Table 6's
    mini-batches and learning rate; ``None`` keeps the profile's. ``overrides`` win.
    """
    img = _image_array(image)
    prof = _profile(profile if profile is not None else data.profile)
    cfg = config_for(data.region, prof.name)
    t6 = SPTGNN_CONFIGS[data.region]
    if full_batch is True and cfg.batch_size is not None:
        n_train = int(data.masks["train"].sum())
        cfg = replace(cfg, lr=full_batch_lr(t6.lr, t6.batch_size, n_train), batch_size=None)
    elif full_batch is False and cfg.batch_size is None:
        cfg = replace(cfg, lr=t6.lr, batch_size=t6.batch_size)
    extra: dict[str, Any] = {"n_covariates": data.covariates.shape[1]}
    if img is None:
        extra["use_image"] = False
    else:
        extra["img_dim"] = int(img.shape[1])
    extra.update(overrides)
    return replace(cfg, **extra)


def run_region(data: RegionData, image=None, profile: Profile | str | None = None,
               seed: int = 0, device: str | torch.device = "auto",
               checkpoint_dir: str | Path | None = None, resume: bool = False,
               progress: bool = True, loss_kind: str = "huber",
               full_batch: bool | None = None, devices: int = 1, num_nodes: int = 1,
               **overrides: Any) -> RegionResult:
    """Train the region's SpTGNN transductively; validation metrics (Table 4), test predictions.

    ``image``: the :class:`ImageResult` (or an (n, d) array) of :func:`image_embeddings`;
    None trains without the image stream (Table 11 "ViT disabled"). ``full_batch``: the kind
    of optimiser step (:func:`region_config`; None: the profile's). ``devices``,
    ``num_nodes``: DDP processes per machine and machines (mini-batches split evenly). ``overrides`` replace
    fields of the Table 6 configuration (e.g. ``epochs``). Test targets are replaced by NaN
    before training, so nothing in the fit can read them.
    """
    from .train import build_sptgnn, fit_sptgnn, graph_batch, predict_sptgnn, \
        training_moran_target

    dev = get_device(device) if isinstance(device, str) else device
    img = _image_array(image)
    cfg = region_config(data, img, profile, full_batch, **overrides)
    batch = graph_batch(data.graph, data.features(img))
    y_fit = data.y_scaled.copy()
    y_fit[data.split == "test"] = np.nan
    moran = training_moran_target(y_fit, batch, data.masks["train"])
    model = build_sptgnn(cfg, seed)
    t0 = time.perf_counter()
    model, hist = fit_sptgnn(model, batch, data.masks, cfg, y_fit, moran, dev, seed,
                             checkpoint_dir=checkpoint_dir, resume=resume, progress=progress,
                             loss_kind=loss_kind, devices=devices, num_nodes=num_nodes,
                             data_key=data.upstream or None)
    fit_s = time.perf_counter() - t0
    mean, log_var = predict_sptgnn(model, batch, dev)
    va, te = data.index("val"), data.index("test")
    val_pred, test_pred = data.scaler.inverse(mean[va]), data.scaler.inverse(mean[te])
    res = RegionResult(region=data.region, cfg=cfg, model=model, history=hist,
                       val_metrics=soc_metrics(data.soc[va], val_pred),
                       test_metrics=soc_metrics(data.soc[te], test_pred) if te.size else {},
                       val_pred=val_pred, test_pred=test_pred, pred_scaled=mean,
                       log_var=log_var, n_train=int(data.masks["train"].sum()),
                       n_params=count_parameters(model), fit_seconds=fit_s)
    LOG.info("SpTGNN %s: validation %s", data.region,
             ", ".join(f"{k} {v:.3f}" for k, v in res.val_metrics.items()))
    return res


def run_inductive(data: RegionData, result: RegionResult, image=None,
                  device: str | torch.device = "cpu") -> dict[str, Any]:
    """Predict the test points of ``data`` **inductively** with the trained model of ``result``.

    The test points are taken out: the reference graph is rebuilt over the other samples
    (training and validation, all of which the model saw during training) with the resolved
    configuration of the transductive graph (same HDBSCAN / k settings and weight scales), and
    every test point is attached to it by :func:`~geohet_lib.soc.graph.inductive_subgraph`
    (paper 3.1). Returns ``test_pred`` (g/kg), ``metrics``, ``seconds``, ``n_reference``.
    """
    from .train import predict_inductive

    img = _image_array(image)
    ref, te = data.index("train", "val"), data.index("test")
    t0 = time.perf_counter()
    ref_frame = data.graph_frame.iloc[ref].reset_index(drop=True)
    new_frame = data.graph_frame.iloc[te].reset_index(drop=True)
    ref_graph = build_hetero_graph(ref_frame, data.graph.config)
    mean, _ = predict_inductive(result.model, ref_frame, ref_graph, new_frame,
                                data.features(img, ref), data.features(img, te), device)
    pred = data.scaler.inverse(mean)
    return {"test_pred": pred, "metrics": soc_metrics(data.soc[te], pred),
            "seconds": time.perf_counter() - t0, "n_reference": int(ref.size),
            "reference_edges": int(ref_graph.num_edges)}


def run_xgboost(data: RegionData, seed: int = 0, n_jobs: int | None = None,
                **overrides: Any) -> dict[str, Any]:
    """XGBoost (5.5) on the region's training covariates; validation / test metrics in g/kg."""
    from .xgb_baseline import SOCXGBoost

    tr, va, te = data.index("train"), data.index("val"), data.index("test")
    model = SOCXGBoost(seed=seed, n_jobs=n_jobs, **overrides).fit(
        data.covariates[tr], data.soc[tr], scaler=data.scaler)
    val_pred = model.predict(data.covariates[va])
    test_pred = model.predict(data.covariates[te]) if te.size else np.empty(0)
    return {"model": model, "val_pred": val_pred, "test_pred": test_pred,
            "val_metrics": soc_metrics(data.soc[va], val_pred),
            "test_metrics": soc_metrics(data.soc[te], test_pred) if te.size else {},
            "fit_seconds": model.fit_seconds}


# --------------------------------------------------------------------------- tables


def _num(v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return f


def _rows(results) -> dict[str, dict]:
    if isinstance(results, pd.DataFrame):
        key = "region" if "region" in results.columns else "method"
        return {str(r[key]): r.to_dict() for _, r in results.iterrows()}
    return {k: dict(v) for k, v in results.items()}


def _int_columns(df: pd.DataFrame, cols) -> pd.DataFrame:
    """Sample counts as nullable integers (written as 3600, not 3600.000)."""
    for c in cols:
        if c in df:
            df[c] = pd.to_numeric(df[c]).round().astype("Int64")
    return df


def build_table4(results) -> pd.DataFrame:
    """Paper Table 4 beside this run's validation metrics, with a claims column.

    ``results``: region -> ``{"n_train", "MAE", "RMSE", "MAPE", "R2"}`` (e.g.
    :meth:`RegionResult.table4_row`) or a frame with a ``region`` column. Regions not run
    keep empty values. Claims (paper 5.2): Africa has the highest validation R² and the lowest
    MAPE of the regions; Global's R² is above Europe's; Europe has the highest MAPE.
    """
    res = _rows(results)
    rows = []
    for region, p in PAPER_TABLE4.items():
        r = res.get(region)
        rows.append({"region": region,
                     "n_train": _num(r.get("n_train")) if r else np.nan,
                     **{("MAPE %" if k == "MAPE" else k): (_num(r.get(k)) if r else np.nan)
                        for k in METRIC_KEYS},
                     "paper n_train": p["n_train"], "paper MAE": p["MAE"],
                     "paper RMSE": p["RMSE"], "paper MAPE %": p["MAPE"], "paper R2": p["R2"],
                     "claim": ""})
    df = pd.DataFrame(rows)
    ran = df.dropna(subset=["R2"]).set_index("region")

    def claim(region: str, text: str, ok: bool | None) -> None:
        cur = df.loc[df["region"] == region, "claim"].iloc[0]
        df.loc[df["region"] == region, "claim"] = (cur + "; " if cur else "") + \
            f"{text}: {verdict(ok)}"

    others = ran.drop(index="africa", errors="ignore")
    have_af = "africa" in ran.index and len(others) > 0
    claim("africa", "Africa best region by R2 (paper 0.864 vs 0.597 Global, 0.445 Europe)",
          bool(ran.loc["africa", "R2"] > others["R2"].max()) if have_af else None)
    claim("africa", "Africa lowest MAPE (paper 13.7 %)",
          bool(ran.loc["africa", "MAPE %"] < others["MAPE %"].min()) if have_af else None)
    both = {"global", "europe"} <= set(ran.index)
    claim("global", "Global R2 above Europe's (paper 0.597 > 0.445)",
          bool(ran.loc["global", "R2"] > ran.loc["europe", "R2"]) if both else None)
    rest = ran.drop(index="europe", errors="ignore")
    claim("europe", "Europe highest MAPE of the regions (paper 37.1 %)",
          bool(ran.loc["europe", "MAPE %"] > rest["MAPE %"].max())
          if "europe" in ran.index and len(rest) else None)
    return _int_columns(df, ("n_train", "paper n_train"))


def build_table10(results) -> pd.DataFrame:
    """Paper Table 10 (Africa test split) beside this run's, with a claims column.

    ``results``: method -> ``{"n_test", "MAE", "RMSE", "MAPE", "R2"}`` for any of
    ``"XGBoost"``, ``"SpTGNN"`` (single model, transductive), ``"SpTGNN (inductive)"``; the
    ensembles of the paper are listed with their values and point to stage 05, which trains
    them (``tables/soc_table10_ensembles``). Claims
    (paper 5.4): SpTGNN beats XGBoost on test RMSE and on MAPE (the paper's numbers are its
    5-member ensemble's: 3.51 vs 3.84, 22.9 vs 25.2 %).
    """
    res = _rows(results)
    rows = []
    for key, p in PAPER_TABLE10.items():
        r = res.get(key)
        note = ("stage 05: notebook 05_uq_calibration_soc, tables/soc_table10_ensembles"
                if p["later"] else
                "" if r is not None else "not run")
        if key == "SpTGNN":
            note = (note + "; " if note else "") + "paper gives no single-model test row"
        if key == "SpTGNN (inductive)":
            note = (note + "; " if note else "") + "not in the paper's table (method of 3.1)"
        if r is not None and r.get("note"):
            note = f"{note}; {r['note']}" if note else str(r["note"])
        rows.append({"method": key, "paper method": p["label"],
                     "n_test": _num(r.get("n_test")) if r else np.nan,
                     **{("MAPE %" if k == "MAPE" else k): (_num(r.get(k)) if r else np.nan)
                        for k in METRIC_KEYS},
                     "paper n_test": _num(p["n_test"]), "paper MAE": _num(p["MAE"]),
                     "paper RMSE": _num(p["RMSE"]), "paper MAPE %": _num(p["MAPE"]),
                     "paper R2": _num(p["R2"]), "note": note, "claim": ""})
    df = pd.DataFrame(rows)
    ran = df.dropna(subset=["RMSE"]).set_index("method")

    def beats(key: str, col: str) -> bool | None:
        if key not in ran.index or "XGBoost" not in ran.index:
            return None
        return bool(ran.loc[key, col] < ran.loc["XGBoost", col])

    df.loc[df["method"] == "SpTGNN", "claim"] = (
        f"SpTGNN beats XGBoost on Africa test RMSE (paper, ensemble: 3.51 vs 3.84): "
        f"{verdict(beats('SpTGNN', 'RMSE'))}; on test MAPE (paper 22.9 vs 25.2 %): "
        f"{verdict(beats('SpTGNN', 'MAPE %'))}")
    df.loc[df["method"] == "SpTGNN (inductive)", "claim"] = (
        f"SpTGNN predicting unseen points (3.1) beats XGBoost on test RMSE: "
        f"{verdict(beats('SpTGNN (inductive)', 'RMSE'))}")
    return _int_columns(df, ("n_test", "paper n_test"))


def build_table5(results) -> pd.DataFrame:
    """This run's ViT fine-tunes (one :meth:`ImageResult.table5_row` per region) beside
    the paper's Table 5."""
    rows = [r.table5_row() if isinstance(r, ImageResult) else dict(r)
            for r in (results.values() if isinstance(results, dict) else results)]
    return pd.DataFrame(rows)

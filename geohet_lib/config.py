"""Profiles: every size of every stage, defined in one place.

A profile (``smoke``, ``default``, ``paper``) is picked by a notebook parameter or by
``run_all.sh --profile``. ``paper`` follows the GPP paper (section 4.1, appendix A.2):
0.5 degree land grid, 2001-2020 with 2020 as test year, 750 clusters, 30 neighbours,
96 embedding channels. ``default`` and ``smoke`` shrink the sizes so a 2-core CPU runs the
chain in well under an hour and in minutes respectively; each field says what it sets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

PROFILES = ("smoke", "default", "paper")
STUDIES = ("gpp", "soc")


@dataclass(frozen=True)
class GraphConfig:
    """Spatiotemporal Conditional Graph settings (GPP paper 3.1, appendix A.2)."""

    n_clusters: int = 750  # N_Clusters, paper best 750 (Table 3)
    n_neighbors: int = 30  # N_Neighbor, paper best 30 (Table 4)
    embedding_dim: int = 96  # channels of node embedding, paper best 96 (Table 5)
    kmeans_space: str = "lonlat"  # paper clusters (lon, lat); "sphere" clusters unit vectors
    distance: str = "chord"  # paper: chord ||p_i - p_j||; "geodesic": great-circle angle
    # "sphere": the enhanced graph (KNN of unit vectors, log-Gaussian weights); "pixel": KNN on
    # (lon, lat) degrees in the plane with unit weights (paper 4.4's graph before "EG")
    knn_space: str = "sphere"
    edge_mu: float | None = None  # log-Gaussian mu; None: mean KNN distance (paper gives none)
    edge_sigma: float = 0.5  # log-Gaussian sigma (paper gives no value)
    symmetric: bool = True  # union of i->j and j->i KNN edges, as the GCN normalisation needs
    kmeans_n_init: int = 4
    # Node2vec (Grover & Leskovec 2016) random walks + skip-gram
    walk_length: int = 20
    walks_per_node: int = 10
    n2v_window: int = 5
    n2v_p: float = 1.0
    n2v_q: float = 1.0
    n2v_epochs: int = 5
    n2v_negative: int = 5


#: drivers of a light-use-efficiency GPP model: the covariates of the GWR family (paper 4.3 does
#: not list the variables its GWR models used; all 43 features are collinear, the 17 land-cover
#: fractions sum to one, so a local linear model on all of them is singular)
GWR_COVARIATES: tuple[str, ...] = (
    "temperature_2m", "temperature_2m_min", "surface_net_solar_radiation_sum",
    "volumetric_soil_water_layer_2", "leaf_area_index_high_vegetation",
    "leaf_area_index_low_vegetation",
)


@dataclass(frozen=True)
class Section43Config:
    """GWR / GTWR / GNNWR / GTNNWR against GeoHet on a subset of land cells (GPP paper 4.3)."""

    n_cells: int = 6000  # paper: 6,000 land cells sampled uniformly
    weeks: tuple[int, ...] | None = None  # weeks GWR is fitted (one model each): None = all 46
    gnnwr_weeks: tuple[int, ...] | None = None  # weeks GNNWR is fitted: None = all 46
    report_weeks: tuple[int, ...] = (1, 10, 20, 30, 40)  # the paper's Table 1 columns
    figure_week: int = 40  # the paper's Figure 3
    covariates: tuple[str, ...] = GWR_COVARIATES
    gnnwr_epochs: int = 300  # upper bound; early stopping on 10 % of the cells
    gnnwr_patience: int = 30
    gtnnwr_epochs: int = 300
    gtnnwr_references: int = 2048  # space-time reference points of GTNNWR
    gtwr_bw_max: int = 1000  # upper end of GTWR's neighbour-count search
    gtwr_n_focal: int = 20000  # focal points that estimate AICc during GTWR's search
    gtwr_log_tau_tol: float = 0.05  # GTWR's tau search stops when tau is known within ~5 %


@dataclass(frozen=True)
class AblationConfig:
    """Stage 04's protocol of a study: every variant gets the same seeds, schedule and budget.

    ``epochs``: None keeps stage 03's. ``max_train_examples`` (GPP: training cell-years drawn
    once, the same for every variant; None: all) lets a CPU profile fit the sweep into its
    budget.
    """

    seeds: int = 3  # seeds per variant: seed, seed + 1, ...
    epochs: int | None = None
    max_train_examples: int | None = None


@dataclass(frozen=True)
class UQConfig:
    """Stage 05's deep ensembles of a study (SOC paper 3.8, 5.3): ``members`` seeds per
    ensemble (seed, seed + 1, ...), each trained for ``epochs`` (None: stage 03's).

    ``warmup_epochs``: the hybrid loss's MSE-only warm start (SOC 5.3: 30 epochs).
    ``max_train_examples`` (GPP): training cell-years drawn once, the same for every member
    (None: all). ``bootstrap``: test resamples of the paired bootstrap CIs (paper: 1,000).
    """

    members: int = 5
    epochs: int | None = None
    warmup_epochs: int = 30
    max_train_examples: int | None = None
    bootstrap: int = 1000


@dataclass(frozen=True)
class GPPConfig:
    """Sizes of the GPP study (Climate2GPP-like data, GeoHet)."""

    grid_res_deg: float = 0.5  # land grid resolution; paper 0.5 deg (~61k cells)
    years: tuple[int, ...] = tuple(range(2001, 2021))  # paper 2001-2020
    test_years: tuple[int, ...] = (2020,)  # paper: 2020 is the test year
    min_lat: float = -60.0  # Antarctica excluded
    exclude_greenland: bool = True  # ice sheet
    steps_per_year: int = 46  # 8-day steps (MODIS convention: last step 5 or 6 days)
    gpp_aggregation: str = "sum"  # paper 4.1: GPP summed over the 8-day period
    cells_per_chunk: int = 8192  # streaming chunk along cells (memory bound of stage 01)
    graph: GraphConfig = field(default_factory=GraphConfig)
    # stage 03 (training): one example = one cell over the 46 steps of one year
    epochs: int = 20  # paper: 20 epochs, lr decayed at epoch 10
    batch_size: int = 256  # paper: 256 (examples here are cell-years of 46 samples)
    patience: int = 5  # early stopping on the validation year
    d_model: int = 96  # width of encoder, conditions and decoder (paper: 96 channels)
    n_tokens: int = 16  # N features after feature mixing (paper 3.3; value not given)
    enc_layers: int = 2  # stacked Dual Attention modules (value not given)
    dec_layers: int = 2  # transformer decoder layers (value not given)
    n_heads: int = 4
    sec43: Section43Config = field(default_factory=Section43Config)
    ablation: AblationConfig = field(default_factory=AblationConfig)
    # stage 05 (beyond the paper for GPP); CIs resample cell-years: 200 resamples at this size
    uq: UQConfig = field(default_factory=lambda: UQConfig(bootstrap=200))

    @property
    def train_years(self) -> tuple[int, ...]:
        """Years used for fitting (and for normalisation statistics)."""
        return tuple(y for y in self.years if y not in self.test_years)


SOC_REGIONS: tuple[str, ...] = ("africa", "europe", "global")


@dataclass(frozen=True)
class SOCConfig:
    """Sizes of the SOC study (harmonised soil corpus, heterogeneous graph, SpTGNN).

    The paper (SOC paper 4.1-4.5, Tables 3 and 6) has about 26k (Africa), 14k (Europe) and
    49k (Global) samples, 2013-2022, 224-pixel image patches, a 90/5/5 split stratified over
    10 quantile bins of log(1 + SOC), KNN imputation with k = 5.
    """

    # "global" is the whole corpus (Africa + Europe + elsewhere), as in the paper (Table 3: 49,044)
    n_samples: tuple[tuple[str, int], ...] = (("africa", 26000), ("europe", 14000),
                                              ("global", 49000))
    years: tuple[int, int] = (2013, 2022)  # first and last sampling year
    patch_size: int = 224  # pixels per side of the Sentinel-2 / Sentinel-1 / DEM patches
    split: tuple[float, float, float] = (0.90, 0.05, 0.05)  # train / validation / test
    n_strata: int = 10  # quantile bins of log(1 + SOC) the split is stratified over
    impute_k: int = 5  # KNN imputation of covariates (fitted on training samples)
    max_distance_km: float = 2000.0  # no spatial edge longer than this
    model_scale: float = 1.0  # widths of SpTGNN / ViT relative to the paper's Table 6
    epochs: int | None = None  # None: Table 6's per-region maximum epochs
    vit_dim: int = 192  # the small ViT standing in for TerraMind (its weights cannot be fetched)
    vit_depth: int = 6
    vit_heads: int = 3
    vit_patch: int = 16  # ViT token size in pixels
    vit_epochs: int = 20
    vit_warmup_epochs: int = 5  # frozen body, head only (SOC paper 5.2)
    # SpTGNN steps: False = Table 6's mini-batches of target nodes with sampled neighbourhoods
    # (the paper; a GPU's job at full size); True = full-batch steps with the square-root
    # scaled learning rate (soc.configs.full_batch_lr): far fewer, cheaper steps on a CPU
    full_batch: bool = False
    ablation: AblationConfig = field(default_factory=AblationConfig)  # stage 04 (Table 11)
    uq: UQConfig = field(default_factory=UQConfig)  # stage 05 (Tables 7-9, 12)

    def samples(self, region: str) -> int:
        """Number of samples of ``region``."""
        d = dict(self.n_samples)
        if region not in d:
            raise ValueError(f"unknown region {region!r}: choose one of {', '.join(d)}")
        return d[region]


@dataclass(frozen=True)
class Profile:
    """One named profile: every size of every stage."""

    name: str
    gpp: GPPConfig
    soc: SOCConfig = field(default_factory=SOCConfig)
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view (for manifests and logs)."""
        return asdict(self)


def _build_profiles() -> dict[str, Profile]:
    smoke = Profile(
        name="smoke",
        description="CI and tests: every code path at tiny sizes, minutes on a 2-core CPU",
        gpp=GPPConfig(
            grid_res_deg=6.0,
            years=(2018, 2019, 2020),
            test_years=(2020,),
            cells_per_chunk=256,
            graph=GraphConfig(
                n_clusters=24, n_neighbors=6, embedding_dim=16, walk_length=10,
                walks_per_node=5, n2v_epochs=3, kmeans_n_init=2,
            ),
            epochs=2,
            batch_size=32,
            patience=2,
            d_model=16,
            n_tokens=4,
            enc_layers=1,
            dec_layers=1,
            n_heads=2,
            sec43=Section43Config(n_cells=150, weeks=(1, 10, 20, 30, 40),
                                  gnnwr_weeks=(1, 10, 20, 30, 40), gnnwr_epochs=40,
                                  gnnwr_patience=10, gtnnwr_epochs=10, gtnnwr_references=128,
                                  gtwr_bw_max=300, gtwr_n_focal=2000, gtwr_log_tau_tol=0.3),
            ablation=AblationConfig(seeds=2, epochs=1, max_train_examples=200),
            uq=UQConfig(members=3, epochs=1, max_train_examples=200, bootstrap=200),
        ),
        soc=SOCConfig(n_samples=(("africa", 400), ("europe", 250), ("global", 800)),
                      patch_size=16, model_scale=0.125, epochs=3, vit_dim=32, vit_depth=2,
                      vit_heads=2, vit_patch=8, vit_epochs=2, vit_warmup_epochs=1,
                      full_batch=True, ablation=AblationConfig(seeds=2, epochs=3),
                      uq=UQConfig(members=3, epochs=4, warmup_epochs=2, bootstrap=200)),
    )
    default = Profile(
        name="default",
        description="a newcomer's first run on a laptop-class CPU; the papers' qualitative results",
        gpp=GPPConfig(
            grid_res_deg=2.0,
            years=tuple(range(2011, 2021)),
            test_years=(2020,),
            cells_per_chunk=2048,
            graph=GraphConfig(n_clusters=150, n_neighbors=20, embedding_dim=32),
            # 32 cell-years (1,472 samples) per step, 12 epochs: ~11k optimiser steps. The paper's
            # 20 epochs of 53M samples in batches of 256 are far more steps than a CPU can take;
            # 64 x 6 epochs (2.8k steps) left GeoHet under-fitted (train RMSE = test RMSE,
            # benchmarks/study_geohet_decoder.py), and below 32 a CPU step costs no less
            epochs=12,
            batch_size=32,
            patience=4,
            d_model=32,
            n_tokens=8,
            enc_layers=1,
            dec_layers=1,
            sec43=Section43Config(n_cells=1000, gnnwr_weeks=(1, 10, 20, 30, 40), gnnwr_epochs=150,
                                  gnnwr_patience=20, gtnnwr_epochs=30, gtnnwr_references=256,
                                  gtwr_bw_max=600, gtwr_n_focal=5000, gtwr_log_tau_tol=0.2),
            # stage 04: 20 variants x 3 seeds in ~25 min on 2 cores: 1,800 training and 900
            # validation cell-years drawn once, 4 epochs each (~2 % of stage 03's steps)
            ablation=AblationConfig(seeds=3, epochs=4, max_train_examples=1800),
            # stage 05: 5 members with a variance head, 4,000 training cell-years, 6 epochs;
            # CIs resample whole cell-years (~3,700 groups of 46 samples): 300 resamples
            uq=UQConfig(members=5, epochs=6, max_train_examples=4000, bootstrap=300),
        ),
        soc=SOCConfig(n_samples=(("africa", 4000), ("europe", 2500), ("global", 8000)),
                      patch_size=32, model_scale=0.25, epochs=150, vit_dim=64, vit_depth=3,
                      vit_heads=4, vit_patch=8, vit_epochs=6, vit_warmup_epochs=2,
                      # 40 full-batch epochs: stage 03's validation RMSE levels off by ~40
                      full_batch=True, ablation=AblationConfig(seeds=3, epochs=40),
                      # stage 05: two 5-member ensembles, 60 full-batch epochs each (the
                      # hybrid's paper warm start of 30 MSE-only epochs, then 30 with the NLL)
                      uq=UQConfig(members=5, epochs=60, warmup_epochs=30)),
    )
    paper = Profile(
        name="paper",
        description="the papers' scale (0.5 deg, 2001-2020, ~56M samples); meant for one GPU",
        gpp=GPPConfig(),
    )
    return {p.name: p for p in (smoke, default, paper)}


_PROFILES = _build_profiles()


def get_profile(name: str, **gpp_overrides: Any) -> Profile:
    """Return the named profile, optionally with some ``GPPConfig`` fields replaced.

    >>> get_profile("smoke").gpp.grid_res_deg
    6.0
    """
    if name not in _PROFILES:
        raise ValueError(f"unknown profile {name!r}: choose one of {', '.join(PROFILES)}")
    prof = _PROFILES[name]
    if gpp_overrides:
        unknown = set(gpp_overrides) - set(GPPConfig.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown GPPConfig field(s) {sorted(unknown)}")
        prof = replace(prof, gpp=replace(prof.gpp, **gpp_overrides))
    return prof


def data_dir(study: str, profile: str, root: str | Path = "data") -> Path:
    """The folder of one study and profile: ``<root>/<study>/<profile>/`` (created)."""
    if study not in STUDIES:
        raise ValueError(f"unknown study {study!r}: choose one of {', '.join(STUDIES)}")
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    path = Path(root) / study / profile
    path.mkdir(parents=True, exist_ok=True)
    return path

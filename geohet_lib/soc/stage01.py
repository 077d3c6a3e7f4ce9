"""Stage 01 of the SOC study in one call: corpus, ground truth, splits, patches, manifest.

Layout of ``data/soc/<profile>/`` (SOC paper section 4):

- ``corpus.parquet``: one row per sample: ``sample_id, area, source, lat, lon, year, doy,
  depth_top_cm, depth_bottom_cm, soc_gkg`` and the 63 covariates (float32, NaN where
  missing). Row position = patch id.
- ``ground_truth.parquet`` (synthetic only): hidden fields, true coefficients, true
  log-mean, noise sd and draws, complete patch inputs (:mod:`geohet_lib.soc.synthetic`).
- ``split.parquet``: ``sample_id``, region flags ``in_africa, in_europe, in_global`` and
  ``split_<region>`` = ``train`` / ``val`` / ``test`` (null outside the region): each
  region's own 90/5/5 split stratified over ten quantile bins of log(1 + SOC) (paper 4.5,
  5.1).
- ``patches/`` (``s2.npy``, ``s1.npy``, ``dem.npy``, ``meta.json``) when the corpus has at
  most ``write_patches_max`` samples; ``patches.json`` always says which (``"npy"``, or
  ``"procedural"`` with the seed and patch size: :func:`open_patches` then draws them).
- ``manifest.json``: profile, seed, counts, SOC summary statistics per region beside the
  paper's Table 3, covariate missingness, files; ``run_log.jsonl``: what was written, when
  and how long it took.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import SOC_REGIONS, Profile
from ..io import read_json, write_json, write_parquet
from ..paths import (CORPUS_NAME, HARMONISATION_NAME, MANIFEST_NAME, PATCH_DIR, PATCH_INFO_NAME,
                     SPLIT_NAME, TRUTH_NAME)
from ..runtime import LOG, seed_everything, stage_log
from ..stages import check_built_for, read_unit_manifest, staged
from .covariates import COVARIATE_GROUPS, COVARIATE_NAMES
from .patches import NpyPatchSource, PatchSource, SyntheticPatchSource, write_patches
from .split import stratified_split
from .synthetic import SOCModel, generate_soc_corpus

STAGE = "soc_01_corpus"
STAGE01_UNIT = "soc_stage01"
STAGE01_OWNS = (CORPUS_NAME, SPLIT_NAME, TRUTH_NAME, PATCH_INFO_NAME, PATCH_DIR,
                HARMONISATION_NAME)
NOTEBOOK_01 = "stage 01 (notebooks/01_dataset_building_soc.ipynb)"

#: SOC paper Table 3 (g/kg) and the log fit of Figure 7b
PAPER_TABLE3 = {"n": 49044, "source_databases": 9, "years": [2013, 2022], "mean": 15.67,
                "sd": 11.38, "median": 12.22, "min": 1.00, "max": 61.40, "skewness": 1.61,
                "log_mean": 2.62, "log_sd": 0.62, "tabular_features": 63, "s2_bands": 11,
                "s1_polarisations": 2, "dem_channels": 1}
#: SOC paper 5.1: regional sample counts
PAPER_REGION_SIZES = {"africa": 26000, "europe": 14000, "global": 49044}

CORPUS_META_COLUMNS = ("sample_id", "area", "source", "lat", "lon", "year", "doy",
                       "depth_top_cm", "depth_bottom_cm", "soc_gkg")


def soc_summary(soc: np.ndarray) -> dict[str, float]:
    """Table 3 statistics of SOC (g/kg): n, mean, sd, median, range, skewness, log moments.

    ``log_*`` are of ``log(1 + SOC)``, the paper's stratification variable.
    """
    from scipy.stats import skew

    s = np.asarray(soc, float)
    s = s[np.isfinite(s)]
    if s.size == 0:
        return {"n": 0}
    z = np.log1p(s)
    return {"n": int(s.size), "mean": float(s.mean()), "sd": float(s.std(ddof=1)) if s.size > 1
            else 0.0, "median": float(np.median(s)), "min": float(s.min()),
            "max": float(s.max()), "skewness": float(skew(s)) if s.size > 2 else 0.0,
            "log_mean": float(z.mean()), "log_sd": float(z.std())}


def select_region(corpus: pd.DataFrame, region: str) -> pd.DataFrame:
    """The samples of ``region`` (``africa``, ``europe`` or ``global`` = all).

    Uses the ``in_<region>`` flag when present (after :func:`load_corpus`), else ``area``.
    The index is kept: it is the row position in ``corpus.parquet``, i.e. the patch id.
    """
    if region not in SOC_REGIONS:
        raise ValueError(f"unknown region {region!r}: choose one of {', '.join(SOC_REGIONS)}")
    flag = f"in_{region}"
    if flag in corpus.columns:
        mask = corpus[flag].to_numpy(bool)
    elif region == "global":
        mask = np.ones(len(corpus), bool)
    else:
        mask = (corpus["area"] == region).to_numpy()
    if not mask.any():
        raise ValueError(f"region {region!r} has no samples in this corpus (areas present: "
                         f"{sorted(corpus['area'].unique()) if 'area' in corpus else '?'})")
    return corpus.loc[mask]


def region_has_samples(corpus: pd.DataFrame, region: str) -> bool:
    """Whether :func:`select_region` finds any sample of ``region`` in ``corpus``."""
    try:
        return len(select_region(corpus, region)) > 0
    except ValueError:
        return False


def regions_with_samples(corpus: pd.DataFrame, regions=SOC_REGIONS) -> list[str]:
    """The regions of ``regions`` (in their order) that have samples in ``corpus``."""
    return [r for r in regions if region_has_samples(corpus, r)]


def region_splits(corpus: pd.DataFrame, fractions: tuple[float, float, float] = (0.9, 0.05, 0.05),
                  n_strata: int = 10, seed: int = 0) -> pd.DataFrame:
    """Region flags and each region's stratified split (null outside the region)."""
    out = pd.DataFrame({"sample_id": corpus["sample_id"].to_numpy()})
    soc = corpus["soc_gkg"].to_numpy(float)
    for region in SOC_REGIONS:
        mask = (np.ones(len(corpus), bool) if region == "global"
                else (corpus["area"] == region).to_numpy())
        out[f"in_{region}"] = mask
    for region in SOC_REGIONS:
        mask = out[f"in_{region}"].to_numpy()
        lab = np.full(len(corpus), None, dtype=object)
        if mask.any():
            lab[mask] = stratified_split(soc[mask], fractions, n_strata, seed)
        out[f"split_{region}"] = lab
    return out


def _split_counts(split: pd.DataFrame) -> dict[str, dict[str, int]]:
    return {r: {k: int(v) for k, v in split[f"split_{r}"].value_counts().items()}
            for r in SOC_REGIONS}


def _manifest(profile_name: str, seed: int, corpus: pd.DataFrame, split: pd.DataFrame,
              patches: dict, source: str, extra: dict | None = None) -> dict:
    covs = corpus[list(COVARIATE_NAMES)] if set(COVARIATE_NAMES) <= set(corpus.columns) else None
    regions = {r: int(split[f"in_{r}"].sum()) for r in SOC_REGIONS}
    soc = corpus["soc_gkg"].to_numpy(float)
    m = {
        "study": "soc", "stage": STAGE, "source": source, "profile": profile_name,
        "seed": seed, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "counts": {"total": len(corpus),
                   "area": {k: int(v) for k, v in corpus["area"].value_counts().items()},
                   "source": {k: int(v) for k, v in corpus["source"].value_counts().items()},
                   "region": regions, "split": _split_counts(split)},
        "years": [int(corpus["year"].min()), int(corpus["year"].max())] if len(corpus) else [],
        "soc_summary": {r: soc_summary(soc[split[f"in_{r}"].to_numpy(bool)])
                        for r in SOC_REGIONS},
        "paper_table3": PAPER_TABLE3, "paper_region_sizes": PAPER_REGION_SIZES,
        "patches": patches,
    }
    if covs is not None:
        na = covs.isna()
        m["covariates"] = {"n": len(COVARIATE_NAMES),
                           "groups": {g: len(v) for g, v in COVARIATE_GROUPS.items()},
                           "missing_fraction": float(na.to_numpy().mean()),
                           "rows_with_missing": float(na.any(axis=1).mean()),
                           "missing_by_group": {g: float(na[list(v)].to_numpy().mean())
                                                for g, v in COVARIATE_GROUPS.items()}}
    if extra:
        m.update(extra)
    return m


def build_soc_corpus(profile: Profile, out_dir: str | Path, seed: int = 0,
                     progress: bool = True, write_patches_max: int = 20000) -> dict:
    """Generate the synthetic SOC corpus of ``profile`` into ``out_dir``; return the manifest.

    Sizes: ``profile.soc.samples("africa")``, ``samples("europe")`` and the rest of
    ``samples("global")`` elsewhere; years, patch size, split fractions and strata from
    ``profile.soc``. Patches are written to ``patches/`` when the corpus has at most
    ``write_patches_max`` samples, else drawn on demand (:func:`open_patches`).
    """
    cfg = profile.soc
    n_af, n_eu, n_gl = cfg.samples("africa"), cfg.samples("europe"), cfg.samples("global")
    n_other = n_gl - n_af - n_eu
    if n_other < 0:
        raise ValueError(f"profile {profile.name!r}: 'global' ({n_gl}) must be at least "
                         f"'africa' + 'europe' ({n_af + n_eu}); global is the whole corpus")
    out_dir = Path(out_dir)
    seed_everything(seed)
    with stage_log(STAGE, out_dir) as rec:
        with staged(out_dir, STAGE01_UNIT, MANIFEST_NAME, owns=STAGE01_OWNS) as st:
            t0 = time.perf_counter()
            corpus, truth = generate_soc_corpus(n_af, n_eu, n_other, cfg.years, seed=seed)
            LOG.info("soc corpus: %d samples generated in %.1f s", len(corpus),
                     time.perf_counter() - t0)
            split = region_splits(corpus, cfg.split, cfg.n_strata, seed)
            write_parquet(corpus, st.path(CORPUS_NAME))
            write_parquet(truth, st.path(TRUTH_NAME))
            write_parquet(split, st.path(SPLIT_NAME))
            info = {"kind": "procedural",
                    "generator": "geohet_lib.soc.patches.SyntheticPatchSource",
                    "seed": seed, "patch_size": cfg.patch_size, "n": len(corpus),
                    "channels": {"s2": 11, "s1": 2, "dem": 1}}
            if len(corpus) <= write_patches_max:
                src = SyntheticPatchSource(corpus, truth, cfg.patch_size, seed=seed)
                t0 = time.perf_counter()
                write_patches(src, st.path(PATCH_DIR), progress=progress)
                LOG.info("soc patches: %d x %d px written in %.1f s", len(corpus),
                         cfg.patch_size, time.perf_counter() - t0)
                info.update(kind="npy", folder=PATCH_DIR)
            write_json(info, st.path(PATCH_INFO_NAME))
            st.manifest = _manifest(
                profile.name, seed, corpus, split, info, "synthetic",
                {"generator": {"model": {k: list(v) if isinstance(v, tuple) else v
                                         for k, v in asdict(SOCModel()).items()},
                               "missing_rate": 0.015}})
        for f in st.manifest["files"] + [MANIFEST_NAME]:
            rec.wrote(out_dir / f)
        rec.extra = {"n_samples": len(corpus), "patches": info["kind"]}
    return st.manifest


def build_real_soc_corpus(profile: Profile, out_dir: str | Path, samples_path: str | Path,
                          patches_dir: str | Path | None = None, seed: int = 0,
                          layer: str | None = None, crs: str | None = None,
                          **harmonise_kwargs) -> dict:
    """Stage 01 from the user's soil samples (CSV / GeoPackage, see :mod:`.harmonise`).

    The file must carry the 63 covariates of Table 2 as columns (extracted by the user, e.g.
    in Google Earth Engine). ``patches_dir`` (optional) holds ``s2.npy``, ``s1.npy``,
    ``dem.npy`` aligned with the **input file's rows**; the rows that survive harmonisation
    are copied into ``out_dir/patches``. The user's files are only read. Splits use the
    profile's fractions and strata; the harmonisation report is saved as
    ``harmonisation.csv`` and in the manifest.
    """
    from .harmonise import InputDataError, harmonise_file

    cfg = profile.soc
    out_dir = Path(out_dir)
    with stage_log(STAGE, out_dir) as rec:
        with staged(out_dir, STAGE01_UNIT, MANIFEST_NAME, owns=STAGE01_OWNS) as st:
            df, report = harmonise_file(samples_path, layer=layer, crs=crs, **harmonise_kwargs)
            missing = [c for c in COVARIATE_NAMES if c not in df.columns]
            if missing:
                raise InputDataError(
                    f"{Path(samples_path).name}: {len(missing)} of the 63 covariates are "
                    f"missing, e.g. {missing[:5]}. Fix: add them as columns named as in "
                    "geohet_lib.soc.covariates.COVARIATE_NAMES.")
            if len(df) == 0:
                raise InputDataError(f"{Path(samples_path).name}: no sample survived "
                                     f"harmonisation:\n{report}")
            corpus = df[list(CORPUS_META_COLUMNS)].copy()
            corpus = pd.concat([corpus, df[list(COVARIATE_NAMES)].astype(np.float32)], axis=1)
            split = region_splits(corpus, cfg.split, cfg.n_strata, seed)
            write_parquet(corpus, st.path(CORPUS_NAME))
            write_parquet(split, st.path(SPLIT_NAME))
            rep = report.to_frame()
            rep.to_csv(st.path(HARMONISATION_NAME), index=False)
            info = _copy_user_patches(patches_dir, report.n_input, df, st.path(PATCH_DIR))
            write_json(info, st.path(PATCH_INFO_NAME))
            st.manifest = _manifest(profile.name, seed, corpus, split, info, "real",
                                    {"inputs": {"samples": str(samples_path),
                                                "patches": str(patches_dir) if patches_dir
                                                else None},
                                     "harmonisation": rep.to_dict(orient="records")})
        for f in st.manifest["files"] + [MANIFEST_NAME]:
            rec.wrote(out_dir / f)
    return st.manifest


def _copy_user_patches(patches_dir: str | Path | None, n_input: int, df: pd.DataFrame,
                       target: Path) -> dict:
    """Copy the patches of the rows that survived harmonisation to ``target``; the patch
    information of ``patches.json`` (``kind`` ``"none"`` without ``patches_dir``)."""
    from .harmonise import InputDataError

    if patches_dir is None:
        return {"kind": "none", "n": len(df)}
    user = NpyPatchSource(patches_dir)
    if len(user) != n_input:
        raise InputDataError(f"{patches_dir}: {len(user)} patches but the sample file has "
                             f"{n_input} rows; patches must follow the file's rows")
    write_patches(user, target, ids=df["input_row"].to_numpy())
    return {"kind": "npy", "folder": PATCH_DIR, "n": len(df), "patch_size": user.patch_size,
            "channels": user.channels, "copied_from": str(patches_dir)}


def read_manifest(out_dir: str | Path, profile: str | None = None, seed: int | None = None,
                  source: str | None = None) -> dict:
    """The manifest stage 01 wrote, its artefacts checked
    (:func:`geohet_lib.stages.read_unit_manifest`); given ``profile`` / ``seed`` / ``source``
    must match it, else :class:`~geohet_lib.stages.StageMismatchError` naming notebook 01."""
    manifest = read_unit_manifest(out_dir, MANIFEST_NAME, NOTEBOOK_01)
    check_built_for(manifest, f"stage 01's corpus in {out_dir}", NOTEBOOK_01,
                    profile=profile, seed=seed, source=source)
    return manifest


def load_corpus(out_dir: str | Path, with_split: bool = True) -> pd.DataFrame:
    """``corpus.parquet`` (with the region flags and splits of ``split.parquet`` beside) of
    a complete stage 01 (:func:`read_manifest`)."""
    out_dir = Path(out_dir)
    read_manifest(out_dir)
    corpus = pd.read_parquet(out_dir / CORPUS_NAME)
    if with_split:
        split = pd.read_parquet(out_dir / SPLIT_NAME)
        if not np.array_equal(split["sample_id"].to_numpy(), corpus["sample_id"].to_numpy()):
            raise ValueError(f"{SPLIT_NAME} and {CORPUS_NAME} in {out_dir} disagree on the "
                             "samples; rerun stage 01")
        corpus = pd.concat([corpus, split.drop(columns=["sample_id"])], axis=1)
    return corpus


def load_ground_truth(out_dir: str | Path) -> pd.DataFrame:
    """``ground_truth.parquet`` (synthetic corpora only: stage 01 of real data removes an
    earlier synthetic run's)."""
    path = Path(out_dir) / TRUTH_NAME
    if TRUTH_NAME not in read_manifest(out_dir).get("files", [TRUTH_NAME]) or not path.exists():
        raise FileNotFoundError(f"{path} does not exist (real corpora have no ground truth)")
    return pd.read_parquet(path)


def open_patches(out_dir: str | Path) -> PatchSource:
    """The corpus's patches: the ``patches/`` files, or the procedural generator."""
    out_dir = Path(out_dir)
    read_manifest(out_dir)
    info = read_json(out_dir / PATCH_INFO_NAME)
    if info["kind"] == "npy":
        return NpyPatchSource(out_dir / info.get("folder", PATCH_DIR))
    if info["kind"] == "procedural":
        corpus = load_corpus(out_dir, with_split=False)
        return SyntheticPatchSource(corpus, load_ground_truth(out_dir), info["patch_size"],
                                    seed=info["seed"])
    raise FileNotFoundError(f"this corpus has no image patches ({info_path}: kind "
                            f"{info['kind']!r}); pass patches_dir to build_real_soc_corpus")

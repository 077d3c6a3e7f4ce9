"""Benchmark: fit time and peak memory of GWR, GNNWR, GTWR, GTNNWR and GeoHet at section 4.3's size.

GPP paper 4.3 fits the GWR family on 6,000 land cells (one sample per cell and week). This script
builds that subset from a GPP data folder with at least ``--n-cells`` cells (the ``paper`` grid has
59k; with ``--build-paper-years 2018 2019 2020`` it first writes a short ``paper``-grid dataset and
its graph into ``--work-dir``), then runs each method **in its own process** so that its peak
resident memory is its own (``ru_maxrss`` of the child).

What is timed (``--weeks`` per-week fits; everything else once):

* GWR (adaptive bisquare, mgwr's golden-section AICc search; ``--gwr-engine geohet`` -- the
  project's engine, the default -- or ``mgwr``) — one full fit per week, bandwidth search
  included; the 46-week sweep is ``46 x`` the mean week unless ``--weeks 46``.
* GNNWR — ``--nn-epochs`` epochs of one week's model (n reference points = n cells); per-epoch time.
* GTWR — one fit at a fixed (bw, tau) on all cells x 46 weeks; with ``--gtwr-search`` also the
  full AICc search of (bw, tau) (estimated focal subset of ``--gtwr-n-focal`` points).
* GTNNWR — one epoch over ``--gtnnwr-samples`` space-time samples with 2,048 references; the full
  epoch time scales linearly with the number of samples.
* GeoHet — one epoch on the subset's cells (profile sizes), as in the notebook.

Usage::

    python benchmarks/bench_gpp_section43.py --build-paper-years 2018 2019 2020 \
        --work-dir /tmp/bench43 --n-cells 6000 --json benchmarks/results/gpp_section43_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

METHODS = ("GWR", "GNNWR", "GTWR", "GTNNWR", "GeoHet")


def _subset(data: Path, n_cells: int, profile: str, seed: int = 0):
    import pandas as pd

    from geohet_lib.config import get_profile
    from geohet_lib.gpp import section43 as s43
    from geohet_lib.gpp.dataset import read_manifest
    from geohet_lib.gpp.samples import open_sample_cache

    prof = get_profile(profile)
    m = read_manifest(data)
    cache = open_sample_cache(data)
    cells = pd.read_parquet(data / "cells.parquet")
    if cache.n_cells < n_cells:
        raise SystemExit(f"{data} has {cache.n_cells} cells, fewer than --n-cells {n_cells}")
    sub = s43.build_subset(cache, cells, prof.gpp.sec43.covariates, m["train_years"],
                           m["test_years"][0], n_cells, seed)
    return prof, cache, sub


def run_one(method: str, args) -> dict:
    """Time one method in this process; returns its figures."""
    import torch

    from geohet_lib.runtime import get_device

    torch.set_num_threads(args.threads)
    data = Path(args.data_dir)
    prof, cache, sub = _subset(data, args.n_cells, args.profile)
    n, T, k = sub.x_clim.shape
    dev = get_device(args.device)
    out: dict = {"method": method, "n_cells": n, "weeks": T, "covariates": k, "device": str(dev)}
    coords = sub.coords
    if method == "GWR":
        from geohet_lib.baselines.gwr import GWR

        # in northern winter weeks the net solar radiation is exactly 0 over whole Arctic
        # neighbourhoods (polar night), which makes small local systems singular there: GWR
        # widens its search; a week singular at every bandwidth is listed, not timed
        secs, bws, failed = [], [], {}
        for w in range(args.gwr_week, min(args.gwr_week + args.weeks, T + 1)):
            try:
                m = GWR(bw_min=k + 3, engine=args.gwr_engine).fit(coords, sub.x_clim[:, w - 1],
                                                                 sub.y_clim[:, w - 1])
            except ValueError as err:
                failed[w] = str(err)
                continue
            secs.append(m.fit_seconds_)
            bws.append(m.bandwidth_)
        out.update(engine=args.gwr_engine, seconds_per_week=float(np.mean(secs)),
                   weeks_timed=len(secs), bandwidths=bws, first_week=args.gwr_week,
                   failed_weeks=failed, total_seconds=float(np.sum(secs)),
                   sweep_46_weeks_seconds=float(np.mean(secs) * 46))
    elif method == "GNNWR":
        from geohet_lib.baselines.gnnwr import GNNWR

        m = GNNWR(epochs=args.nn_epochs, patience=10**6, device=str(dev), seed=0)
        t0 = time.perf_counter()
        m.fit(coords, sub.x_clim[:, 39], sub.y_clim[:, 39])
        s = time.perf_counter() - t0
        per_epoch = s / max(len(m.history_["train_rmse"]), 1)
        out.update(epochs_timed=len(m.history_["train_rmse"]), seconds_per_epoch=per_epoch,
                   week_at_300_epochs_seconds=per_epoch * 300,
                   sweep_46_weeks_at_300_epochs_seconds=per_epoch * 300 * 46,
                   hidden=list(m.hidden_))
    elif method == "GTWR":
        from geohet_lib.baselines.gtwr import GTWR

        c = np.repeat(coords, T, axis=0)
        t = np.tile(np.arange(1, T + 1, dtype=float), n)
        X, y = sub.x_clim.reshape(-1, k), sub.y_clim.reshape(-1)
        m = GTWR(bw=args.gtwr_bw, tau=args.gtwr_tau, time_period=T)
        t0 = time.perf_counter()
        m.fit(c, t, X, y)
        fit_s = time.perf_counter() - t0
        out.update(n_obs=int(len(y)), bw=args.gtwr_bw, tau=args.gtwr_tau, fit_seconds=fit_s,
                   n_focal=args.gtwr_n_focal)
        if args.gtwr_search:
            s = GTWR(time_period=T, n_focal=args.gtwr_n_focal, log_tau_tol=args.gtwr_log_tau_tol)
            s.fit(c, t, X, y)
            out.update(search_seconds=s.fit_seconds_, search_evaluations=len(s.search_history_),
                       selected_bw=int(s.bandwidth_), selected_tau=float(s.tau_))
        else:  # one criterion evaluation costs about a fit on n_focal focal points
            out["one_evaluation_estimate_seconds"] = fit_s * min(1.0, args.gtwr_n_focal / len(y))
    elif method == "GTNNWR":
        from geohet_lib.baselines.gnnwr import GTNNWR

        rng = np.random.default_rng(0)
        idx = rng.choice(n * T, size=min(args.gtnnwr_samples, n * T), replace=False)
        c = np.repeat(coords, T, axis=0)[idx]
        t = np.tile(np.arange(1, T + 1, dtype=float), n)[idx]
        X, y = sub.x_clim.reshape(-1, k)[idx], sub.y_clim.reshape(-1)[idx]
        m = GTNNWR(epochs=1, patience=10**6, n_references=2048, time_period=T, device=str(dev),
                   seed=0, val_fraction=0.0)
        t0 = time.perf_counter()
        m.fit(c, t, X, y)
        s = time.perf_counter() - t0
        per_1000 = s / len(idx) * 1000
        out.update(samples_timed=int(len(idx)), seconds_per_1000_samples_epoch=per_1000,
                   full_epoch_seconds=per_1000 * n * T / 1000, n_references=2048)
    elif method == "GeoHet":
        from dataclasses import replace

        from geohet_lib.gpp import section43 as s43
        from geohet_lib.gpp.stage03 import load_stage02_graph

        graph = load_stage02_graph(data)
        prof1 = replace(prof, gpp=replace(prof.gpp, epochs=1))
        res, _ = s43.run_geohet(prof1, graph, cache, sub, 0, dev, progress=False)
        n_samples = (len(sub.train_years) - 1) * n * T
        out.update(epoch_seconds=res.fit_seconds, samples_per_epoch=n_samples,
                   samples_per_second=n_samples / res.fit_seconds, d_model=prof.gpp.d_model)
    else:
        raise SystemExit(f"unknown method {method}")
    return out


def build_paper_data(work: Path, years: list[int]) -> Path:
    """A short paper-grid dataset (0.5 deg, 59k cells, ``years``) and its graph in ``work``."""
    from geohet_lib.config import get_profile
    from geohet_lib.gpp.stage01 import build_synthetic_gpp
    from geohet_lib.gpp.stage02 import build_stage02

    prof = get_profile("paper", years=tuple(years), test_years=(years[-1],))
    d = work / "gpp_paper_short"
    if not (d / "manifest.json").exists():
        build_synthetic_gpp(prof, d, seed=0, progress=False)
    if not (d / "stcg.pt").exists():
        build_stage02(prof, d, seed=0, progress=False)
    return d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default="data/gpp/default")
    ap.add_argument("--build-paper-years", type=int, nargs="*", default=None)
    ap.add_argument("--work-dir", default="/tmp/bench43")
    ap.add_argument("--profile", default="paper", help="profile whose GeoHet sizes are used")
    ap.add_argument("--n-cells", type=int, default=6000)
    ap.add_argument("--weeks", type=int, default=1, help="weeks of GWR to time")
    ap.add_argument("--gwr-week", type=int, default=26, help="first week of GWR to time")
    ap.add_argument("--gwr-engine", default="geohet", choices=("geohet", "mgwr"))
    ap.add_argument("--nn-epochs", type=int, default=10)
    ap.add_argument("--gtwr-bw", type=int, default=300)
    ap.add_argument("--gtwr-tau", type=float, default=1e4)
    ap.add_argument("--gtwr-n-focal", type=int, default=20000)
    ap.add_argument("--gtwr-search", action="store_true", help="also time a full (bw, tau) search")
    ap.add_argument("--gtwr-log-tau-tol", type=float, default=0.05)
    ap.add_argument("--gtnnwr-samples", type=int, default=20000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--methods", nargs="*", default=list(METHODS))
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.one:
        from geohet_lib.runtime import peak_rss_gib

        res = run_one(args.one, args)
        # this process's own peak resident memory (Linux: KiB), subset building included
        res["peak_rss_gib"] = round(peak_rss_gib(), 3)
        print("RESULT " + json.dumps(res), flush=True)
        return
    if args.build_paper_years:
        work = Path(args.work_dir)
        work.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        args.data_dir = str(build_paper_data(work, args.build_paper_years))
        print(f"paper-grid data ready in {time.perf_counter() - t0:.0f} s: {args.data_dir}")
    results = []
    for method in args.methods:
        cmd = [sys.executable, __file__, "--one", method, "--data-dir", args.data_dir,
               "--profile", args.profile, "--n-cells", str(args.n_cells), "--weeks", str(args.weeks),
               "--gwr-week", str(args.gwr_week), "--gwr-engine", args.gwr_engine,
               "--nn-epochs", str(args.nn_epochs), "--gtwr-bw", str(args.gtwr_bw),
               "--gtwr-tau", str(args.gtwr_tau), "--gtwr-n-focal", str(args.gtwr_n_focal),
               "--gtnnwr-samples", str(args.gtnnwr_samples), "--threads", str(args.threads),
               "--device", args.device, "--gtwr-log-tau-tol", str(args.gtwr_log_tau_tol)]
        if args.gtwr_search:
            cmd.append("--gtwr-search")
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not line:
            print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
            raise SystemExit(f"{method} failed")
        res = json.loads(line[-1][7:])
        res["process_wall_seconds"] = round(wall, 1)
        print(json.dumps(res))
        results.append(res)
    summary = {"machine": platform.platform(), "cpus": os.cpu_count(),
               "data_dir": args.data_dir, "n_cells": args.n_cells, "results": results}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

"""Benchmark: the GPP study's stage 01 (synthetic build) and stage 02 (graph) at a profile's scale.

Measures wall time and peak resident memory (``ru_maxrss`` of this process, which is the
whole run: the data are generated and written in-process). Usage::

    python benchmarks/bench_gpp_stage01_02.py --profile paper --out /tmp/bench_paper \
        [--stage 01|02|both] [--json benchmarks/results/paper.json]

Targets from the foundation issue, on a 2-core CPU machine: stage 01 at ``paper`` scale
(~61k cells x 20 years x 46 steps x 44 variables) in <= 20 minutes with peak memory <= 4 GiB;
stage 02 (K-means to 750 clusters, spherical KNN, Node2vec) in <= 2 minutes.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import pandas as pd

from geohet_lib.config import get_profile
from geohet_lib.runtime import peak_rss_gib


def dir_size_gib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**30


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="paper")
    ap.add_argument("--out", required=True, help="scratch folder for the generated data")
    ap.add_argument("--stage", default="both", choices=["01", "02", "both"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="write the results here as JSON")
    args = ap.parse_args()
    prof = get_profile(args.profile)
    out = Path(args.out)
    res: dict = {"profile": args.profile, "machine": platform.platform(),
                 "cpus": __import__("os").cpu_count()}

    if args.stage in ("01", "both"):
        from geohet_lib.gpp.stage01 import build_synthetic_gpp

        t0 = time.perf_counter()
        manifest = build_synthetic_gpp(prof, out, seed=args.seed, progress=True)
        res["stage01"] = {
            "seconds": round(time.perf_counter() - t0, 1),
            "peak_rss_gib_after": round(peak_rss_gib(), 3),
            "n_cells": manifest["n_cells"], "n_years": len(manifest["years"]),
            "n_samples": manifest["n_samples"],
            "n_variables": len(manifest["variables"]),
            "disk_gib": round(dir_size_gib(out), 2),
        }
        print(json.dumps(res["stage01"], indent=2), flush=True)

    if args.stage in ("02", "both"):
        from geohet_lib.gpp.graph import build_stcg, save_graph

        cells = pd.read_parquet(out / "cells.parquet")
        rss_before = peak_rss_gib()
        t0 = time.perf_counter()
        data = build_stcg(cells, prof.gpp.graph, steps_per_year=prof.gpp.steps_per_year,
                          seed=args.seed, progress=True)
        save_graph(data, out / "stcg.pt")
        res["stage02"] = {
            "seconds": round(time.perf_counter() - t0, 1),
            "peak_rss_gib_after": round(peak_rss_gib(), 3),
            "peak_rss_gib_before": round(rss_before, 3),
            "n_cells": int(len(cells)), "n_clusters": int(data.num_nodes),
            "n_edges": int(data.edge_index.shape[1]),
        }
        print(json.dumps(res["stage02"], indent=2), flush=True)

    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()

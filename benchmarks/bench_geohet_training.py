"""Benchmark: GeoHet training throughput (samples/s) and peak memory on a profile's data.

A "sample" is one cell-step (the paper's unit: 52M training samples). Stages 01-02 must have
run for the profile (``./run_all.sh --profile default --stage 01`` and ``--stage 02``).
Usage::

    python benchmarks/bench_geohet_training.py --profile default --device cpu --batches 60 \
        [--json benchmarks/results/geohet_training_default_cpu.json]

It times ``--batches`` optimisation steps after ``--warmup`` steps, through the same data path
as training (memory-mapped sample cache, pinned batches on CUDA), and reports peak RSS and, on
CUDA, peak GPU memory. It also times a LightGBM fit (``--lgbm-rounds``) on the same training
rows for scale.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from geohet_lib.config import data_dir, get_profile
from geohet_lib.gpp import stage03 as s3
from geohet_lib.gpp.dataset import read_manifest
from geohet_lib.gpp.samples import iterate_batches, open_sample_cache
from geohet_lib.runtime import get_device, peak_rss_gib


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="default")
    ap.add_argument("--data-root", default="data")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=None, help="default: the profile's")
    ap.add_argument("--batches", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--lgbm-rounds", type=int, default=100, help="0 skips the LightGBM timing")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    prof = get_profile(args.profile)
    d = data_dir("gpp", args.profile, args.data_root)
    dev = get_device(args.device)
    cache = open_sample_cache(d)
    graph = s3.load_stage02_graph(d)
    m = read_manifest(d)
    split = s3.temporal_split(cache, m["train_years"], m["test_years"], graph.cell_cluster.numpy())
    model, cfg = s3.make_geohet(prof, graph, cache.features.shape[-1])
    model.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    bs = args.batch_size or prof.gpp.batch_size
    use_amp = dev.type == "cuda"
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    n, t0 = 0, None
    batches = iterate_batches(cache, split.train, split.cell_cluster, bs, True, seed=0, device=dev)
    for b, (x, y, c, s) in enumerate(batches):
        if b == args.warmup:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0, n = time.perf_counter(), 0
        if b >= args.warmup + args.batches:
            break
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
            loss = torch.nn.functional.mse_loss(model(x, c, s).float(), y / 20.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n += y.numel()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    res = {
        "profile": args.profile, "device": str(dev), "machine": platform.platform(),
        "torch_threads": torch.get_num_threads(), "model": cfg.to_dict(),
        "parameters": sum(p.numel() for p in model.parameters()), "batch_size_examples": bs,
        "samples_per_example": int(cache.features.shape[2]),
        "timed_batches": args.batches, "samples": n, "seconds": round(secs, 2),
        "samples_per_s": round(n / secs, 1),
        "epoch_minutes_at_this_rate": round(len(split.train) * cache.features.shape[2] / (n / secs) / 60, 2),
        "peak_rss_gib": round(peak_rss_gib(), 3),
    }
    if dev.type == "cuda":
        res["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
    if args.lgbm_rounds:
        from geohet_lib.baselines import make_baseline

        x_tr, y_tr = cache.gather(split.train)
        x_tr, y_tr = x_tr.reshape(-1, x_tr.shape[-1]), y_tr.ravel()
        lgb = make_baseline("LightGBM", seed=0, num_boost_round=args.lgbm_rounds, holdout_frac=None)
        t = time.perf_counter()
        lgb.fit(x_tr, y_tr)
        res["lightgbm"] = {"rows": int(len(y_tr)), "rounds": args.lgbm_rounds,
                           "fit_seconds": round(time.perf_counter() - t, 1)}
    print(json.dumps(res, indent=2))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()

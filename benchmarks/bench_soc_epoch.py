"""Benchmark: time and peak memory of one SpTGNN training epoch on an Africa-scale graph.

SOC paper 5.1 trains the Africa SpTGNN on ~26k samples (Table 3) with cached TerraMind
features; the issue's target on an H100 is a full 100-epoch Africa run in at most 10 minutes.
This script builds a synthetic Africa corpus of ``--n`` samples (stage 01's generator; no
image patches: the image stream is a cached embedding of TerraMind's width, 1,024, drawn at
random, because only its shape matters for the cost), the stratified 90/5/5 split, the
Table 6 Africa graph (spatial k-NN with HDBSCAN adaptive k, NDVI k-NN, elevation; stage 02's
builder) and the Table 6 Africa SpTGNN at full width, then times training **each mode in its
own process** so its peak memory is its own:

* ``full``: full-batch steps (one optimiser step on the whole graph per epoch) - what the
  CPU profiles run;
* ``mini``: Table 6's mini-batches of 32 target nodes with sampled neighbourhoods
  (``--fanout`` in-edges per hop, 4 hops) - the paper's schedule, ~710 steps per epoch.

An epoch is :func:`~geohet_lib.soc.train.fit_sptgnn`'s: the training steps plus one
full-graph validation pass. ``--epochs`` epochs are run (``mini`` on a CPU may be limited to
``--mini-steps`` steps of the first epoch, and the epoch time extrapolated from the mean step
time; the JSON says which). Peak memory: the process's peak resident set (``ru_maxrss``) and,
on CUDA, ``torch.cuda.max_memory_allocated``.

Usage::

    python benchmarks/bench_soc_epoch.py --n 26000 --json benchmarks/results/soc_epoch_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

MODES = ("full", "mini")


def build_inputs(n: int, work: Path, seed: int = 0) -> Path:
    """Corpus, split, graph and features of an ``n``-sample Africa region, saved to ``work``."""
    import torch

    from geohet_lib.config import get_profile
    from geohet_lib.soc.covariates import COVARIATE_NAMES
    from geohet_lib.soc.graph import build_hetero_graph, save_graph
    from geohet_lib.soc.split import CovariatePreprocessor, LogTargetScaler, stratified_split
    from geohet_lib.soc.stage02 import graph_config
    from geohet_lib.soc.synthetic import generate_soc_corpus

    path = work / f"soc_africa_{n}.pt"
    if path.exists():
        return path
    work.mkdir(parents=True, exist_ok=True)
    prof = get_profile("paper")
    t0 = time.perf_counter()
    corpus, _ = generate_soc_corpus(n, 0, 0, prof.soc.years, seed)
    t_corpus = time.perf_counter() - t0
    split = stratified_split(corpus["soc_gkg"].to_numpy(float), prof.soc.split,
                             prof.soc.n_strata, seed)
    train = split == "train"
    cols = list(COVARIATE_NAMES)
    pre = CovariatePreprocessor(k=prof.soc.impute_k).fit(corpus.loc[train, cols])
    x = pre.transform(corpus[cols]).astype(np.float32)
    filled = pre.impute(corpus[cols])
    frame = corpus[["lat", "lon"]].astype(float).assign(
        ndvi=filled["ndvi_p50"].to_numpy(float), elevation=filled["elevation"].to_numpy(float))
    t0 = time.perf_counter()
    graph = build_hetero_graph(frame, graph_config(prof, "africa"))
    t_graph = time.perf_counter() - t0
    scaler = LogTargetScaler().fit(corpus.loc[train, "soc_gkg"].to_numpy(float))
    rng = np.random.default_rng(seed)
    save_graph(graph, work / f"soc_africa_{n}_graph.pt")
    torch.save({"covariates": x, "lat": corpus["lat"].to_numpy(), "lon": corpus["lon"].to_numpy(),
                "time": corpus["year"].to_numpy(float),
                "image": rng.standard_normal((n, 1024)).astype(np.float32),
                "y": scaler.transform(corpus["soc_gkg"].to_numpy(float)),
                "split": split, "seconds": {"corpus": t_corpus, "graph": t_graph}}, path)
    return path


def run_mode(mode: str, args) -> dict:
    """Train ``args.epochs`` epochs in ``mode`` in this process; returns the figures."""
    import torch

    from geohet_lib.runtime import get_device
    from geohet_lib.soc.configs import config_for
    from geohet_lib.soc.graph import load_graph, transductive_masks
    from geohet_lib.soc.sptgnn import count_parameters
    from geohet_lib.soc.train import (build_sptgnn, fit_sptgnn, graph_batch,
                                      training_moran_target)

    torch.set_num_threads(args.threads)
    dev = get_device(args.device)
    d = torch.load(args.inputs, weights_only=False)
    graph = load_graph(Path(args.inputs).with_name(Path(args.inputs).stem + "_graph.pt"))
    n = len(d["y"])
    masks = transductive_masks(n, d["split"])
    y = np.where(d["split"] == "test", np.nan, d["y"])
    feats = {k: d[k] for k in ("covariates", "lat", "lon", "time", "image")}
    batch = graph_batch(graph, feats)
    cfg = config_for("africa", n_covariates=feats["covariates"].shape[1], img_dim=1024,
                     epochs=args.epochs, patience=10**6, lr_patience=10**6)
    if args.scale != 1.0:
        from geohet_lib.soc.configs import scaled

        cfg = scaled(cfg, args.scale)
    cfg = replace(cfg, checkpoint_rgat=args.checkpoint_rgat)
    if mode == "full":
        cfg = replace(cfg, batch_size=None)
    else:
        cfg = replace(cfg, fanouts=(args.fanout,))
    n_train = int(masks["train"].sum())
    steps_per_epoch = 1 if cfg.batch_size is None else -(-n_train // cfg.batch_size)
    out: dict = {"mode": mode, "width_scale": args.scale, "checkpoint_rgat": args.checkpoint_rgat,
                 "device": str(dev), "nodes": n, "edges": graph.num_edges,
                 "train_nodes": n_train, "batch_size": cfg.batch_size,
                 "fanouts": None if mode == "full" else [args.fanout] * len(cfg.rgat_hidden),
                 "steps_per_epoch": steps_per_epoch, "threads": args.threads}
    moran = training_moran_target(y, batch, masks["train"])
    model = build_sptgnn(cfg, 0)
    out["parameters"] = count_parameters(model)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    if mode == "mini" and args.mini_steps and steps_per_epoch > args.mini_steps:
        # a CPU cannot afford whole epochs of 32-node steps: time the first steps through
        # the library's own step functions and extrapolate
        from geohet_lib.soc import train as T
        from geohet_lib.soc.sampling import NeighbourSampler, seed_batches

        model.to(dev)
        params = list(model.parameters())
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        bd = {k: v.to(dev) for k, v in batch.items()}
        yd = torch.as_tensor(np.nan_to_num(y), dtype=torch.float32, device=dev)
        md = moran.to(dev)
        sampler = NeighbourSampler(batch["edge_index"], batch["edge_type"], n, T._fanouts(cfg),
                                   batch["edge_weight"])
        gen = torch.Generator().manual_seed(0)
        ids = torch.nonzero(torch.as_tensor(masks["train"])).flatten()
        model.train()
        times, sizes = [], []
        for i, seeds in enumerate(seed_batches(ids, cfg.batch_size, gen)):
            if i >= args.mini_steps + 2:
                break
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            sb, nodes = T._mini_batch(bd, sampler, seeds, gen, dev)
            mask = torch.zeros(nodes.numel(), dtype=torch.bool, device=dev)
            mask[:seeds.numel()] = True
            T._train_step(model, opt, params, cfg, dev, True, "huber", 0.0, 0, sb, yd[nodes],
                          md[nodes], mask)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            if i >= 2:  # the first steps warm up allocators and kernels
                times.append(time.perf_counter() - t0)
                sizes.append((nodes.numel(), sb["edge_index"].shape[1]))
        model.eval()
        t0 = time.perf_counter()
        with torch.no_grad():
            model(bd)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        val_s = time.perf_counter() - t0
        step = float(np.mean(times))
        out.update(timed="first steps, epoch extrapolated", timed_steps=len(times),
                   seconds_per_step=round(step, 4), validation_pass_seconds=round(val_s, 3),
                   mean_subgraph_nodes=float(np.mean([s[0] for s in sizes])),
                   mean_subgraph_edges=float(np.mean([s[1] for s in sizes])),
                   seconds_per_epoch=round(step * steps_per_epoch + val_s, 2))
    else:
        t0 = time.perf_counter()
        _, hist = fit_sptgnn(model, batch, masks, cfg, y, moran, dev, 0, progress=False)
        out.update(timed=f"{hist.epochs} whole epochs (fit_sptgnn)",
                   epoch_seconds=[round(s, 3) for s in hist.seconds],
                   seconds_per_epoch=round(float(np.median(hist.seconds)), 3),
                   fit_seconds=round(time.perf_counter() - t0, 2))
    out["seconds_100_epochs"] = round(100 * out["seconds_per_epoch"], 1)
    if dev.type == "cuda":
        out["cuda_max_allocated_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
        out["gpu"] = torch.cuda.get_device_name()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=26000, help="samples of the Africa region")
    ap.add_argument("--work-dir", default="/tmp/bench_soc")
    ap.add_argument("--modes", nargs="*", default=list(MODES), choices=MODES)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--fanout", type=int, default=10, help="sampled in-edges per hop (mini)")
    ap.add_argument("--mini-steps", type=int, default=30,
                    help="time only this many mini-batch steps and extrapolate (0: whole "
                         "epochs through fit_sptgnn)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="SpTGNN widths relative to Table 6 (default profile: 0.25)")
    ap.add_argument("--checkpoint-rgat", action="store_true",
                    help="recompute the RGAT layers in backward (SpTGNNConfig.checkpoint_rgat)")
    ap.add_argument("--max-memory-gib", type=float, default=None,
                    help="address-space limit of each child (an allocation beyond it fails and "
                         "is reported instead of calling the OOM killer)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--inputs", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.one:
        from geohet_lib.runtime import peak_rss_gib

        if args.max_memory_gib:
            lim = int(args.max_memory_gib * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
        try:
            res = run_mode(args.one, args)
        except (MemoryError, RuntimeError) as err:  # torch reports failed allocations so
            if "memory" not in str(err).lower() and not isinstance(err, MemoryError):
                raise
            res = {"mode": args.one, "width_scale": args.scale,
                   "checkpoint_rgat": args.checkpoint_rgat,
                   "error": f"out of memory under a {args.max_memory_gib} GiB limit: "
                            f"{str(err).splitlines()[0][:200]}"}
        res["peak_rss_gib"] = round(peak_rss_gib(), 3)
        print("RESULT " + json.dumps(res), flush=True)
        return
    t0 = time.perf_counter()
    inputs = build_inputs(args.n, Path(args.work_dir))
    print(f"inputs ready in {time.perf_counter() - t0:.0f} s: {inputs}", flush=True)
    results = []
    for mode in args.modes:
        cmd = [sys.executable, __file__, "--one", mode, "--inputs", str(inputs),
               "--epochs", str(args.epochs), "--fanout", str(args.fanout),
               "--mini-steps", str(args.mini_steps), "--threads", str(args.threads),
               "--device", args.device, "--scale", str(args.scale)]
        if args.checkpoint_rgat:
            cmd.append("--checkpoint-rgat")
        if args.max_memory_gib:
            cmd += ["--max-memory-gib", str(args.max_memory_gib)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not line:
            print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
            raise SystemExit(f"mode {mode} failed")
        res = json.loads(line[-1][7:])
        res["process_wall_seconds"] = round(time.perf_counter() - t0, 1)
        print(json.dumps(res), flush=True)
        results.append(res)
    import torch

    summary = {"machine": platform.platform(), "cpus": os.cpu_count(),
               "torch": torch.__version__, "n": args.n, "results": results}
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():  # several runs (scales, devices) accumulate in one file
            old = json.loads(path.read_text())
            summary["results"] = old.get("results", []) + results
        path.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

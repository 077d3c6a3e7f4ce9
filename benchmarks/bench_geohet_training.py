"""Benchmark: GeoHet training throughput (samples/s), peak memory, and the engine's overhead.

A "sample" is one cell-step (the paper's unit: 52M training samples). Stages 01-02 must have
run for the profile (``./run_all.sh --profile default --stage 01`` and ``--stage 02``).
Usage::

    python benchmarks/bench_geohet_training.py --profile default --device cpu --batches 60 \
        [--plain-loop] [--json benchmarks/results/geohet_training_default_cpu.json]

It times ``--batches`` optimisation steps after ``--warmup`` steps through the project's engine
(:func:`geohet_lib.gpp.train.fit`: Lightning, the same loader, loss and optimiser as training;
timed by a callback from the first timed batch to the last, so validation is not counted).
``--plain-loop`` also times the same steps in a bare PyTorch loop over the same loader
(forward, MSE on ``y / y_scale``, backward, AdamW step, ``loss.item()``: what the project's
loop did before the engine) and reports the engine's overhead per step against it; the two
runs alternate ``--repeats`` times so that machine noise hits both. ``--precision bf16`` runs
the steps under bfloat16 autocast on CUDA. It also times a LightGBM fit (``--lgbm-rounds``) on
the same training rows for scale.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch

from geohet_lib.config import data_dir, get_profile
from geohet_lib.gpp import stage03 as s3
from geohet_lib.gpp.datamodule import GPPDataModule
from geohet_lib.gpp.dataset import read_manifest
from geohet_lib.gpp.samples import open_sample_cache
from geohet_lib.gpp.train import TrainConfig, fit
from geohet_lib.runtime import get_device, peak_rss_gib


class StepTimer(L.Callback):
    """Wall time from the start of batch ``warmup`` to the end of batch ``warmup + n - 1``."""

    def __init__(self, warmup: int, n: int):
        self.warmup, self.n, self.t0, self.seconds = warmup, n, None, None

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if batch_idx == self.warmup:
            _sync(module.device)
            self.t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if batch_idx == self.warmup + self.n - 1:
            _sync(module.device)
            self.seconds = time.perf_counter() - self.t0


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def engine_seconds(prof, graph, cache, split, dev, bs, warmup, n, amp) -> tuple[float, dict]:
    """Seconds of ``n`` steps through the engine (one epoch capped at ``warmup + n`` batches)
    and the model configuration."""
    torch.manual_seed(0)
    model, mcfg = s3.make_geohet(prof, graph, cache.features.shape[-1])
    timer = StepTimer(warmup, n)
    tc = TrainConfig(epochs=1, batch_size=bs, seed=0, max_batches=warmup + n, amp=amp)
    fit(model, cache, split.train, split.val[:64], split.cell_cluster, tc, device=dev,
        progress=False, callbacks=[timer])
    return timer.seconds, mcfg.to_dict()


def plain_seconds(prof, graph, cache, split, dev, bs, warmup, n, amp) -> float:
    """Seconds of the same ``n`` steps in a bare PyTorch loop over the same loader."""
    torch.manual_seed(0)
    model, _ = s3.make_geohet(prof, graph, cache.features.shape[-1])
    model.to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    y_scale = float(cache.gather(split.train[:20000])[1].std())
    dm = GPPDataModule(cache, split.train, split.val, split.cell_cluster, bs, 0,
                       pin_memory=dev.type == "cuda")
    use_amp = amp and dev.type == "cuda"
    t0 = None
    for b, batch in enumerate(dm.train_dataloader()):
        x, y, c, s = (t.to(dev, non_blocking=True) for t in batch)
        if b == warmup:
            _sync(dev)
            t0 = time.perf_counter()
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
            pred = model(x, c, s)
        loss = torch.nn.functional.mse_loss(pred.float(), y / y_scale)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()
        if b == warmup + n - 1:
            _sync(dev)
            return time.perf_counter() - t0
    raise ValueError("fewer training batches than --warmup + --batches")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="default")
    ap.add_argument("--data-root", default="data")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=None, help="default: the profile's")
    ap.add_argument("--batches", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--plain-loop", action="store_true", help="also time a bare PyTorch loop")
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="bf16",
                    help="bf16 autocast on CUDA (CPU always float32)")
    ap.add_argument("--lgbm-rounds", type=int, default=0, help="0 skips the LightGBM timing")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    prof = get_profile(args.profile)
    d = data_dir("gpp", args.profile, args.data_root)
    dev = get_device(args.device)
    cache = open_sample_cache(d)
    graph = s3.load_stage02_graph(d)
    m = read_manifest(d)
    split = s3.temporal_split(cache, m["train_years"], m["test_years"], graph.cell_cluster.numpy())
    bs = args.batch_size or prof.gpp.batch_size
    amp = args.precision == "bf16"
    steps = int(cache.features.shape[2])
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    runs = {"engine": [], "plain": []}
    for _ in range(args.repeats):
        secs, model_cfg = engine_seconds(prof, graph, cache, split, dev, bs, args.warmup,
                                         args.batches, amp)
        runs["engine"].append(secs)
        if args.plain_loop:
            runs["plain"].append(plain_seconds(prof, graph, cache, split, dev, bs, args.warmup,
                                               args.batches, amp))
    samples = args.batches * bs * steps
    eng = float(np.median(runs["engine"]))
    res = {
        "profile": args.profile, "device": str(dev), "machine": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": __import__("os").cpu_count(), "torch": torch.__version__,
        "lightning": L.__version__, "torch_threads": torch.get_num_threads(),
        "precision": args.precision if dev.type == "cuda" else "fp32", "model": model_cfg,
        "batch_size_examples": bs, "samples_per_example": steps, "timed_batches": args.batches,
        "repeats": args.repeats, "engine_seconds": [round(s, 3) for s in runs["engine"]],
        "engine_samples_per_s": round(samples / eng, 1),
        "epoch_minutes_at_this_rate": round(len(split.train) * steps / (samples / eng) / 60, 2),
        "peak_rss_gib": round(peak_rss_gib(), 3),
    }
    if runs["plain"]:
        pl = float(np.median(runs["plain"]))
        res.update(plain_seconds=[round(s, 3) for s in runs["plain"]],
                   plain_samples_per_s=round(samples / pl, 1),
                   engine_ms_per_step=round(1e3 * eng / args.batches, 2),
                   plain_ms_per_step=round(1e3 * pl / args.batches, 2),
                   engine_overhead_percent=round(100 * (eng / pl - 1), 2))
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

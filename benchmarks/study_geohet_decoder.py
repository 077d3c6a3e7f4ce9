"""Study: what limits GeoHet against a per-row MLP on the GPP data (a few minutes on a CPU).

Not a performance benchmark but a quick, reproducible accuracy comparison on a cell subset of a
GPP data folder (default: ``data/gpp/default`` after notebooks 01-02), temporal split as in
notebook 03 (fit on all training years but the last, validate on the last, test on the test
year). Variants: the paper's decoder ``Z = Decoder(C, X)`` (``base``), the query skip
``Z = Decoder(C + X, X)`` (``query_skip``, :class:`~geohet_lib.gpp.model.GeoHetConfig`), and
the tabular MLP baseline on the same rows (``mlp``). Prints train / validation RMSE per epoch
and the test RMSE of each.

Usage::

    python benchmarks/study_geohet_decoder.py --cells 1000 --epochs 4 --batch-size 64
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default="data/gpp/default")
    ap.add_argument("--profile", default="default")
    ap.add_argument("--cells", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=None, help="cell-years per step")
    ap.add_argument("--n-tokens", type=int, default=None)
    ap.add_argument("--variants", nargs="*", default=["base", "query_skip", "mlp"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from geohet_lib.baselines.tabular import MLPRegressor
    from geohet_lib.config import get_profile
    from geohet_lib.gpp import stage03 as s3
    from geohet_lib.gpp.dataset import read_manifest
    from geohet_lib.gpp.samples import open_sample_cache
    from geohet_lib.gpp.train import TrainConfig, fit, predict

    torch.set_num_threads(args.threads)
    prof = get_profile(args.profile)
    if args.n_tokens:
        prof = replace(prof, gpp=replace(prof.gpp, n_tokens=args.n_tokens))
    graph = s3.load_stage02_graph(args.data_dir)
    cache = open_sample_cache(args.data_dir)
    man = read_manifest(args.data_dir)
    cc = graph.cell_cluster.numpy()
    rng = np.random.default_rng(args.seed)
    cells = np.sort(rng.choice(cache.n_cells, min(args.cells, cache.n_cells), replace=False))
    years = list(man["train_years"])
    tr = cache.examples(years[:-1], cells)
    va = cache.examples(years[-1:], cells)
    te = cache.examples(list(man["test_years"]), cells)
    y_te = cache.gather(te)[1]
    bs = args.batch_size or prof.gpp.batch_size
    print(f"{len(cells)} cells: {len(tr)} / {len(va)} / {len(te)} cell-years; batch {bs}; "
          f"n_tokens {prof.gpp.n_tokens}", flush=True)
    for name in args.variants:
        t0 = time.perf_counter()
        if name == "mlp":
            xtr, ytr = cache.gather(tr)
            xva, yva = cache.gather(va)
            f = xtr.shape[-1]
            mlp = MLPRegressor(epochs=args.epochs, progress=False, seed=args.seed).fit(
                xtr.reshape(-1, f), ytr.reshape(-1), xva.reshape(-1, f), yva.reshape(-1))
            pred = mlp.predict(cache.gather(te)[0].reshape(-1, f)).reshape(y_te.shape)
            curve = ""
        else:
            torch.manual_seed(args.seed)
            model, _ = s3.make_geohet(prof, graph, cache.features.shape[-1],
                                      query_skip=name == "query_skip")
            tc = TrainConfig(epochs=args.epochs, batch_size=bs, patience=args.epochs,
                             seed=args.seed)
            model, hist, ys = fit(model, cache, tr, va, cc, tc, device="cpu", progress=False)
            pred = predict(model, cache, te, cc, ys, device="cpu")
            curve = (f"train {[round(v, 2) for v in hist.train_rmse]} "
                     f"val {[round(v, 2) for v in hist.val_rmse]} ")
        rmse = float(np.sqrt(np.mean((pred - y_te) ** 2)))
        print(f"{name:11s} {curve}test RMSE {rmse:.3f} ({time.perf_counter() - t0:.0f} s)",
              flush=True)


if __name__ == "__main__":
    main()

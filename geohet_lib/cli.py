"""Train the studies' neural models from a shell, on one or several machines (issue 11).

The notebooks are the way to regenerate the papers' stages; this entry point trains the same
models with the same functions when a run outgrows one process: GeoHet on a study's stage 01-02
artefacts, or SpTGNN (with its ViT embeddings) for one SOC region. Processes are Lightning's:
``--devices N`` on one machine starts the other ``N - 1`` itself; under SLURM (``srun``) or
``torchrun`` every process is started by the cluster and Lightning reads its rank from the
environment. Rank 0 writes ``best.ckpt``, ``metrics.csv`` and a ``result.json`` (test scores)
into ``--out``. Examples (README, "Several GPUs, several machines")::

    python -m geohet_lib.cli gpp --profile paper --device cuda --devices 4
    srun python -m geohet_lib.cli gpp --profile paper --device cuda --devices 4 --num-nodes 2
    torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \\
        -m geohet_lib.cli soc --region africa --profile paper --device cuda --devices 4 --num-nodes 2
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .config import data_dir, get_profile
from .io import write_json
from .paths import CHECKPOINTS_DIR
from .runtime import get_device, seed_everything, setup_logging


def _rank_zero() -> bool:
    return all(int(os.environ.get(k, "0")) == 0 for k in ("RANK", "LOCAL_RANK", "NODE_RANK",
                                                           "SLURM_PROCID"))


def train_gpp(a: argparse.Namespace, out: Path) -> dict:
    """GeoHet on the temporal split of notebook 03; test RMSE and R²."""
    from .gpp import stage03 as s3
    from .gpp.dataset import read_manifest
    from .gpp.samples import open_sample_cache

    prof, d = get_profile(a.profile), data_dir("gpp", a.profile, a.data_root)
    cache, graph, m = open_sample_cache(d), s3.load_stage02_graph(d), read_manifest(d)
    split = s3.temporal_split(cache, m["train_years"], m["test_years"], graph.cell_cluster.numpy())
    _, hist, _, pred, secs = s3.train_and_test(
        prof, graph, cache, split, a.seed, get_device(a.device), checkpoint_dir=out,
        resume=a.resume, progress=not a.no_progress, devices=a.devices, num_nodes=a.num_nodes)
    return {"model": "GeoHet", **s3.score(pred, cache.gather(split.test)[1]),
            "epochs": hist.epochs, "best_epoch": hist.best_epoch + 1, "fit_seconds": secs}


def train_soc(a: argparse.Namespace, out: Path) -> dict:
    """SpTGNN for one region as notebook 03_training_soc; validation metrics in g/kg."""
    from .soc import stage03 as s3

    prof, d = get_profile(a.profile), data_dir("soc", a.profile, a.data_root)
    dev = get_device(a.device)
    data = s3.prepare_region(d, prof, a.region, a.seed)
    img = s3.image_embeddings(d, prof, a.region, a.seed, dev, data=data,
                              progress=not a.no_progress)
    res = s3.run_region(data, img, prof, seed=a.seed, device=dev, checkpoint_dir=out,
                        resume=a.resume, progress=not a.no_progress, devices=a.devices,
                        num_nodes=a.num_nodes)
    return {"model": "SpTGNN", "region": a.region, **res.val_metrics,
            "epochs": res.history.epochs, "best_epoch": res.history.best_epoch + 1}


def parser() -> argparse.ArgumentParser:
    """The command line (``python -m geohet_lib.cli --help``)."""
    ap = argparse.ArgumentParser(prog="python -m geohet_lib.cli", description=__doc__.split("\n")[0])
    ap.add_argument("study", choices=("gpp", "soc"))
    ap.add_argument("--profile", default="default", choices=("smoke", "default", "paper"))
    ap.add_argument("--region", default="africa", help="SOC region (africa, europe, global)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda")
    ap.add_argument("--devices", type=int, default=1, help="processes per machine")
    ap.add_argument("--num-nodes", type=int, default=1, help="machines")
    ap.add_argument("--data-root", default="data")
    ap.add_argument("--out", default=None, help="default: <data>/<study>/<profile>/checkpoints/"
                                                "<model>_cli")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--no-progress", action="store_true")
    return ap


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv``, train, write ``result.json`` on rank 0; return the result."""
    a = parser().parse_args(argv)
    setup_logging()
    seed_everything(a.seed)
    name = "geohet_cli" if a.study == "gpp" else f"sptgnn_{a.region}_cli"
    out = Path(a.out) if a.out else data_dir(a.study, a.profile, a.data_root) / CHECKPOINTS_DIR / name
    result = (train_gpp if a.study == "gpp" else train_soc)(a, out)
    result.update(profile=a.profile, seed=a.seed, devices=a.devices, num_nodes=a.num_nodes)
    if _rank_zero():
        write_json(result, out / "result.json")
        print(result)
    return result


if __name__ == "__main__":
    main()

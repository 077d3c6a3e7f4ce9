"""Study: seed-to-seed spread of SpTGNN's Table 4 validation metrics on a profile.

Trains each region's SpTGNN (as notebook ``03_training_soc``: the profile's Table 6
configuration, the notebook's cached seed-0 ViT embeddings, Huber loss) with several training
seeds (initial weights, dropout, batch order) and prints the mean and standard deviation of the
validation MAE, RMSE, MAPE and R² per region, so a change of a committed figure can be told
from seed noise. Stages 01-03 must have run for the profile. Usage::

    python benchmarks/study_soc_seed_noise.py --profile default --seeds 0 1 2 \
        --regions africa europe [--json benchmarks/results/soc_seed_noise_default.json]
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import pandas as pd
import torch

from geohet_lib.config import data_dir, get_profile
from geohet_lib.soc import stage03 as s3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="default")
    ap.add_argument("--data-root", default="data")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--regions", nargs="+", default=["africa", "europe", "global"])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    prof, d = get_profile(a.profile), data_dir("soc", a.profile, a.data_root)
    rows = []
    for r in a.regions:
        data = s3.prepare_region(d, prof, r, 0)
        img = s3.image_embeddings(d, prof, r, 0, "cpu", data=data, progress=False)
        for seed in a.seeds:
            res = s3.run_region(data, img, prof, seed=seed, device="cpu", progress=False)
            rows.append({"region": r, "seed": seed, **res.val_metrics,
                         "epochs": res.history.epochs})
            print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    summary = df.groupby("region")[["MAE", "RMSE", "MAPE", "R2"]].agg(["mean", "std"]).round(4)
    print(summary.to_string())
    if a.json:
        out = {"profile": a.profile, "machine": platform.platform(), "seeds": a.seeds,
               "runs": rows, "note": "validation split, g/kg; ViT embeddings of seed 0"}
        Path(a.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# The GPU figures of the training-engine issue, in one run (prepared for a lent GPU machine;
# not yet run: no GPU was lent to the session that wrote it). Writes JSON to $OUT (or /tmp).
#   1. GeoHet at `paper` sizes through the engine, bf16: samples/s (target >= 450k samples/s,
#      a 53M-sample epoch in <= 2 min), with the bare-loop reference for the engine's overhead;
#   2. one SpTGNN Africa-scale (26k nodes) full-batch epoch through fit_sptgnn.
# Stage 01-02 data of the `paper` profile are built first (about 2 minutes, 5 GiB on disk).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${OUT:-/tmp}"
PY="${PYTHON:-python}"
DATA="${GEOHET_BENCH_DATA:-/tmp/geohet_data}"
"$PY" - "$DATA" <<'PYEOF'
import sys
from geohet_lib.config import data_dir, get_profile
from geohet_lib.gpp.stage01 import build_synthetic_gpp
from geohet_lib.gpp.stage02 import build_stage02
prof, d = get_profile("paper"), data_dir("gpp", "paper", sys.argv[1])
if not (d / "stcg.pt").exists():
    build_synthetic_gpp(prof, d, seed=0, progress=False)
    build_stage02(prof, d, seed=0, progress=False)
PYEOF
"$PY" benchmarks/bench_geohet_training.py --profile paper --data-root "$DATA" --device cuda \
    --precision bf16 --batches 200 --warmup 20 --repeats 2 --plain-loop \
    --json "$OUT/geohet_training_paper_h200_bf16.json"
"$PY" benchmarks/bench_soc_epoch.py --n 26000 --modes full --epochs 2 --device cuda \
    --json "$OUT/soc_epoch_h200.json"

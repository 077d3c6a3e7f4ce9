#!/usr/bin/env bash
# Issue 16 on a GPU machine: GWR search + fit at n = 100,000 and 1,000,000 (k = 6) with the
# geohet engine on CUDA, and the GWR/GTWR core tests on the device. One prepared run; results
# under $OUT (the device tool copies them back). Usage on the device machine, from the repo root:
#   OUT=/path bash benchmarks/gpu_issue16.sh
set -euo pipefail
OUT=${OUT:-/tmp/gpu_issue16}
mkdir -p "$OUT"
python -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))" | tee "$OUT/device.txt"
python -m pytest -q tests/baselines/test_local_regression.py tests/baselines/test_gwr_equality.py \
    2>&1 | tail -3 | tee "$OUT/tests.txt"
python benchmarks/bench_gwr.py --methods geohet --device cuda --threads "$(nproc)" \
    --sizes 100000 1000000 --ks 6 --limit-minutes 8 --json "$OUT/gwr_gpu.json" | tee "$OUT/gwr_gpu.log"

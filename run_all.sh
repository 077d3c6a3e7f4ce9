#!/usr/bin/env bash
# geohet: set up (or reuse) the environment, then run every notebook headless, or the tests.
#
#   ./run_all.sh [--profile smoke|default|paper] [--study gpp|soc|all] [--stage NN]
#                [--device auto|cpu|cuda] [--devices N] [--seed N]
#                                                           main job (default profile)
#   ./run_all.sh --test [pytest args...]                    the test suite
#   ./run_all.sh --setup                                    only create/refresh the environment
#
# Environment: GEOHET_VENV (default .venv), GEOHET_PYTHON (interpreter for a new venv).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
PROFILE=default
STUDY=all
STAGE=""
DEVICE=auto
DEVICES=1
SEED=0
MODE=run
PYTEST_ARGS=()

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --profile) PROFILE="${2:?--profile needs a value}"; shift 2 ;;
    --study) STUDY="${2:?--study needs a value}"; shift 2 ;;
    --stage) STAGE="${2:?--stage needs a value}"; shift 2 ;;
    --device) DEVICE="${2:?--device needs a value}"; shift 2 ;;
    --seed) SEED="${2:?--seed needs a value}"; shift 2 ;;
    --devices) DEVICES="${2:?--devices needs a value}"; shift 2 ;;
    --test) MODE=test; shift; PYTEST_ARGS=("$@"); break ;;
    --setup) MODE=setup; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run_all.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

case "$PROFILE" in smoke|default|paper) ;; *) echo "run_all.sh: --profile must be smoke, default or paper (got '$PROFILE')" >&2; exit 2 ;; esac
case "$STUDY" in gpp|soc|all) ;; *) echo "run_all.sh: --study must be gpp, soc or all (got '$STUDY')" >&2; exit 2 ;; esac
case "$DEVICE" in auto|cpu|cuda) ;; *) echo "run_all.sh: --device must be auto, cpu or cuda (got '$DEVICE')" >&2; exit 2 ;; esac
if [[ ! "$DEVICES" =~ ^[1-9][0-9]*$ ]]; then
  echo "run_all.sh: --devices must be a positive number of processes (GPUs, or CPU processes) (got '$DEVICES')" >&2; exit 2
fi
if [[ ! "$SEED" =~ ^[0-9]+$ ]]; then
  echo "run_all.sh: --seed must be a non-negative integer such as 0 or 42 (got '$SEED')" >&2; exit 2
fi
SEED=$((10#$SEED))  # 007 -> 7
if [[ -n "$STAGE" && ! "$STAGE" =~ ^[0-9]{1,2}$ ]]; then
  echo "run_all.sh: --stage must be a stage number such as 01 (got '$STAGE')" >&2; exit 2
fi

# ---------------------------------------------------------------------------------------------
# Environment: a virtual environment in .venv, created once and reused while pyproject.toml
# and this installer are unchanged. On machines without an NVIDIA GPU, torch==2.13.0 (the CPU
# build) goes in first so that nothing pulls the CUDA wheels.
# ---------------------------------------------------------------------------------------------
VENV="${GEOHET_VENV:-$ROOT/.venv}"
TORCH_CPU="torch==2.13.0"

find_python() {
  if [[ -n "${GEOHET_PYTHON:-}" ]]; then echo "$GEOHET_PYTHON"; return; fi
  for cand in python3.11 python3.12 python3.13 python3; do
    if command -v "$cand" >/dev/null 2>&1 &&
       "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$cand"; return
    fi
  done
  echo "run_all.sh: Python >= 3.11 not found (set GEOHET_PYTHON)" >&2; exit 1
}

bootstrap() {
  local stamp="$VENV/.geohet-install-stamp"
  local want
  want="$(cat pyproject.toml "$0" | sha256sum | cut -c1-16)"
  if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "== environment: reusing $VENV"
    return
  fi
  if [[ ! -x "$VENV/bin/python" ]]; then
    local py; py="$(find_python)"
    echo "== environment: creating $VENV with $($py --version)"
    "$py" -m venv "$VENV"
  fi
  local pip=("$VENV/bin/python" -m pip --disable-pip-version-check)
  "${pip[@]}" install -q --upgrade pip
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "== environment: NVIDIA GPU found, keeping or installing a CUDA build of torch"
    "$VENV/bin/python" -c 'import torch' 2>/dev/null || "${pip[@]}" install -q "torch>=2.4,<2.14"
  else
    echo "== environment: installing $TORCH_CPU (CPU build) first"
    "${pip[@]}" install -q "$TORCH_CPU"
  fi
  echo "== environment: installing geohet and its dependencies"
  "${pip[@]}" install -q -e ".[test,lab,baselines]"
  "$VENV/bin/python" -c 'import geohet_lib, torch, torch_geometric; print(f"== environment: geohet {geohet_lib.__version__}, torch {torch.__version__}, PyG {torch_geometric.__version__}")'
  echo "$want" > "$stamp"
}

bootstrap
PY="$VENV/bin/python"
# Headless runs draw progress bars as text (a widget needs a live JupyterLab to draw it);
# notebooks pick matplotlib's inline backend themselves (%matplotlib inline).
export PYTHONHASHSEED="${PYTHONHASHSEED:-0}" GEOHET_PROGRESS="${GEOHET_PROGRESS:-text}"

if [[ "$MODE" == setup ]]; then exit 0; fi

if [[ "$MODE" == test ]]; then
  echo "== tests: pytest ${PYTEST_ARGS[*]:-}"
  exec "$PY" -m pytest "${PYTEST_ARGS[@]}"
fi

# ---------------------------------------------------------------------------------------------
# Main job: every notebook in numeric order, once per study it serves (its metadata says which),
# executed by papermill into output/<profile>/, stopping at the first failure.
# ---------------------------------------------------------------------------------------------
OUT="$ROOT/output/$PROFILE"
mkdir -p "$OUT" "$ROOT/data"
# figures and tables: the committed reference (figures/, tables/) is the default profile with
# seed 0; every other profile or seed writes output/<profile>/seed<seed>/ (the notebooks ask
# geohet_lib.paths.results_dirs, and so does this message)
RESULTS="$("$PY" -c 'import sys; from geohet_lib.paths import results_dirs
f, t = results_dirs(sys.argv[1], int(sys.argv[2]), root=".")
print(f"{f}/ and {t}/")' "$PROFILE" "$SEED")"

mapfile -t JOBS < <("$PY" - "$STUDY" "$STAGE" <<'PYEOF'
import json, sys, glob, os
study, stage = sys.argv[1], sys.argv[2]
for nb in sorted(glob.glob("notebooks/[0-9][0-9]_*.ipynb")):
    num = os.path.basename(nb)[:2]
    if stage and int(num) != int(stage):
        continue
    studies = json.load(open(nb))["metadata"].get("geohet", {}).get("studies", ["gpp"])
    for s in studies:
        if study in ("all", s):
            print(f"{nb}\t{s}")
PYEOF
)

if [[ ${#JOBS[@]} -eq 0 ]]; then
  echo "run_all.sh: no notebook serves --study $STUDY${STAGE:+ at --stage $STAGE} yet (see notebooks/)" >&2
  exit 2
fi

echo "== main job: profile=$PROFILE study=$STUDY device=$DEVICE devices=$DEVICES seed=$SEED (${#JOBS[@]} notebook runs)"

# Ctrl-C (SIGINT) or SIGTERM stops the whole run: the running notebook (papermill and its
# kernel) is terminated, the run says which notebook it interrupted and exits 130.
CURRENT="" CHILD=""
on_interrupt() {
  trap - INT TERM
  echo "!! interrupted${CURRENT:+ while running $CURRENT}: stopping; that notebook's outputs are incomplete" >&2
  if [[ -n "$CHILD" ]]; then
    pkill -TERM -P "$CHILD" 2>/dev/null || true  # the kernel papermill started
    kill -TERM "$CHILD" 2>/dev/null || true
    wait "$CHILD" 2>/dev/null || true
  fi
  exit 130
}
trap on_interrupt INT TERM

T_ALL=$SECONDS
for job in "${JOBS[@]}"; do
  nb="${job%%$'\t'*}"; study="${job##*$'\t'}"
  name="$(basename "$nb" .ipynb)"
  executed="$OUT/${name}__${study}.ipynb"
  echo "-- $name [$study] ..."
  t0=$SECONDS
  extra=()  # only notebooks that train neural models declare `devices`
  if grep -q '"devices = ' "$nb"; then extra=(-p devices "$DEVICES"); fi
  CURRENT="$name [$study]"
  # in the background and waited for, so that a signal reaches the trap at once
  "$PY" -m papermill "$nb" "$executed" --cwd "$ROOT/notebooks" --log-output --no-progress-bar \
      -p study "$study" -p profile "$PROFILE" -p seed "$SEED" -p device "$DEVICE" "${extra[@]}" \
      -p data_root "$ROOT/data" \
      > "$OUT/${name}__${study}.log" 2>&1 &
  CHILD=$!
  if ! wait "$CHILD"; then
    echo "!! FAILED: $nb (study $study) after $((SECONDS - t0)) s" >&2
    echo "!! open the executed copy to see the failing cell: $executed" >&2
    echo "!! log: $OUT/${name}__${study}.log" >&2
    tail -n 25 "$OUT/${name}__${study}.log" >&2
    exit 1
  fi
  CHILD=""
  echo "   done in $((SECONDS - t0)) s -> $executed"
done
CURRENT=""
echo "== all notebooks ran in $((SECONDS - T_ALL)) s; figures and tables in $RESULTS, data in data/"

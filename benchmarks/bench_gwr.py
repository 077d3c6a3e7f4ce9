"""Benchmark: GWR bandwidth search + fit -- geohet's engine against mgwr and FastGWR (issue 16).

Each method runs **in its own process** on the same data file (synthetic, planar coordinates in
km, k covariates with smoothly varying coefficients, Gaussian noise), from reading the data to
the fitted local coefficients and standard errors: adaptive bisquare kernel, golden-section
search on AICc with mgwr's bounds [40 + 2(k + 1), n], then the final fit.

* ``geohet``: :class:`geohet_lib.baselines.gwr.GWR` (k-d-tree / dense-block local fits, torch
  float64 on the CPU with ``--threads`` threads, mgwr's golden-section routine).
* ``mgwr``: ``mgwr.sel_bw.Sel_BW(...).search()`` + ``mgwr.gwr.GWR(...).fit()`` with
  ``n_jobs=--threads`` (joblib workers).
* ``fastgwr``: FastGWR 0.2.9 (Li et al. 2019, ``pip install mpi4py fastgwr`` with Debian's
  ``openmpi-bin libopenmpi-dev``), ``mpiexec -np --threads`` ranks of its MPI script on a CSV.

Peak memory is the largest summed resident memory of the process tree (all MPI ranks together),
sampled every 0.1 s with psutil. A method is not started at a size where a run would exceed
``--limit-minutes``: the projection (its time at the largest size it finished x (n / n0)^2, its
cost being O(n^2) per criterion evaluation) is written instead, marked as such; a run that goes
past the limit anyway is stopped and reported as timed out.

Usage (the README's table comes from this run)::

    python benchmarks/bench_gwr.py --sizes 1000 6000 20000 100000 --ks 6 10 \
        --json benchmarks/results/gwr_cpu.json

On a GPU machine (``benchmarks/gpu_issue16.sh``): ``--methods geohet --device cuda``; the k-d
tree stays on the CPU, the local solves and the dense blocks run on the GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

METHODS = ("geohet", "mgwr", "fastgwr")


def make_data(n: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Planar coords (km, a 1,000 km square), X (n, k) and y with smooth local coefficients."""
    rng = np.random.default_rng(seed)
    coords = rng.uniform(0.0, 1000.0, (n, 2))
    X = rng.normal(size=(n, k))
    u, v = coords[:, 0] / 1000.0, coords[:, 1] / 1000.0
    beta = np.stack([np.sin(np.pi * (j + 1) * u / 3.0) + np.cos(np.pi * v * (1 + j % 3))
                     for j in range(k + 1)], axis=1)
    y = beta[:, 0] + np.einsum("ij,ij->i", X, beta[:, 1:]) + 0.5 * rng.normal(size=n)
    return coords, X, y


def run_one(method: str, data: Path, threads: int, device: str = "cpu") -> dict:
    """Read the data, search and fit in this process (imports before the clock starts, as
    FastGWR's own timer); returns bandwidth, AICc and seconds."""
    if method == "geohet":
        import mgwr.search  # noqa: F401  (the search routine GWR calls; imported before the clock)
        import torch

        from geohet_lib.baselines.gwr import GWR

        torch.set_num_threads(threads)
    elif method == "mgwr":
        from mgwr.gwr import GWR
        from mgwr.sel_bw import Sel_BW
    else:
        raise SystemExit(f"unknown in-process method {method}")
    t0 = time.perf_counter()
    d = np.load(data)
    coords, X, y = d["coords"], d["X"], d["y"]
    if method == "geohet":
        m = GWR(spherical=False, engine="geohet", device=device).fit(coords, X, y)
        bw, aicc, params = m.bandwidth_, m.aicc_, m.params_
        _ = m.bse_
    else:
        bw = Sel_BW(coords, y[:, None], X, n_jobs=threads).search(criterion="AICc")
        r = GWR(coords, y[:, None], X, bw, n_jobs=threads).fit()
        aicc, params = float(r.aicc), r.params
        _ = r.bse
    secs = time.perf_counter() - t0
    return {"seconds": secs, "bandwidth": float(bw), "aicc": float(aicc),
            "params_checksum": float(np.abs(params).sum())}


def _fastgwr_cmd(csv: Path, out: Path, threads: int) -> list[str]:
    import fastgwr

    script = Path(fastgwr.__file__).parent / "fastgwr_mpi.py"
    cmd = ["mpiexec", "-np", str(threads)]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-run-as-root")  # OpenMPI refuses root otherwise (CI containers)
    return cmd + [sys.executable, str(script), "-data", str(csv), "-out", str(out), "-c", "-a"]


def _monitor(cmd: list[str], limit_s: float, env: dict | None = None) -> tuple[int, str, float, float, bool]:
    """Run ``cmd``; return (rc, stdout, wall seconds, peak GiB of the process tree, timed out)."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    ps = psutil.Process(proc.pid)
    peak, timed_out = 0, False
    with tempfile.TemporaryFile("w+") as buf:
        import threading

        reader = threading.Thread(target=lambda: shutil.copyfileobj(proc.stdout, buf), daemon=True)
        reader.start()
        while proc.poll() is None:
            try:
                procs = [ps] + ps.children(recursive=True)
                peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()))
            except psutil.Error:
                pass
            if time.perf_counter() - t0 > limit_s:
                for p in ps.children(recursive=True) + [ps]:
                    try:
                        p.kill()
                    except psutil.Error:
                        pass
                timed_out = True
                break
            time.sleep(0.1)
        proc.wait()
        reader.join(timeout=10)
        buf.seek(0)
        out = buf.read()
    return proc.returncode, out, time.perf_counter() - t0, peak / 2**30, timed_out


def run_method(method: str, n: int, k: int, files: dict, args) -> dict:
    row: dict = {"method": method, "n": n, "k": k, "ranks_or_threads": args.threads}
    if method == "geohet":
        row["device"] = args.device
    if method == "fastgwr":
        cmd = _fastgwr_cmd(files["csv"], files["dir"] / "fastgwr_out.csv", args.threads)
    else:
        cmd = [sys.executable, __file__, "--one", method, "--data", str(files["npz"]),
               "--threads", str(args.threads), "--device", args.device]
    env = dict(os.environ, OMP_NUM_THREADS="1") if method == "fastgwr" else None
    rc, out, wall, peak, timed_out = _monitor(cmd, args.limit_minutes * 60, env)
    row.update(process_wall_seconds=round(wall, 2), peak_rss_gib=round(peak, 3))
    if timed_out:
        row.update(status=f"timed out after {args.limit_minutes} min")
        return row
    if rc != 0:
        row.update(status="failed", error=out[-1500:])
        return row
    if method == "fastgwr":
        bw = re.findall(r"Optimal Bandwidth:\s*([0-9.eE+-]+)", out) or re.findall(r"Bandwidth:\s*([0-9.eE+-]+)", out)
        aicc = re.findall(r"AICc:\s*([0-9.eE+-]+)", out)
        secs = re.findall(r"Total Time Elapsed:\s*([0-9.]+)", out)
        row.update(status="ok", seconds=float(secs[-1]) if secs else wall,
                   bandwidth=float(bw[-1]) if bw else None, aicc=float(aicc[-1]) if aicc else None)
    else:
        line = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
        row.update(status="ok", **json.loads(line[-1][7:]))
    return row


def _projection(rows: list[dict], method: str, k: int, n: int, limit_s: float) -> dict | None:
    done = [r for r in rows if r["method"] == method and r["k"] == k and r.get("status") == "ok"]
    if not done:
        return None
    last = max(done, key=lambda r: r["n"])
    est = last["seconds"] * (n / last["n"]) ** 2
    if est <= limit_s:
        return None
    return {"method": method, "n": n, "k": k, "status": "not run (projected past the limit)",
            "projected_seconds": round(est, 0),
            "projection": f"{last['seconds']:.1f} s at n = {last['n']} x ({n} / {last['n']})^2"}


def machine() -> dict:
    cpu = ""
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import psutil

    return {"platform": platform.platform(), "cpu": cpu, "cpus": os.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version()}


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for p in ("torch", "numpy", "scipy", "mgwr", "fastgwr", "mpi4py"):
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            out[p] = None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 6000, 20000, 100000])
    ap.add_argument("--ks", type=int, nargs="+", default=[6, 10])
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--threads", type=int, default=2, help="threads / joblib workers / MPI ranks")
    ap.add_argument("--limit-minutes", type=float, default=30.0)
    ap.add_argument("--device", default="cpu", help="torch device of the geohet engine (cpu, cuda)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--update", action="store_true",
                    help="rerun only the given sizes / methods and replace their rows in --json")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--data", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print("RESULT " + json.dumps(run_one(args.one, Path(args.data), args.threads, args.device)),
              flush=True)
        return
    if "fastgwr" in args.methods and (shutil.which("mpiexec") is None):
        raise SystemExit("FastGWR needs OpenMPI's mpiexec: apt-get install openmpi-bin libopenmpi-dev; "
                         "pip install mpi4py fastgwr (or leave fastgwr out of --methods)")
    rows: list[dict] = []
    result = {"benchmark": "GWR bandwidth search (golden section, AICc) + fit, adaptive bisquare",
              "machine": machine(), "versions": versions(), "threads": args.threads,
              "limit_minutes": args.limit_minutes, "results": rows}
    if args.update:
        if not args.json or not Path(args.json).exists():
            raise SystemExit("--update needs an existing --json file")
        old = json.loads(Path(args.json).read_text())
        redo = {(m, n, k) for m in args.methods for n in args.sizes for k in args.ks}
        kept = [r for r in old["results"] if (r["method"], r["n"], r["k"]) not in redo]
        rows.extend(kept)
        result["rerun"] = sorted(f"{m} n={n} k={k}" for m, n, k in redo)
    with tempfile.TemporaryDirectory() as tmp:
        for k in args.ks:
            for n in args.sizes:
                d = Path(tmp) / f"n{n}_k{k}"
                d.mkdir()
                coords, X, y = make_data(n, k)
                np.savez(d / "data.npz", coords=coords, X=X, y=y)
                header = "x,y,target," + ",".join(f"x{j}" for j in range(k))
                np.savetxt(d / "data.csv", np.column_stack([coords, y, X]), delimiter=",",
                           header=header, comments="", fmt="%.17g")
                files = {"dir": d, "npz": d / "data.npz", "csv": d / "data.csv"}
                for method in args.methods:
                    row = _projection(rows, method, k, n, args.limit_minutes * 60) \
                        or run_method(method, n, k, files, args)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                rows.sort(key=lambda r: (r["k"], r["n"], METHODS.index(r["method"])))
                _ratios(rows, n, k)
                if args.json:
                    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
                shutil.rmtree(d)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")


def _ratios(rows: list[dict], n: int, k: int) -> None:
    """Speed-up of geohet over each other method at (n, k), measured or projected."""
    here = {r["method"]: r for r in rows if r["n"] == n and r["k"] == k}
    for r in here.values():
        r.pop("speedup_of_geohet", None)
        r.pop("projected_speedup_of_geohet", None)
    g = here.get("geohet")
    if not g or g.get("status") != "ok":
        return
    for name, r in here.items():
        if name == "geohet":
            continue
        t = r.get("seconds") if r.get("status") == "ok" else r.get("projected_seconds")
        if t:
            key = "speedup_of_geohet" if r.get("status") == "ok" else "projected_speedup_of_geohet"
            r[key] = round(t / g["seconds"], 1)


if __name__ == "__main__":
    main()

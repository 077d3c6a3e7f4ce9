"""The notebook chain on the smoke profile, headless through papermill (as run_all.sh does)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
# (notebook, study, prefix of the figures it must write), in the order run_all.sh runs them
CHAIN = [
    ("01_dataset_building", "gpp", "gpp_01_"),
    ("02_graph_construction", "gpp", "gpp_02_"),
    ("03_training", "gpp", "gpp_03_"),
    ("03_training_gwr_family", "gpp", "gpp_03_sec43_"),
    ("04_ablations", "gpp", "gpp_04_"),
    ("05_uq_calibration", "gpp", "gpp_05_"),
    ("06_diagnostics", "gpp", "gpp_06_"),
    ("07_embedding_maps", "gpp", "gpp_07_"),
    ("01_dataset_building_soc", "soc", "soc_01_"),
    ("02_graph_construction_soc", "soc", "soc_02_"),
    ("03_training_soc", "soc", "soc_03_"),
    ("04_ablations_soc", "soc", "soc_04_"),
    ("05_uq_calibration_soc", "soc", "soc_05_"),
    ("06_diagnostics_soc", "soc", "soc_06_"),
    ("07_embedding_maps_soc", "soc", "soc_07_"),
]
CHAIN = [c for c in CHAIN if (NOTEBOOKS / f"{c[0]}.ipynb").exists()]


def check_outputs(nb: dict, name: str, written: list[Path]) -> None:
    """An executed notebook reads cleanly: every figure file it wrote is also shown inline, no
    error or traceback, no tqdm warning, INFO logs not on stderr, no figure or path leaked as
    text."""
    images, problems = 0, []
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            kind = out["output_type"]
            if kind == "error":
                problems.append(f"cell {i}: error {out['ename']}")
                continue
            text = "".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", ""))
            has_image = "image/png" in out.get("data", {})
            images += has_image
            if "Traceback (most recent call last)" in text or "TqdmWarning" in text:
                problems.append(f"cell {i}: {text[:200]!r}")
            if kind == "stream" and out["name"] == "stderr" and " geohet INFO " in text:
                problems.append(f"cell {i}: INFO log on stderr: {text[:120]!r}")
            if "PosixPath(" in text or ("<Figure size" in text and not has_image):
                problems.append(f"cell {i}: leaked as text: {text[:120]!r}")
    assert not problems, f"{name}: " + "; ".join(problems)
    assert images >= len(written), (f"{name} wrote {len(written)} figures "
                                    f"({sorted(p.name for p in written)}) but shows {images} inline")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("nbrun")


def test_notebooks_are_stored_without_outputs_and_have_parameters():
    for nb_path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        nb = json.loads(nb_path.read_text())
        assert nb["metadata"]["kernelspec"]["name"] == "python3"
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), nb_path
        params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(params) == 1, f"{nb_path.name} needs one cell tagged 'parameters'"
        src = "".join(params[0]["source"])
        for p in ("study", "profile", "seed", "device", "data_root", "figures_dir"):
            assert f"{p} =" in src, f"{nb_path.name}: parameter {p} missing"
        assert sum(c["cell_type"] == "markdown" for c in nb["cells"]) >= 4  # narrative


def test_notebooks_are_stored_as_jupyterlab_saves_them():
    """Opening a stored notebook must not mark it modified: JupyterLab replaces
    ``metadata.language_info`` with the kernel's, so every notebook carries the block ipykernel
    reports on the reference interpreter (tools/normalise_notebooks.py writes it)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("normalise_notebooks",
                                                  ROOT / "tools" / "normalise_notebooks.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    versions = {json.loads(p.read_text())["metadata"]["language_info"].get("version") for p in paths}
    assert len(versions) == 1 and next(iter(versions)).startswith("3.11."), versions
    info = tool.kernel_language_info(version=versions.pop())
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert text == tool.dumps(tool.normalised(json.loads(text), info)), (
            f"{path.name} is not stored as JupyterLab saves it: run python tools/normalise_notebooks.py")
        assert "%matplotlib inline" in text, f"{path.name}: figures need the inline backend"


@pytest.mark.notebooks
@pytest.mark.parametrize("name,study,prefix", CHAIN, ids=[c[0] for c in CHAIN])
def test_notebook_runs_on_smoke(name, study, prefix, workdir):
    import papermill as pm

    out = workdir / f"{name}.ipynb"
    started = time.time()
    pm.execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"), str(out), cwd=str(NOTEBOOKS), progress_bar=False,
        kernel_name="python3",
        parameters={"study": study, "profile": "smoke", "seed": 0, "device": "cpu",
                    "data_root": str(workdir / "data"), "figures_dir": str(workdir / "figures"),
                    "tables_dir": str(workdir / "tables")},
    )
    figures = sorted(p.name for p in (workdir / "figures").glob(f"{study}_0*.png"))
    assert any(f.startswith(prefix) for f in figures), figures
    for png in (workdir / "figures").glob(f"{prefix}*.png"):
        assert png.with_suffix(".pdf").exists()
    written = [p for p in (workdir / "figures").glob("*.png") if p.stat().st_mtime >= started]
    check_outputs(json.loads(out.read_text()), name, written)
    if name == "03_training":
        import pandas as pd

        table = pd.read_csv(workdir / "tables" / "gpp_table2.csv")
        assert {"method", "RMSE", "R2", "paper RMSE", "claim"} <= set(table.columns)
        ran = table.dropna(subset=["RMSE"])
        assert "GeoHet" in set(ran["method"]) and len(ran) >= 10
        assert (workdir / "tables" / "gpp_table2.md").exists()
        assert (workdir / "tables" / "gpp_table2_beyond_recovery.csv").exists()
    if name == "04_ablations":
        import pandas as pd

        ladder = pd.read_csv(workdir / "tables" / "gpp_4_4_ablation.csv")
        assert ladder["step"].tolist()[-1].startswith("DaEn") and len(ladder) == 5
        assert ladder["paper RMSE"].tolist() == [1.158, 1.071, 0.893, 0.876, 0.836]
        for t in ("table3", "table4", "table5"):
            a2 = pd.read_csv(workdir / "tables" / f"gpp_a2_{t}.csv")
            assert (a2["seeds"] >= 2).all() and a2["paper RMSE"].notna().all()
        assert (workdir / "tables" / "gpp_4_4_beyond.csv").exists()
    if name == "04_ablations_soc":
        import pandas as pd

        t11 = pd.read_csv(workdir / "tables" / "soc_table11.csv")
        assert t11["variant"].iloc[0] == "SpTGNN (full)" and (t11["seeds"] >= 2).all()
        assert {"RMSE", "R2", "paper RMSE", "claim"} <= set(t11.columns)
        assert (t11["claim"].iloc[1:] != "").all()
    if name == "03_training_gwr_family":
        import pandas as pd

        t1 = pd.read_csv(workdir / "tables" / "gpp_4_3_table1.csv")
        assert set(t1["method"]) == {"GWR", "GNNWR", "GTWR", "GTNNWR", "GeoHet"}
        assert t1[["RMSE w1", "RMSE w40", "RMSE overall"]].notna().all().all()
        assert {"paper w40", "claim", "fit s"} <= set(t1.columns)
        t2 = pd.read_csv(workdir / "tables" / "gpp_4_3_table2.csv")
        assert set(t2["method"]) == {"GNNWR", "GeoHet"}
        assert (t2["gap"] - (t2["test RMSE"] - t2["train RMSE"])).abs().max() < 1e-9
        assert (workdir / "figures" / "gpp_03_sec43_figure3.png").exists()
    if name == "01_dataset_building_soc":
        assert (workdir / "tables" / "soc_table3.csv").exists()
        assert (workdir / "data" / "soc" / "smoke" / "corpus.parquet").exists()
    if name == "02_graph_construction_soc":
        for region in ("africa", "europe", "global"):
            assert (workdir / "data" / "soc" / "smoke" / f"graph_{region}.pt").exists()

"""The notebook chain on the smoke profile, headless through papermill (as run_all.sh does)."""

from __future__ import annotations

import json
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
    ("01_dataset_building_soc", "soc", "soc_01_"),
    ("02_graph_construction_soc", "soc", "soc_02_"),
    ("03_training_soc", "soc", "soc_03_"),
]
CHAIN = [c for c in CHAIN if (NOTEBOOKS / f"{c[0]}.ipynb").exists()]


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


@pytest.mark.notebooks
@pytest.mark.parametrize("name,study,prefix", CHAIN, ids=[c[0] for c in CHAIN])
def test_notebook_runs_on_smoke(name, study, prefix, workdir):
    import papermill as pm

    out = workdir / f"{name}.ipynb"
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
    if name == "03_training":
        import pandas as pd

        table = pd.read_csv(workdir / "tables" / "gpp_table2.csv")
        assert {"method", "RMSE", "R2", "paper RMSE", "claim"} <= set(table.columns)
        ran = table.dropna(subset=["RMSE"])
        assert "GeoHet" in set(ran["method"]) and len(ran) >= 10
        assert (workdir / "tables" / "gpp_table2.md").exists()
        assert (workdir / "tables" / "gpp_table2_beyond_recovery.csv").exists()
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

import pandas as pd
import pytest
import torch

from geohet_lib.io import atomic_path, read_json, torch_save, write_json, write_parquet


def test_atomic_file_write_and_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / "x.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("first")
    assert target.read_text() == "first"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]  # no temporary left behind


def test_atomic_directory_replaces_whole_store(tmp_path):
    target = tmp_path / "store.zarr"
    for content in ("v1", "v2"):
        with atomic_path(target, directory=True) as tmp:
            (tmp / "data").write_text(content)
    assert (target / "data").read_text() == "v2"
    with pytest.raises(KeyError):
        with atomic_path(target, directory=True) as tmp:
            (tmp / "data").write_text("broken")
            raise KeyError("boom")
    assert (target / "data").read_text() == "v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.zarr"]


def test_json_parquet_torch_round_trips(tmp_path):
    import numpy as np

    write_json({"a": (1, 2), "b": np.float32(0.5), "c": tmp_path}, tmp_path / "m.json")
    assert read_json(tmp_path / "m.json") == {"a": [1, 2], "b": 0.5, "c": str(tmp_path)}
    df = pd.DataFrame({"x": [1, 2], "y": ["a", "b"]})
    pd.testing.assert_frame_equal(pd.read_parquet(write_parquet(df, tmp_path / "t.parquet")), df)
    torch_save({"w": torch.ones(2)}, tmp_path / "c.pt")
    assert torch.equal(torch.load(tmp_path / "c.pt")["w"], torch.ones(2))

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


def test_resume_checkpoint_restores_states_and_refuses_another_config(tmp_path):
    import torch

    from geohet_lib.io import resume_checkpoint, torch_save

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    sched.step()
    path = torch_save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                       "scheduler": sched.state_dict(), "model_config": {"width": 2},
                       "epoch": 3}, tmp_path / "last.pt")
    fresh = torch.nn.Linear(3, 2)
    opt2 = torch.optim.AdamW(fresh.parameters(), lr=1e-3)
    sched2 = torch.optim.lr_scheduler.StepLR(opt2, 1, gamma=0.5)
    ck = resume_checkpoint(path, "cpu", fresh, opt2, sched2, {"model_config": {"width": 2}})
    assert ck["epoch"] == 3
    for k, v in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v)
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == 5e-4
    assert sched2.state_dict() == sched.state_dict()
    with pytest.raises(ValueError, match="another encoder configuration"):
        resume_checkpoint(path, "cpu", fresh, opt2, None, {"model_config": {"width": 4}},
                          "encoder configuration")
    with pytest.raises(ValueError, match="another configuration"):
        resume_checkpoint(path, "cpu", fresh, opt2, None, {"settings": {"seed": 1}})

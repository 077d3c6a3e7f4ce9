import json

import numpy as np
import pytest
import torch

from geohet_lib.runtime import get_device, peak_rss_gib, seed_everything, stage_log


def test_seed_everything_repeats_numpy_and_torch():
    a = seed_everything(3).normal(size=4), torch.rand(3)
    b = seed_everything(3).normal(size=4), torch.rand(3)
    np.testing.assert_array_equal(a[0], b[0])
    assert torch.equal(a[1], b[1])
    c = seed_everything(4).normal(size=4)
    assert not np.allclose(a[0], c)


def test_get_device():
    assert get_device("cpu").type == "cpu"
    assert get_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown device"):
        get_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA"):
            get_device("cuda")


def test_stage_log_records_files_sizes_and_time(tmp_path):
    with stage_log("demo", tmp_path) as rec:
        (tmp_path / "a.txt").write_text("hello")
        rec.wrote(tmp_path / "a.txt")
        rec.extra = {"rows": 1}
    lines = (tmp_path / "run_log.jsonl").read_text().splitlines()
    entry = json.loads(lines[-1])
    assert entry["stage"] == "demo" and entry["rows"] == 1
    assert entry["files"] == [{"path": str(tmp_path / "a.txt"), "bytes": 5}]
    assert entry["seconds"] >= 0


def test_epoch_seed_depends_on_seed_and_epoch_only():
    from geohet_lib.runtime import epoch_seed

    assert epoch_seed(0, 0) == 0 and epoch_seed(2, 5) == 2 * 100_003 + 5
    seeds = {epoch_seed(s, e) for s in range(5) for e in range(100)}
    assert len(seeds) == 500  # no two (seed, epoch) pairs of a run share a seed


def test_peak_rss_gib_is_a_high_water_mark():
    import resource

    before = peak_rss_gib()
    # ru_maxrss is KiB on Linux: GiB = KiB / 2**20
    assert before == pytest.approx(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, rel=0.05)
    block = np.ones(64 * 2**20 // 8)  # 64 MiB touched
    after = peak_rss_gib()
    assert after >= before and after >= block.nbytes / 2**30

"""Seeded sweeps with a run cache (geohet_lib/sweep.py) and the noise verdict of claims."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geohet_lib.sweep import RunCache, config_key, mean_pm_std, run_sweep, summarise
from geohet_lib.tables import noise_verdict


def test_config_key_ignores_key_order_and_sees_every_value():
    assert config_key({"a": 1, "b": (2, 3)}) == config_key({"b": [2, 3], "a": 1})
    assert config_key({"a": 1}) != config_key({"a": 2})
    assert len(config_key({})) == 16


def test_sweep_trains_each_run_once_and_resumes_after_an_interruption(tmp_path):
    calls = []

    def train(name, cfg, seed):
        calls.append((name, seed))
        if len(calls) == 3 and not getattr(train, "resumed", False):
            raise KeyboardInterrupt  # the third run is interrupted
        return {"rmse": cfg["width"] / 10 + seed / 100}

    variants = {"small": {"width": 8}, "big": {"width": 16}}
    cache = RunCache(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(variants, [0, 1], train, cache)
    assert len(list(tmp_path.glob("*.json"))) == 2  # the two finished runs were kept
    train.resumed = True
    runs = run_sweep(variants, [0, 1], train, cache)
    assert calls[3:] == [("big", 0), ("big", 1)]  # only the missing runs trained again
    assert runs["cached"].tolist() == [True, True, False, False]
    assert runs["rmse"].tolist() == pytest.approx([0.8, 0.81, 1.6, 1.61])
    again = run_sweep(variants, [0, 1], train, cache)
    assert again["cached"].all() and len(calls) == 5


def test_cache_ignores_a_record_of_another_configuration(tmp_path):
    cache = RunCache(tmp_path)
    cache.put({"w": 1}, 0, {"rmse": 1.0}, 2.0)
    path = cache.path({"w": 1}, 0)
    path.write_text(path.read_text().replace('"w": 1', '"w": 2'))
    assert cache.get({"w": 1}, 0) is None


def test_summarise_gives_mean_and_sample_std_in_variant_order():
    runs = pd.DataFrame({"variant": ["b", "b", "a", "a", "a"], "seed": [0, 1, 0, 1, 2],
                         "rmse": [1.0, 3.0, 2.0, 2.0, 5.0]})
    s = summarise(runs, ["rmse"])
    assert s["variant"].tolist() == ["b", "a"]
    assert s["rmse mean"].tolist() == pytest.approx([2.0, 3.0])
    assert s["rmse std"].tolist() == pytest.approx([np.sqrt(2.0), np.sqrt(3.0)])
    assert s["seeds"].tolist() == [2, 3]
    assert mean_pm_std(4.9171, 0.0223) == "4.917 ± 0.022"
    assert mean_pm_std(1.0, float("nan")) == "1.000"


def test_noise_verdict_against_two_standard_errors():
    # means 1.0 vs 2.0; each std 0.1 with n = 3: SE of the difference 0.0816
    a, b = [0.9, 1.0, 1.1], [1.9, 2.0, 2.1]
    assert noise_verdict(a, b) == "holds"
    assert noise_verdict(b, a) == "does not hold"
    assert noise_verdict(a, b, lower_is_better=False) == "does not hold"
    # difference 0.1, SE = sqrt(2 * 0.01 / 3) = 0.0816: 0.1 < 2 SE
    assert noise_verdict([0.9, 1.0, 1.1], [1.0, 1.1, 1.2]) == "within noise"
    # by hand: the boundary sits at 2 SE
    se = np.sqrt(0.01 / 3 + 0.01 / 3)
    assert noise_verdict([0.9, 1.0, 1.1], np.array([0.9, 1.0, 1.1]) + 2.01 * se) == "holds"
    assert noise_verdict([0.9, 1.0, 1.1], np.array([0.9, 1.0, 1.1]) + 1.99 * se) == "within noise"
    assert noise_verdict([1.0], [2.0, 2.1]) == "n/a (one seed)"


def test_cache_keeps_a_run_s_arrays_beside_its_record(tmp_path):
    import numpy as np

    from geohet_lib.sweep import RunCache

    cache, cfg = RunCache(tmp_path), {"model": "a", "epochs": 2}
    assert cache.get_arrays(cfg, 0) is None
    cache.put(cfg, 0, {"rmse": 1.0}, 0.5)  # a record without arrays
    assert cache.get_arrays(cfg, 0) is None
    arrays = {"mean": np.arange(6.0).reshape(2, 3), "var": np.ones(3, np.float32)}
    rec = cache.put(cfg, 1, {"rmse": 2.0}, 0.5, arrays=arrays)
    assert rec["arrays"] == ["mean", "var"]
    got = cache.get_arrays(cfg, 1)
    assert set(got) == {"mean", "var"} and got["var"].dtype == np.float32
    np.testing.assert_array_equal(got["mean"], arrays["mean"])
    assert cache.get_arrays({"model": "b", "epochs": 2}, 1) is None
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left behind


def test_run_cached_trains_only_the_missing_seeds_and_returns_their_arrays(tmp_path):
    import numpy as np

    from geohet_lib.sweep import RunCache, run_cached

    calls = []

    def train(seed):
        calls.append(seed)
        return {"pred": np.full(3, float(seed))}, {"rmse": 1.0 + seed}

    cache, cfg = RunCache(tmp_path), {"model": "m"}
    arrays, recs, cached = run_cached(cfg, [0, 1], train, cache)
    assert calls == [0, 1] and cached == [False, False]
    assert [r["metrics"]["rmse"] for r in recs] == [1.0, 2.0]
    arrays, recs, cached = run_cached(cfg, [0, 1, 2], train, cache)
    assert calls == [0, 1, 2] and cached == [True, True, False]  # only seed 2 trained
    np.testing.assert_array_equal(arrays[1]["pred"], [1.0, 1.0, 1.0])
    assert recs[2]["seed"] == 2

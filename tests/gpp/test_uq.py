"""Stage 05 of the GPP study (geohet_lib/gpp/uq.py): the shift split and the cached members."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geohet_lib.gpp import uq as guq
from geohet_lib.gpp.dataset import read_manifest
from geohet_lib.gpp.samples import open_sample_cache
from geohet_lib.gpp.stage02 import build_stage02


@pytest.fixture(scope="module")
def world(smoke_gpp_dir, smoke_profile):
    graph = build_stage02(smoke_profile, smoke_gpp_dir, seed=0, progress=False)
    cells = pd.read_parquet(smoke_gpp_dir / "cells.parquet")
    return smoke_profile, open_sample_cache(smoke_gpp_dir), cells, graph, read_manifest(smoke_gpp_dir)


def test_shift_split_trains_outside_the_held_out_blocks_and_tests_everywhere(world):
    prof, cache, cells, graph, man = world
    ss = guq.shift_split(cache, cells, graph, man, max_train=50, max_val=20, seed=0)
    sp = ss.split
    held = np.unique(sp.test[ss.unseen, 0])
    assert held.size > 0 and not np.isin(sp.train[:, 0], held).any()
    assert not np.isin(sp.val[:, 0], held).any()
    assert len(sp.train) == 50 and len(sp.val) == 20
    assert sorted(np.unique(sp.test[:, 0])) == list(range(cache.n_cells))  # every cell tested
    assert set(np.unique(sp.test[:, 1])) == set(cache.year_index(man["test_years"]).tolist())
    # a block is held out whole: every cell of an unseen example is unseen in all its examples
    assert set(sp.test[~ss.unseen, 0]).isdisjoint(held)
    again = guq.shift_split(cache, cells, graph, man, max_train=50, max_val=20, seed=0)
    np.testing.assert_array_equal(again.split.train, sp.train)


def test_members_are_trained_once_and_cached(world, tmp_path, monkeypatch):
    prof, cache, cells, graph, man = world
    ss = guq.shift_split(cache, cells, graph, man, max_train=24, max_val=12, seed=0)
    cfg = guq.member_config(prof, 1, 24, 12)
    m = guq.train_members(prof, graph, cache, ss.split, [0, 1], 1, tmp_path, cfg)
    assert m.cached == [False, False]
    assert m.arrays["test_mean"].shape == (2, len(ss.split.test), 46)
    assert m.arrays["val_var"].shape == (2, 12, 46) and np.all(m.arrays["val_var"] > 0)
    assert not np.allclose(m.arrays["test_mean"][0], m.arrays["test_mean"][1])  # seeds differ
    p = m.ensemble("test", np.flatnonzero(ss.unseen))
    assert p.members == 2 and p.mean.shape == (int(ss.unseen.sum()) * 46,)
    monkeypatch.setattr(guq, "train_member", lambda *a, **k: pytest.fail("retrained"))
    again = guq.train_members(prof, graph, cache, ss.split, [0, 1], 1, tmp_path, cfg)
    assert again.cached == [True, True]
    np.testing.assert_array_equal(again.arrays["test_var"], m.arrays["test_var"])

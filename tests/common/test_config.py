import pytest

from geohet_lib.config import PROFILES, data_dir, get_profile


def test_paper_profile_follows_the_paper():
    g = get_profile("paper").gpp
    assert g.grid_res_deg == 0.5
    assert g.years == tuple(range(2001, 2021))
    assert g.test_years == (2020,) and g.train_years == tuple(range(2001, 2020))
    assert (g.graph.n_clusters, g.graph.n_neighbors, g.graph.embedding_dim) == (750, 30, 96)
    assert (g.epochs, g.batch_size) == (20, 256)


@pytest.mark.parametrize("name", PROFILES)
def test_every_profile_has_disjoint_train_and_test_years(name):
    g = get_profile(name).gpp
    assert set(g.train_years).isdisjoint(g.test_years)
    assert set(g.train_years) | set(g.test_years) == set(g.years)
    assert g.graph.n_neighbors < g.graph.n_clusters


def test_profiles_grow_from_smoke_to_paper():
    res = [get_profile(n).gpp.grid_res_deg for n in ("smoke", "default", "paper")]
    assert res == sorted(res, reverse=True)


def test_unknown_profile_and_override_errors():
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        get_profile("fast")
    with pytest.raises(ValueError, match="unknown GPPConfig field"):
        get_profile("smoke", grid_resolution=1.0)
    assert get_profile("smoke", grid_res_deg=10.0).gpp.grid_res_deg == 10.0
    assert get_profile("smoke").gpp.grid_res_deg == 6.0  # overrides do not leak


def test_data_dir_layout(tmp_path):
    p = data_dir("gpp", "smoke", tmp_path)
    assert p == tmp_path / "gpp" / "smoke" and p.is_dir()
    with pytest.raises(ValueError, match="unknown study"):
        data_dir("ndvi", "smoke", tmp_path)
    with pytest.raises(ValueError, match="unknown profile"):
        data_dir("gpp", "huge", tmp_path)
    assert get_profile("smoke").to_dict()["gpp"]["graph"]["n_clusters"] == 24


def test_soc_profiles_follow_the_paper_and_shrink():
    s = get_profile("paper").soc
    assert (s.samples("africa"), s.samples("europe"), s.samples("global")) == (26000, 14000, 49000)
    assert s.patch_size == 224 and s.split == (0.90, 0.05, 0.05) and s.n_strata == 10
    assert s.impute_k == 5 and s.max_distance_km == 2000.0
    for name in PROFILES:
        soc = get_profile(name).soc
        assert soc.samples("africa") + soc.samples("europe") <= soc.samples("global")
    sizes = [get_profile(n).soc.samples("global") for n in ("smoke", "default", "paper")]
    assert sizes == sorted(sizes)
    with pytest.raises(ValueError, match="unknown region"):
        s.samples("asia")


def test_section43_profiles():
    assert get_profile("paper").gpp.sec43.n_cells == 6000
    assert get_profile("paper").gpp.sec43.report_weeks == (1, 10, 20, 30, 40)
    assert get_profile("smoke").gpp.sec43.n_cells < get_profile("default").gpp.sec43.n_cells

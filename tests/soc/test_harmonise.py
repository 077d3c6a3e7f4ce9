"""Harmonisation of real soil samples (SOC paper 4.1) on small messy files."""

import hashlib

import numpy as np
import pandas as pd
import pytest

from geohet_lib.errors import InputDataError
from geohet_lib.soc.covariates import COVARIATE_NAMES
from geohet_lib.soc.harmonise import (ACCEPTED_UNITS, VAN_BEMMELEN, assign_area,
                                      convert_soc_units, harmonise, harmonise_file,
                                      select_topsoil)

D1M = 1.0 / 111_195.0  # about one metre of latitude, in degrees
PARIS = (48.85, 2.35)


def _messy() -> pd.DataFrame:
    rows = [
        # sample_id, lat, lon, date, year, top, bottom, value, unit
        ("ok_pct", -1.29, 36.82, "2018-05-01", None, 0, 20, 1.5, "%"),
        ("ok_gkg", *PARIS, "2018-06-01", None, 0, 30, 12.0, "g/kg"),
        ("dup_05m", PARIS[0] + 0.5 * D1M, PARIS[1], "2018-06-01", None, 0, 30, 13.0, "g/kg"),
        ("same_place_other_date", *PARIS, "2019-06-01", None, 0, 30, 11.0, "g/kg"),
        ("two_metres_away", PARIS[0] + 2 * D1M, PARIS[1], "2018-06-01", None, 0, 30, 12.5,
         "g/kg"),
        ("no_lat", None, 10.0, "2018-06-01", None, 0, 20, 10.0, "g/kg"),
        ("null_island", 0.0, 0.0, "2018-06-01", None, 0, 20, 10.0, "g/kg"),
        ("lat_95", 95.0, 10.0, "2018-06-01", None, 0, 20, 10.0, "g/kg"),
        ("soc_zero", 45.0, 10.0, "2018-06-01", None, 0, 20, 0.0, "g/kg"),
        ("soc_700", 45.1, 10.0, "2018-06-01", None, 0, 20, 700.0, "g/kg"),
        ("deep", 45.2, 10.0, "2018-06-01", None, 0, 50, 10.0, "g/kg"),
        ("sub_top", 45.3, 10.0, "2018-06-01", None, 10, 20, 10.0, "g/kg"),
        ("upside_down", 45.4, 10.0, "2018-06-01", None, 20, 10, 10.0, "g/kg"),
        ("no_date", 45.5, 10.0, None, None, 0, 20, 10.0, "g/kg"),
        ("no_bottom", 45.6, 10.0, "2018-06-01", None, 0, None, 10.0, "g/kg"),
        ("no_unit", 45.7, 10.0, "2018-06-01", None, 0, 20, 10.0, None),
        ("som", 45.8, 10.0, "2018-06-01", None, 0, 20, 2.0 * VAN_BEMMELEN, "SOM %"),
        ("mg_g", 45.9, 10.0, "2018-06-01", None, 0, 20, 25.0, "mg/g"),
        ("g_100g", 46.0, 10.0, "2018-06-01", None, 0, 20, 2.0, "g/100g"),
        ("permille", 46.1, 10.0, "2018-06-01", None, 0, 20, 18.0, "‰"),
        ("lon_360", 10.0, 200.0, "2018-06-01", None, 0, 20, 9.0, "g/kg"),
        ("year_only", 46.2, 10.0, None, 2017, 0, 30, 14.0, "g/kg"),
        ("mg_kg", 46.3, 10.0, "2018-06-01", None, 5, 15, 15000.0, "mg/kg"),
    ]
    df = pd.DataFrame(rows, columns=["sample_id", "lat", "lon", "date", "year", "depth_top_cm",
                                     "depth_bottom_cm", "soc_value", "soc_unit"])
    df["source"] = "test db"
    df["notes"] = "free text"
    return df


@pytest.fixture()
def messy_csv(tmp_path):
    path = tmp_path / "samples.csv"
    _messy().to_csv(path, index=False)
    return path


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_rule_and_the_report(messy_csv):
    before = _digest(messy_csv)
    out, rep = harmonise_file(messy_csv)
    assert _digest(messy_csv) == before  # the user's file is untouched
    assert rep.n_input == 23
    assert rep.incomplete_metadata == 3  # no_date, no_bottom, no_unit
    assert rep.missing_coordinates == 2  # no_lat, null_island
    assert rep.implausible_coordinates == 1  # lat_95
    assert rep.implausible_soc == 2  # soc_zero, soc_700
    assert rep.not_topsoil == 1 and rep.invalid_depth == 1
    assert rep.duplicates == 1
    assert rep.longitudes_wrapped == 1 and rep.reprojected == 0
    assert rep.n_output == 12 == len(out) == rep.n_input - rep.dropped
    assert rep.ignored_columns == ["notes"]
    kept = set(out["sample_id"])
    assert kept == {"ok_pct", "ok_gkg", "same_place_other_date", "two_metres_away", "sub_top",
                    "som", "mg_g", "g_100g", "permille", "lon_360", "year_only", "mg_kg"}
    soc = out.set_index("sample_id")["soc_gkg"]
    for sid, v in {"ok_pct": 15.0, "ok_gkg": 12.0, "som": 20.0, "mg_g": 25.0, "g_100g": 20.0,
                   "permille": 18.0, "mg_kg": 15.0}.items():
        assert soc[sid] == pytest.approx(v), sid
    row = out.set_index("sample_id").loc["lon_360"]
    assert row["lon"] == pytest.approx(-160.0)
    y = out.set_index("sample_id").loc["year_only"]
    assert y["year"] == 2017 and pd.isna(y["doy"])
    assert out.set_index("sample_id").loc["ok_pct", "doy"] == 121
    assert (out["depth_bottom_cm"] <= 30).all() and (out["depth_top_cm"] >= 0).all()
    assert (out["source"] == "test db").all()
    assert out.set_index("sample_id").loc["ok_pct", "area"] == "africa"
    assert out.set_index("sample_id").loc["ok_gkg", "area"] == "europe"
    assert set(out["input_row"]) <= set(range(23))
    text = str(rep)
    assert "duplicates" in text and "not topsoil" in text and "%: 1" in text
    table = rep.to_frame()
    assert table["remaining"].iloc[-1] == 12 and table["removed"].sum() == 11


def test_dataframe_passed_in_is_not_modified():
    df = _messy()
    before = df.copy()
    harmonise(df)
    pd.testing.assert_frame_equal(df, before)


def test_unknown_unit_is_an_error_listing_accepted_units():
    df = _messy()
    df.loc[3, "soc_unit"] = "kg/ha"
    with pytest.raises(InputDataError) as e:
        harmonise(df)
    msg = str(e.value)
    assert "kg/ha" in msg and "Accepted" in msg and "'g/kg'" in msg and "'SOM %'".lower() in msg
    assert "same_place_other_date" in msg
    assert "g/kg" in ACCEPTED_UNITS and "%" in ACCEPTED_UNITS


def test_units_are_case_and_space_insensitive_and_som_factor_is_a_parameter():
    df = pd.DataFrame({"soc_value": [1.0, 1.0, 1.0], "soc_unit": [" G/KG ", "som  %", "PERCENT"],
                       "sample_id": ["a", "b", "c"]})
    out = convert_soc_units(df, som_to_soc=2.0)
    np.testing.assert_allclose(out["soc_gkg"], [1.0, 5.0, 10.0])
    with pytest.raises(ValueError, match="som_to_soc"):
        convert_soc_units(df, som_to_soc=0)


def test_topsoil_rule_alone():
    df = pd.DataFrame({"depth_top_cm": [0, 0, 10, 25, 30, -5, 15],
                       "depth_bottom_cm": [30, 30.5, 20, 30, 40, 10, 15]})
    out = select_topsoil(df)
    assert list(out.index) == [0, 2, 3]


def test_missing_columns_error_names_them():
    df = _messy().drop(columns=["soc_unit", "lat"])
    with pytest.raises(InputDataError, match="soc_unit") as e:
        harmonise(df)
    assert "lat/lon" in str(e.value)


def test_reprojection_with_pyproj(tmp_path):
    from pyproj import Transformer

    pts = {"EPSG:32737": (-1.29, 36.82), "EPSG:3035": PARIS, "EPSG:4326": (52.0, 5.0)}
    rows = []
    for i, (crs, (la, lo)) in enumerate(pts.items()):
        x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lo, la)
        rows.append({"sample_id": f"p{i}", "x": x, "y": y, "crs": crs, "year": 2020,
                     "depth_top_cm": 0, "depth_bottom_cm": 20, "soc_value": 10,
                     "soc_unit": "g/kg"})
    path = tmp_path / "projected.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    out, rep = harmonise_file(path)
    assert rep.reprojected == 2 and rep.n_output == 3
    for (la, lo), (_, r) in zip(pts.values(), out.iterrows()):
        assert r["lat"] == pytest.approx(la, abs=1e-7) and r["lon"] == pytest.approx(lo, abs=1e-7)
    assert list(out["area"]) == ["africa", "europe", "europe"]
    bad = pd.DataFrame(rows).assign(crs="EPSG:999999")
    with pytest.raises(InputDataError, match="EPSG:999999"):
        harmonise(bad)


def test_geopackage_in_a_projected_crs(tmp_path):
    import geopandas as gpd
    from shapely.geometry import Point

    lat = np.array([48.85, 48.86, 50.0, 41.9])
    lon = np.array([2.35, 2.36, 8.0, 12.5])
    gdf = gpd.GeoDataFrame(
        {"sample_id": ["g1", "g2", "g3", "g4"], "date": ["2018-05-02"] * 4,
         "depth_top_cm": [0, 0, 0, 0], "depth_bottom_cm": [20, 20, 60, 20],
         "soc_value": [1.2, 2.5, 3.0, 0.9], "soc_unit": ["%"] * 4, "source": "LUCAS",
         "ndvi_p50": [0.5, 0.6, 0.7, 0.4]},
        geometry=[Point(x, y) for x, y in zip(lon, lat)], crs="EPSG:4326").to_crs("EPSG:3035")
    path = tmp_path / "samples.gpkg"
    gdf.to_file(path, driver="GPKG")
    before = _digest(path)
    out, rep = harmonise_file(path)
    assert _digest(path) == before
    assert rep.reprojected == 4 and rep.not_topsoil == 1 and rep.n_output == 3
    np.testing.assert_allclose(out["lat"], lat[[0, 1, 3]], atol=1e-7)
    np.testing.assert_allclose(out["lon"], lon[[0, 1, 3]], atol=1e-7)
    np.testing.assert_allclose(out["soc_gkg"], [12.0, 25.0, 9.0])
    np.testing.assert_allclose(out["ndvi_p50"], [0.5, 0.6, 0.4])  # covariates carried
    assert (out["area"] == "europe").all() and (out["source"] == "LUCAS").all()
    # a crs attribute column that contradicts the layer's CRS is an error, not a silent win
    gdf.assign(crs="EPSG:4326").to_file(tmp_path / "conflict.gpkg", driver="GPKG")
    with pytest.raises(InputDataError, match=r"crs says 'EPSG:4326' but the layer's geometry is in EPSG:3035"):
        harmonise_file(tmp_path / "conflict.gpkg")
    gdf.assign(crs="EPSG:3035").to_file(tmp_path / "agree.gpkg", driver="GPKG")
    assert harmonise_file(tmp_path / "agree.gpkg")[1].n_output == 3


def test_assign_area_known_places():
    lat = np.array([-1.29, 48.85, 55.75, 40.71, 4.93, 30.04, 64.1, -33.9, 51.5])
    lon = np.array([36.82, 2.35, 37.62, -74.0, -52.33, 31.24, -21.9, 18.42, -0.12])
    # Nairobi, Paris, Moscow, New York, Cayenne (French Guiana), Cairo, Reykjavik,
    # Cape Town, London
    assert list(assign_area(lat, lon)) == ["africa", "europe", "other", "other", "other",
                                           "africa", "europe", "africa", "europe"]


def test_real_corpus_stage01_with_patches(tmp_path):
    from geohet_lib.config import get_profile
    from geohet_lib.soc.patches import NpyPatchSource
    from geohet_lib.soc.stage01 import build_real_soc_corpus, load_corpus, open_patches

    rng = np.random.default_rng(0)
    n = 64
    df = pd.DataFrame({"sample_id": [f"s{i}" for i in range(n)],
                       "lat": np.r_[rng.uniform(-5, 5, 32), rng.uniform(45, 50, 32)],
                       "lon": np.r_[rng.uniform(30, 38, 32), rng.uniform(0, 10, 32)],
                       "year": 2019, "depth_top_cm": 0, "depth_bottom_cm": 20,
                       "soc_value": rng.lognormal(2.5, 0.6, n), "soc_unit": "g/kg"})
    df.loc[5, "depth_bottom_cm"] = 100  # dropped: not topsoil
    for c in COVARIATE_NAMES:
        df[c] = rng.normal(size=n)
    path = tmp_path / "real.csv"
    df.to_csv(path, index=False)
    pdir = tmp_path / "user_patches"
    pdir.mkdir()
    for key, c in (("s2", 11), ("s1", 2), ("dem", 1)):
        a = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None, None], (n, c, 8, 8))
        np.save(pdir / f"{key}.npy", np.ascontiguousarray(a))
    out = tmp_path / "soc_real"
    out.mkdir()
    pd.DataFrame({"sample_id": ["old"], "hidden_clay": [0.3]}).to_parquet(
        out / "ground_truth.parquet")  # left by an earlier synthetic run in this folder
    m = build_real_soc_corpus(get_profile("smoke"), out, path, patches_dir=pdir)
    assert not (out / "ground_truth.parquet").exists()  # real data have no ground truth
    assert m["source"] == "real" and m["counts"]["total"] == n - 1
    assert m["counts"]["area"] == {"africa": 31, "europe": 32}
    corpus = load_corpus(out)
    assert list(corpus.columns[:10]) == ["sample_id", "area", "source", "lat", "lon", "year",
                                         "doy", "depth_top_cm", "depth_bottom_cm", "soc_gkg"]
    assert set(corpus["split_global"]) == {"train", "val", "test"}
    assert corpus["split_africa"].isna().sum() == 32
    src = open_patches(out)
    assert isinstance(src, NpyPatchSource) and len(src) == n - 1
    got = src.get(np.arange(n - 1))["s2"][:, 0, 0, 0]
    np.testing.assert_array_equal(got, np.r_[0:5, 6:n].astype(np.float32))  # row 5 dropped
    assert (out / "harmonisation.csv").exists()
    with pytest.raises(ValueError, match="covariates"):
        build_real_soc_corpus(get_profile("smoke"), tmp_path / "x",
                              _write(tmp_path, df.drop(columns=["npp"])))


def _write(tmp_path, df):
    p = tmp_path / "no_npp.csv"
    df.to_csv(p, index=False)
    return p


def _two_rows(dates=("2018-05-01", "2018-06-01")) -> pd.DataFrame:
    return pd.DataFrame({"sample_id": ["a", "b"], "lat": [-1.29, 48.85], "lon": [36.82, 2.35],
                         "date": list(dates), "depth_top_cm": [0, 0], "depth_bottom_cm": [20, 20],
                         "soc_value": [12.0, 15.0], "soc_unit": ["g/kg", "g/kg"]})


def test_european_csv_exports_are_read_with_their_separator_and_decimal_mark(tmp_path):
    df = _two_rows()
    semi = tmp_path / "semicolon.csv"
    df.to_csv(semi, sep=";", decimal=",", index=False, encoding="cp1252")
    before = semi.read_bytes()
    out, rep = harmonise_file(semi)
    assert semi.read_bytes() == before  # the user's file is only read
    assert rep.n_output == 2 and out["soc_gkg"].tolist() == [12.0, 15.0]
    assert out["lat"].round(2).tolist() == [-1.29, 48.85]
    quoted = tmp_path / "quoted.csv"  # comma-separated with quoted decimal commas
    df.assign(soc_value=["12,5", "15,0"]).to_csv(quoted, index=False)  # pandas quotes them
    out, _ = harmonise_file(quoted)
    assert out["soc_gkg"].tolist() == [12.5, 15.0]
    tab = tmp_path / "utf16.csv"
    df.assign(source="Bodenprobe München").to_csv(tab, sep="\t", index=False, encoding="utf-16")
    out, _ = harmonise_file(tab)
    assert len(out) == 2 and out["source"].iloc[1] == "Bodenprobe München"


def test_slash_dates_must_say_which_field_is_the_day():
    with pytest.raises(InputDataError, match=r"'01/05/2018'.*dayfirst=True"):
        harmonise(_two_rows(("01/05/2018", "02/06/2018")))
    out, _ = harmonise(_two_rows(("01/05/2018", "02/06/2018")), dayfirst=True)
    assert out["date"].tolist() == ["2018-05-01", "2018-06-02"]
    out, _ = harmonise(_two_rows(("01/05/2018", "13/06/2018")))  # 13 can only be a day
    assert out["date"].tolist() == ["2018-05-01", "2018-06-13"]
    with pytest.raises(InputDataError, match="contradicts"):
        harmonise(_two_rows(("01/05/2018", "13/06/2018")), dayfirst=False)
    with pytest.raises(InputDataError, match="both day-first"):
        harmonise(_two_rows(("13/05/2018", "05/13/2018")))


def test_shapefile_truncated_field_names_are_accepted(tmp_path):
    """dBase keeps 10 characters: depth_top_cm arrives as depth_top_, depth_bottom_cm as
    depth_bott; a Shapefile of the same samples harmonises like the CSV."""
    import geopandas as gpd

    df = _two_rows()
    gdf = gpd.GeoDataFrame(df.drop(columns=["lat", "lon"]),
                           geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs="EPSG:4326")
    path = tmp_path / "samples.shp"
    import warnings

    with warnings.catch_warnings():  # GDAL says it truncates ("launders") the names
        warnings.simplefilter("ignore")
        gdf.to_file(path)
    assert {"depth_top_", "depth_bott"} <= set(gpd.read_file(path).columns)
    out, rep = harmonise_file(path)
    assert rep.n_output == 2 and out["depth_bottom_cm"].tolist() == [20.0, 20.0]


def test_swapped_lat_lon_is_an_error_naming_a_sample():
    """Kenyan and French samples with lat and lon exchanged land in the Mediterranean and the
    Indian Ocean; the same samples the right way round harmonise."""
    rng = np.random.default_rng(0)
    n = 30
    lat = np.r_[rng.uniform(-3.0, 2.0, n), rng.uniform(45.0, 48.0, n)]   # Kenya, France
    lon = np.r_[rng.uniform(35.5, 38.5, n), rng.uniform(0.5, 4.5, n)]
    df = pd.DataFrame({"sample_id": [f"s{i}" for i in range(2 * n)], "lat": lat, "lon": lon,
                       "date": "2018-05-01", "depth_top_cm": 0, "depth_bottom_cm": 20,
                       "soc_value": 12.0, "soc_unit": "g/kg"})
    out, _ = harmonise(df)
    assert len(out) == 2 * n
    swapped = df.rename(columns={"lat": "lon", "lon": "lat"})
    with pytest.raises(InputDataError, match=r"look swapped.*fall in the sea as given \(sample 's"):
        harmonise(swapped, source="my_samples.csv")


def test_swapped_kenyan_samples_alone_are_detected():
    """Only Kenyan samples, swapped: about half land on Mediterranean shores (Spain, Algeria,
    Italy), so 'most in the sea' alone misses them; all of them are on land the right way."""
    from geohet_lib.land import is_land

    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(-4.6, 4.6, 2000), rng.uniform(34.0, 41.9, 2000)
    on = is_land(lat, lon)
    lat, lon = lat[on][:200], lon[on][:200]
    df = pd.DataFrame({"sample_id": [f"k{i}" for i in range(len(lat))], "lat": lon, "lon": lat,
                       "date": "2018-05-01", "depth_top_cm": 0, "depth_bottom_cm": 20,
                       "soc_value": 12.0, "soc_unit": "g/kg"})
    assert 0.5 < is_land(df["lat"].to_numpy(), df["lon"].to_numpy()).mean() < 0.7
    with pytest.raises(InputDataError, match=r"look swapped.*100% on land with the two exchanged"):
        harmonise(df, source="kenya.csv")
    right = df.rename(columns={"lat": "lon", "lon": "lat"})
    assert len(harmonise(right)[0]) == len(df)

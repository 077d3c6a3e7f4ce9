"""Property test of the SOC harmonisation (SOC paper 4.1) over random user columns.

Whatever mix of units, dates, coordinates and depths a file holds: no kept row has a value
outside the documented ranges, every dropped row is counted under exactly one reason, the
caller's frame is unchanged, and each kept value is its input times its unit's factor.
"""

import numpy as np
import pandas as pd
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from geohet_lib.errors import InputDataError  # noqa: E402
from geohet_lib.soc.harmonise import (ACCEPTED_UNITS, SOC_MAX_PLAUSIBLE_GKG,  # noqa: E402
                                      TOPSOIL_MAX_CM, VAN_BEMMELEN, _UNIT_FACTORS, harmonise)

finite = st.floats(allow_nan=False, allow_infinity=False)
maybe_nan = st.one_of(st.just(np.nan), finite)
lat = st.one_of(st.floats(-90, 90), st.floats(-200, 200), st.just(np.nan), st.just(0.0))
lon = st.one_of(st.floats(-180, 180), st.floats(180, 360), st.floats(-400, 400),
                st.just(np.nan), st.just(0.0))
depth = st.one_of(st.floats(-10, 200), st.sampled_from([0.0, 5.0, 10.0, 20.0, 30.0, 30.5]),
                  st.just(np.nan))
value = st.one_of(st.floats(-5, 1000), st.floats(0, 80), st.just(np.nan))
unit = st.one_of(st.sampled_from(ACCEPTED_UNITS), st.sampled_from([" G/KG ", "%", "Mg/Kg"]),
                 st.none())
date = st.one_of(st.dates(pd.Timestamp("1990-01-01").date(), pd.Timestamp("2030-12-31").date())
                 .map(lambda d: d.isoformat()), st.none())
year = st.one_of(st.integers(1990, 2030).map(float), st.just(np.nan))

any_row = st.fixed_dictionaries({"lat": lat, "lon": lon, "depth_top_cm": depth,
                                 "depth_bottom_cm": depth, "soc_value": value, "soc_unit": unit,
                                 "date": date, "year": year})
# a plausible topsoil sample (kept unless a duplicate), so that kept rows are common
valid_row = st.fixed_dictionaries({
    "lat": st.floats(-60, 70), "lon": st.floats(-180, 180),
    "depth_top_cm": st.sampled_from([0.0, 5.0]), "depth_bottom_cm": st.floats(10, 30),
    "soc_value": st.floats(0.1, 50), "soc_unit": st.sampled_from(["g/kg", "%", "SOM %"]),
    "date": date, "year": st.integers(1990, 2030).map(float)})
row = st.one_of(any_row, valid_row)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row, min_size=1, max_size=30))
def test_harmonisation_keeps_only_valid_rows_and_counts_every_drop(rows):
    df = pd.DataFrame(rows)
    df.insert(0, "sample_id", [f"s{i}" for i in range(len(df))])
    before = df.copy(deep=True)
    try:
        out, rep = harmonise(df, source="prop")
    except InputDataError as err:  # only the swapped lat/lon check may refuse such a file
        assert "look swapped" in str(err)
        assume(False)
    pd.testing.assert_frame_equal(df, before)  # the caller's frame is untouched
    # every dropped row is counted under one reason
    assert rep.n_input == len(df) and rep.n_output == len(out)
    assert rep.n_input - rep.dropped == rep.n_output
    assert all(getattr(rep, k) >= 0 for k in rep._DROPS)
    # nothing kept outside the documented ranges
    assert ((out["soc_gkg"] > 0) & (out["soc_gkg"] <= SOC_MAX_PLAUSIBLE_GKG)).all()
    assert out["lat"].between(-90, 90).all() and out["lon"].between(-180, 180).all()
    top, bot = out["depth_top_cm"], out["depth_bottom_cm"]
    assert ((top >= 0) & (top < bot) & (bot <= TOPSOIL_MAX_CM)).all()
    assert out["year"].notna().all()
    hypothesis.event(f"kept rows: {'none' if rep.n_output == 0 else 'some'}")
    assert not ((out["lat"] == 0) & (out["lon"] == 0)).any()
    # each kept value is its input converted by its unit's factor
    assert out["input_row"].is_unique and out["input_row"].isin(range(len(df))).all()
    for _, r in out.iterrows():
        f, som = _UNIT_FACTORS[" ".join(str(r["soc_unit_original"]).strip().lower().split())]
        want = r["soc_value_original"] * (f / VAN_BEMMELEN if som else f)
        assert r["soc_gkg"] == pytest.approx(want, rel=1e-12)
        assert r["soc_value_original"] == df.loc[r["input_row"], "soc_value"]

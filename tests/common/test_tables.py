"""geohet_lib.tables: the claims-column wording and the CSV / Markdown writer."""

import numpy as np
import pandas as pd

from geohet_lib.tables import verdict, write_table


def test_verdict_wording():
    assert verdict(True) == "holds"
    assert verdict(False) == "does not hold"
    assert verdict(None) == "n/a (not run)"
    assert verdict(np.bool_(True)) == "holds" and verdict(np.bool_(False)) == "does not hold"
    assert verdict(bool(np.float64(1.0) < 2.0)) == "holds"


def test_write_table(tmp_path):
    df = pd.DataFrame({"method": ["A", "B"], "rmse": [1.23456, np.nan], "n": [3, 4]})
    csv, md = write_table(df, "demo", tmp_path, "A title", notes="some notes")
    assert pd.read_csv(csv)["n"].tolist() == [3, 4]
    text = md.read_text()
    assert text.startswith("# A title\n") and "| A | 1.235 | 3 |" in text and "| B |  | 4 |" in text
    assert text.rstrip().endswith("some notes")


def test_manifest_table_shows_every_value_in_full():
    from geohet_lib.tables import manifest_table

    years = list(range(2001, 2021))
    t = manifest_table({"study": "gpp", "years": years, "stats": {"mean": 1.5},
                        "nested": [[1, 2]], "n": 3})
    assert list(t.index) == ["study", "years", "stats", "nested", "n"]
    assert t.loc["years", "value"] == ", ".join(str(y) for y in years)  # all 20, not cut
    assert t.loc["stats", "value"] == '{"mean": 1.5}'
    assert t.loc["nested", "value"] == "[[1, 2]]" and t.loc["n", "value"] == "3"
    html = t.style.to_html()
    assert "2001, 2002" in html and "2019, 2020" in html

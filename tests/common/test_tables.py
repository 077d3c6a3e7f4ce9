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

"""Writing regenerated tables: CSV and Markdown, the paper's values beside this run's, and the
wording of the claims columns (:func:`verdict`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .io import atomic_path

VERDICTS = {True: "holds", False: "does not hold", None: "n/a (not run)"}


def verdict(ok: bool | None) -> str:
    """The claims-column wording of a checked paper claim: ``"holds"``, ``"does not hold"``, or
    ``"n/a (not run)"`` when ``ok`` is None (the run lacks a method the claim needs)."""
    return VERDICTS[None if ok is None else bool(ok)]


NOISE_VERDICTS = ("holds", "within noise", "does not hold")


def noise_verdict(better: Any, worse: Any, lower_is_better: bool = True,
                  n_se: float = 2.0) -> str:
    """Judge the claim "``better`` beats ``worse``" from per-seed values, against seed noise.

    The difference of means in the claimed direction is compared with ``n_se`` standard errors
    of that difference, ``sqrt(s_a^2 / n_a + s_b^2 / n_b)`` (sample variances, ddof = 1):
    ``"holds"`` beyond it, ``"does not hold"`` beyond it the other way, ``"within noise"``
    in between. With fewer than two seeds on either side the noise is unknown:
    ``"n/a (one seed)"``.
    """
    a = np.asarray(better, dtype=np.float64).ravel()
    b = np.asarray(worse, dtype=np.float64).ravel()
    if a.size < 2 or b.size < 2:
        return "n/a (one seed)"
    gain = (b.mean() - a.mean()) if lower_is_better else (a.mean() - b.mean())
    se = float(np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size))
    if gain > n_se * se:
        return "holds"
    if gain < -n_se * se:
        return "does not hold"
    return "within noise"


def manifest_table(manifest: Mapping[str, Any]) -> pd.DataFrame:
    """A stage manifest as a ``key, value`` table with every value in full: lists joined with
    commas, nested mappings as compact JSON (for notebooks: ``manifest_table(m).style`` renders
    HTML without pandas' cell truncation)."""
    def text(v: Any) -> str:
        if isinstance(v, (list, tuple)) and all(not isinstance(x, (list, tuple, dict)) for x in v):
            return ", ".join(str(x) for x in v)
        if isinstance(v, (list, tuple, dict)):
            return json.dumps(v, default=str)
        return str(v)

    return pd.DataFrame({"value": [text(v) for v in manifest.values()]},
                        index=pd.Index(list(manifest), name="key"))


def to_markdown(df: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """A GitHub-flavoured Markdown table (no optional dependency on ``tabulate``)."""
    def fmt(v) -> str:
        if v is None or (not isinstance(v, str) and pd.api.types.is_scalar(v) and pd.isna(v)):
            return ""
        return format(v, floatfmt) if isinstance(v, float) else str(v)

    cols = list(df.columns)
    lines = ["| " + " | ".join(str(c) for c in cols) + " |",
             "|" + "|".join("---" for _ in cols) + "|"]
    # column by column (a row of mixed types would turn integer counts into floats)
    cells = [[fmt(v.item() if hasattr(v, "item") else v) for v in df[c].tolist()] for c in cols]
    for i in range(len(df)):
        lines.append("| " + " | ".join(col[i] for col in cells) + " |")
    return "\n".join(lines) + "\n"


def write_table(df: pd.DataFrame, stem: str, tables_dir: str | Path, title: str,
                notes: str = "") -> list[Path]:
    """Write ``<tables_dir>/<stem>.csv`` and ``.md`` (title, table, notes), atomically."""
    tables_dir = Path(tables_dir)
    tables_dir.mkdir(parents=True, exist_ok=True)
    csv, md = tables_dir / f"{stem}.csv", tables_dir / f"{stem}.md"
    with atomic_path(csv) as tmp:
        df.to_csv(tmp, index=False)
    with atomic_path(md) as tmp:
        tmp.write_text(f"# {title}\n\n{to_markdown(df)}\n{notes.strip()}\n")
    return [csv, md]

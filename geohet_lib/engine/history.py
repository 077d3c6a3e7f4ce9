"""The one training-history format: one row per epoch, as Lightning's CSV logger writes it.

:class:`History` is what every ``fit`` returns and what every loss-curve figure reads. Its
columns are the metrics a task logs at the end of an epoch (``train_*``, ``val_*``, ``lr``,
``seconds``, ``samples_per_s`` and the task's own); ``history.val_rmse`` gives a column as a
list. ``best_epoch`` is 0-based (the epoch whose weights were kept). :meth:`History.read_csv`
reads the ``metrics.csv`` of a ``lightning`` ``CSVLogger`` (several rows per epoch, merged).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class History:
    """Per-epoch records of one training run (the epoch number is the row position + 1)."""

    records: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        """Number of epochs run."""
        return len(self.records)

    @property
    def columns(self) -> list[str]:
        """Metric names in first-seen order."""
        seen: dict[str, None] = {}
        for r in self.records:
            seen.update(dict.fromkeys(r))
        return list(seen)

    def column(self, name: str) -> list[Any]:
        """One metric over the epochs (NaN where an epoch did not log it)."""
        if name not in self.columns:
            raise KeyError(f"the history has no metric {name!r}; it has {self.columns}")
        return [r.get(name, float("nan")) for r in self.records]

    def __getattr__(self, name: str) -> list[Any]:
        if name.startswith("__") or name in ("records", "best_epoch", "stopped_early"):
            raise AttributeError(name)
        try:
            return self.column(name)
        except KeyError as err:
            raise AttributeError(str(err)) from None

    def best(self) -> dict[str, Any]:
        """The kept epoch's record with its 1-based ``epoch`` (empty before any epoch)."""
        if self.best_epoch < 0:
            return {}
        return {"epoch": self.best_epoch + 1, **self.records[self.best_epoch]}

    def to_frame(self) -> pd.DataFrame:
        """One row per epoch, column ``epoch`` 1-based first."""
        df = pd.DataFrame(self.records, columns=self.columns)
        df.insert(0, "epoch", np.arange(1, len(df) + 1))
        return df

    def to_dict(self) -> dict[str, Any]:
        """Plain types (for checkpoints and JSON)."""
        return {"records": [dict(r) for r in self.records], "best_epoch": int(self.best_epoch),
                "stopped_early": bool(self.stopped_early)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        """Inverse of :meth:`to_dict`."""
        return cls([dict(r) for r in d["records"]], int(d["best_epoch"]),
                   bool(d.get("stopped_early", False)))

    @classmethod
    def read_csv(cls, path: str | Path, monitor: str = "val_loss") -> History:
        """A history from a Lightning ``CSVLogger`` ``metrics.csv`` (rows merged per epoch);
        the best epoch is the one with the lowest ``monitor``."""
        df = pd.read_csv(path)
        if "epoch" not in df:
            raise ValueError(f"{path} has no 'epoch' column: not a Lightning metrics.csv")
        df = df.drop(columns=[c for c in ("step",) if c in df]).groupby("epoch").first()
        records = [{k: float(v) for k, v in row.items() if pd.notna(v)}
                   for _, row in df.sort_index().iterrows()]
        best = int(np.nanargmin(df[monitor].to_numpy())) if monitor in df else -1
        return cls(records, best)

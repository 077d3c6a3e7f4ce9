"""The one checkpoint format: Lightning's checkpoint dictionary.

``last.ckpt`` (written every epoch, for resuming: weights, optimiser, loops, callbacks, the
task's history and best weights) and ``best.ckpt`` (written at the end of a fit: the best
weights, the model configuration in ``hyper_parameters``, the history and the task's extras in
``"geohet"``). Both are plain ``torch.save`` dictionaries; :func:`load_checkpoint` reads either
on any machine: tensors saved from CUDA are mapped to ``map_location`` (CPU by default).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .history import History

LAST_NAME = "last.ckpt"
BEST_NAME = "best.ckpt"


def model_state(checkpoint: dict[str, Any], prefix: str = "model.") -> dict[str, Any]:
    """The model's weights in a Lightning checkpoint dict, without the task's ``prefix``."""
    return {k[len(prefix):]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)}


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu",
                    prefix: str = "model.") -> dict[str, Any]:
    """``{"state_dict", "hparams", "history", "extra", "epoch"}`` of a checkpoint.

    ``state_dict`` holds the model's weights without the task's ``prefix`` (ready for
    ``model.load_state_dict``); ``hparams`` the model configuration and settings the task was
    built with. Only load checkpoints you trust (``weights_only=False``: they hold plain Python
    containers of settings besides tensors).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        ck = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # noqa: BLE001 - name the file in every failure
        raise ValueError(f"{path} could not be read as a checkpoint ({err}); delete it and "
                         "train again") from err
    if not isinstance(ck, dict) or "state_dict" not in ck:
        raise ValueError(f"{path} is not a geohet / Lightning checkpoint (no 'state_dict')")
    sd = model_state(ck, prefix)
    state = ck.get("geohet", {})
    hist = state.get("history")
    return {"state_dict": sd, "hparams": dict(ck.get("hyper_parameters") or {}),
            "history": History.from_dict(hist) if hist else History(),
            "extra": state.get("extra", {}), "epoch": ck.get("epoch")}

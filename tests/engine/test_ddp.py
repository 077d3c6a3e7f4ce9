"""DDP equals one process (issue 11): two CPU processes (gloo) with a per-process batch of
b/2 reach, after the same optimiser steps, the weights of one process with batch b.

One exception, checked separately: the key bias of a softmax attention (the middle third of
``nn.MultiheadAttention.in_proj_bias``) shifts every score of a query by the same amount, so
its true gradient is exactly zero; what reaches it is float rounding, which differs with the
summation order, and AdamW normalises that noise into steps of up to ``lr``. Those entries
stay within ``lr x steps`` of each other, not within 1e-5.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("ddp_worker.py")


def _weights(tmp_path: Path, model: str, devices: int, batch: int) -> dict:
    out = tmp_path / f"{model}_{devices}.pt"
    cmd = [sys.executable, str(WORKER), "--model", model, "--devices", str(devices),
           "--batch", str(batch), "--out", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                         cwd=Path(__file__).parents[2])
    assert res.returncode == 0, res.stderr[-3000:]
    return torch.load(out, weights_only=True)


@pytest.mark.parametrize("model", ["geohet", "sptgnn"])
def test_two_processes_with_half_batches_equal_one_process(tmp_path, model):
    one = _weights(tmp_path, model, 1, 8)
    two = _weights(tmp_path, model, 2, 8)
    assert one.keys() == two.keys()
    for k, v in one.items():
        a, b = two[k], v
        if k.endswith("in_proj_bias"):
            q, key, val = a.chunk(3)
            q1, key1, val1 = b.chunk(3)
            assert (key - key1).abs().max() <= 1e-3 * 6  # lr x optimiser steps
            a, b = torch.cat([q, val]), torch.cat([q1, val1])
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5, msg=k)

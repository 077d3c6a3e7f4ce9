"""Rotary position embeddings (RoPE, Su et al. 2024) for the time axis.

Two uses in the GPP paper:

* section 3.1, node embeddings of the STCG: ``v_{i,t} = Node2vec(i) + RoPE(t)``. A rotary
  embedding is a rotation, not a vector, so the paper's *additive* ``RoPE(t)`` is read here as
  the table of the rotary angles' cosines and sines: :func:`rope_time_embedding` returns, for
  each step ``t``, the vector ``[cos(t*theta_0), sin(t*theta_0), cos(t*theta_1), ...]``, which
  is exactly the rotary transform :func:`apply_rope` applied to the constant vector
  ``[1, 0, 1, 0, ...]`` at position ``t``. (The paper gives no other definition.)
* section 3.3, the tabular encoder: RoPE on the temporal dimension, the true rotary transform
  :func:`apply_rope` (channels ``2k`` and ``2k+1`` rotated by the angle ``position*theta_k``).

Channel pairs are interleaved: pair ``k`` is channels ``(2k, 2k+1)`` and its frequency is
``theta_k = base**(-2k/dim)`` (Su et al. eq. 15). The table and the transform use the same
convention.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def _check_dim(dim: int) -> None:
    if int(dim) != dim or dim <= 0:
        raise ValueError(f"RoPE dimension must be a positive integer, got {dim!r}")
    if dim % 2:
        raise ValueError(f"RoPE needs an even dimension (channel pairs are rotated), got {dim}")


def rope_frequencies(dim: int, base: float = 10000.0) -> np.ndarray:
    """The ``dim/2`` rotary frequencies ``theta_k = base**(-2k/dim)``, k = 0..dim/2-1.

    Float64 array of shape ``(dim // 2,)``, from 1 down to ``base**(-(dim-2)/dim)``.
    Raises ``ValueError`` for an odd or non-positive ``dim``.
    """
    _check_dim(dim)
    return base ** (-np.arange(0, dim, 2, dtype=np.float64) / dim)


def rope_time_embedding(n_steps: int, dim: int, base: float = 10000.0) -> np.ndarray:
    """Additive RoPE table ``(n_steps, dim)`` float32: row ``t`` is ``RoPE(t)`` of paper 3.1.

    ``out[t, 2k] = cos(t * theta_k)`` and ``out[t, 2k+1] = sin(t * theta_k)``; equivalently
    ``apply_rope(e, t)`` with ``e = [1, 0, 1, 0, ...]``. Every row has norm ``sqrt(dim/2)``.
    Steps are numbered 0..n_steps-1 (for the GPP study: the 46 8-day steps of a year).
    """
    if n_steps < 0:
        raise ValueError(f"n_steps must be non-negative, got {n_steps}")
    theta = rope_frequencies(dim, base)
    ang = np.arange(n_steps, dtype=np.float64)[:, None] * theta[None, :]
    out = np.empty((n_steps, dim), dtype=np.float64)
    out[:, 0::2] = np.cos(ang)
    out[:, 1::2] = np.sin(ang)
    return out.astype(np.float32)


def apply_rope(x: Tensor, positions: Tensor | np.ndarray | None = None,
               base: float = 10000.0) -> Tensor:
    """Rotary transform of ``x`` (..., L, D) along its second-to-last axis (Su et al. eq. 34).

    Pair ``k`` of channels ``(x[..., 2k], x[..., 2k+1])`` at sequence index ``l`` is rotated
    by the angle ``positions[l] * theta_k``. ``positions`` has shape ``(L,)`` (default
    ``arange(L)``), any real dtype. Norms are preserved and, for queries and keys,
    ``<R(m) q, R(n) k>`` depends on ``m - n`` only. ``D`` must be even. The computation
    runs in float32 (or float64 for float64 input) and returns ``x``'s dtype and device.
    """
    if x.dim() < 2:
        raise ValueError(f"apply_rope expects (..., L, D), got shape {tuple(x.shape)}")
    length, dim = x.shape[-2], x.shape[-1]
    _check_dim(dim)
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    if positions is None:
        pos = torch.arange(length, device=x.device, dtype=work)
    else:
        pos = torch.as_tensor(positions, device=x.device).to(work)
    if pos.shape != (length,):
        raise ValueError(f"positions must have shape ({length},), got {tuple(pos.shape)}")
    theta = torch.as_tensor(rope_frequencies(dim, base), device=x.device, dtype=work)
    ang = pos[:, None] * theta[None, :]  # (L, D/2)
    cos, sin = torch.cos(ang), torch.sin(ang)
    xw = x.to(work)
    x0, x1 = xw[..., 0::2], xw[..., 1::2]
    out = torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)
    return out.to(x.dtype)

"""Smooth random fields on the sphere, for the synthetic generators of both studies."""

from __future__ import annotations

import numpy as np

__all__ = ["smooth_sphere_field"]


def smooth_sphere_field(xyz: np.ndarray, rng: np.random.Generator, n_waves: int = 48,
                        max_freq: float = 3.0) -> np.ndarray:
    """A smooth random field on the sphere with unit variance (sum of random plane waves).

    ``f(x) = sum_k a_k cos(w_k d_k . x + phi_k)`` over ``n_waves`` random unit directions
    ``d_k``, frequencies ``w_k`` uniform in ``[0.5, max_freq]`` cycles per unit chord length
    and amplitudes ``a_k ~ N(0, 1) / w_k`` (larger scales carry more variance), scaled to unit
    variance. Continuous across the antimeridian because it is a function of the 3-D position
    ``xyz`` (unit vectors, :func:`geohet_lib.geo.lonlat_to_unit_sphere`).
    """
    dirs = rng.normal(size=(n_waves, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    freq = rng.uniform(0.5, max_freq, size=n_waves) * 2 * np.pi
    phase = rng.uniform(0, 2 * np.pi, size=n_waves)
    amp = rng.normal(size=n_waves) / freq  # larger scales carry more variance
    f = np.cos((xyz @ dirs.T) * freq + phase) @ amp
    return (f / np.sqrt(0.5 * np.sum(amp**2))).astype(np.float64)

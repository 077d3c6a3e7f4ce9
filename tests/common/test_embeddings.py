"""RoPE (Su et al. 2024): frequency table, additive time table, rotary transform."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from geohet_lib.embeddings import apply_rope, rope_frequencies, rope_time_embedding


def test_frequencies():
    theta = rope_frequencies(8)
    np.testing.assert_allclose(theta, [1.0, 10000 ** -0.25, 10000 ** -0.5, 10000 ** -0.75])


@pytest.mark.parametrize("dim", [7, 0, -2])
def test_bad_dim_raises(dim):
    with pytest.raises(ValueError):
        rope_frequencies(dim)
    with pytest.raises(ValueError):
        rope_time_embedding(46, dim)


def test_apply_rope_odd_dim_raises():
    with pytest.raises(ValueError, match="even"):
        apply_rope(torch.zeros(2, 5, 7))


def test_time_table_shape_and_values():
    tab = rope_time_embedding(46, 96)
    assert tab.shape == (46, 96) and tab.dtype == np.float32
    # t = 0: no rotation -> [1, 0, 1, 0, ...]
    np.testing.assert_allclose(tab[0, 0::2], 1.0)
    np.testing.assert_allclose(tab[0, 1::2], 0.0)
    # t = 3, pair 0 rotates by 3 rad, pair 1 by 3 * 10000**(-2/96)
    assert tab[3, 0] == pytest.approx(np.cos(3.0), abs=1e-6)
    assert tab[3, 1] == pytest.approx(np.sin(3.0), abs=1e-6)
    assert tab[3, 3] == pytest.approx(np.sin(3.0 * 10000 ** (-2 / 96)), abs=1e-6)
    np.testing.assert_allclose(np.linalg.norm(tab, axis=1), np.sqrt(48), rtol=1e-5)
    # rows differ: the table does encode time
    assert np.abs(tab[1:] - tab[0]).max(axis=1).min() > 1e-3


def test_table_is_rotation_of_unit_pairs():
    e = torch.zeros(46, 16)
    e[:, 0::2] = 1.0
    rotated = apply_rope(e, torch.arange(46)).numpy()
    np.testing.assert_allclose(rotated, rope_time_embedding(46, 16), atol=1e-5)


def test_rotation_preserves_norm():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 10, 32, generator=g)
    y = apply_rope(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(y[..., 0, :], x[..., 0, :])  # position 0: identity


def test_relative_position_property():
    g = torch.Generator().manual_seed(1)
    q = torch.randn(16, generator=g, dtype=torch.float64)
    k = torch.randn(16, generator=g, dtype=torch.float64)

    def score(m: float, n: float) -> float:
        qm = apply_rope(q[None, :], torch.tensor([m], dtype=torch.float64))[0]
        kn = apply_rope(k[None, :], torch.tensor([n], dtype=torch.float64))[0]
        return float(qm @ kn)

    for m, n in [(5, 2), (13, 10), (3, 0), (40.5, 37.5)]:
        assert score(m, n) == pytest.approx(score(3, 0), abs=1e-10)
    assert abs(score(7, 2) - score(3, 0)) > 1e-6  # and it does depend on m - n


def test_positions_shape_checked():
    with pytest.raises(ValueError):
        apply_rope(torch.zeros(5, 8), torch.arange(4))

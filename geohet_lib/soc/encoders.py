"""Per-node encoders of SpTGNN (SOC paper 3.3, Algorithm 1 "Per-node encoding").

Four input streams enter the fusion layer (3.4):

* ``image``: the cached embedding of the frozen image encoder (TerraMind ViT in the paper,
  ``h_vit`` of width ``d_vit``; any width here). It is not encoded further.
* ``covariates``: the 63 tabular covariates (Table 2), already imputed and standardised
  (4.3); "requires no learned encoding and is passed directly to the fusion stage" (3.3).
* ``positional``: :class:`MultiScalePositionalEncoder`, Eq. (1).
* ``temporal``: :class:`TemporalFourierEncoder`, Eq. (2).

Where the paper is silent (our reading, also in the final report):

* Eq. (1) divides the raw coordinates ``p = (lon, lat)`` by ``sigma_k``; we take them in
  **degrees** (WGS 84, the corpus' CRS, 4.1). With ``sigma in [0.1, 10]`` degrees the
  wavelengths ``2 pi sigma`` run from 0.63 deg (about 70 km) to 63 deg (continental), which is
  the narrow-to-wide range the text describes; in radians the same sigmas would span 36 deg to
  3600 deg, i.e. almost nothing below continental scale. Longitude is not wrapped at the
  dateline (the encoding is not 360-periodic), as in the printed formula.
* "a two layer perceptron": ``Linear -> GELU -> Linear``; hidden widths (64 positional, 32
  temporal) are ours (Table 6 gives only the output widths 16 and 8).
* Eq. (2) says "log-spaced frequencies" without values: ``f_j = pi * 2**j``, ``j = 0..J-1``
  (pi, 2 pi, 4 pi, 8 pi for J = 4), the NeRF octave ladder starting at half a period over the
  year range, so the first and last year are never aliased (with ``f = 2 pi`` they would be).
  The input is the sampling year (integer in the paper; fractional years such as
  ``year + (doy - 0.5) / 365.25`` from :func:`fractional_year` work too), normalised with the
  configured ``t_min``/``t_max`` (2013-2022, Table 3) and not clipped, so later years
  extrapolate smoothly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn


def make_mlp(in_dim: int, hidden: Sequence[int], out_dim: int, dropout: float = 0.0,
             final_activation: bool = True) -> nn.Sequential:
    """``Linear -> GELU -> Dropout`` for each width in ``hidden`` and then ``out_dim``.

    Used for the encoders' perceptrons (no dropout, linear output) and for the Pre-/Post-MLPs
    of Algorithm 1 (Table 6 "hidden -> output", activation and dropout after every layer,
    including the output layer, because a linear layer or a linear head follows).
    """
    layers: list[nn.Module] = []
    d = in_dim
    widths = [*hidden, out_dim]
    for i, w in enumerate(widths):
        layers.append(nn.Linear(d, w))
        if i < len(widths) - 1 or final_activation:
            layers.append(nn.GELU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        d = w
    return nn.Sequential(*layers)


def log_spaced_scales(n_scales: int, sigma_min: float, sigma_max: float) -> Tensor:
    """``n_scales`` values spaced evenly in log between ``sigma_min`` and ``sigma_max``."""
    if n_scales < 1 or not 0 < sigma_min <= sigma_max:
        raise ValueError("need n_scales >= 1 and 0 < sigma_min <= sigma_max")
    if n_scales == 1:
        return torch.tensor([sigma_min], dtype=torch.float64)
    return torch.logspace(math.log10(sigma_min), math.log10(sigma_max), n_scales,
                          dtype=torch.float64)


class MultiScalePositionalEncoder(nn.Module):
    """Eq. (1): ``e_pos = MLP([sin(p / sigma_k), cos(p / sigma_k)]_{k=1..K})``.

    ``p = (lon, lat)`` in degrees; ``sigma_k`` log-spaced in ``[sigma_min, sigma_max]``
    degrees (Table 6: K = 10, sigma in [0.1, 10], output 16). The sinusoid vector has
    ``4 K`` entries ordered (sin lon, sin lat, cos lon, cos lat) per scale blocks.
    """

    def __init__(self, n_scales: int = 10, sigma_min: float = 0.1, sigma_max: float = 10.0,
                 out_dim: int = 16, hidden_dim: int = 64):
        super().__init__()
        self.register_buffer("sigmas", log_spaced_scales(n_scales, sigma_min, sigma_max).float())
        self.n_features = 4 * n_scales
        self.out_dim = out_dim
        self.mlp = make_mlp(self.n_features, [hidden_dim], out_dim, final_activation=False)

    def features(self, lat: Tensor, lon: Tensor) -> Tensor:
        """The raw multi-scale sinusoids (N, 4K), before the perceptron."""
        p = torch.stack([lon, lat], dim=-1).to(self.sigmas.dtype)  # (N, 2), degrees
        ang = (p.unsqueeze(-1) / self.sigmas).flatten(-2)  # (N, 2K)
        return torch.cat([torch.sin(ang), torch.cos(ang)], dim=-1)

    def forward(self, lat: Tensor, lon: Tensor) -> Tensor:
        """``lat``, ``lon`` (N,) in degrees -> (N, out_dim)."""
        return self.mlp(self.features(lat, lon))


def fractional_year(year: Tensor, day_of_year: Tensor | None = None) -> Tensor:
    """``year + (day_of_year - 0.5) / 365.25`` (mid-day), or the year itself without a day."""
    year = year.to(torch.float64)
    if day_of_year is None:
        return year
    return year + (day_of_year.to(torch.float64) - 0.5) / 365.25


class TemporalFourierEncoder(nn.Module):
    """Eq. (2): ``e_time = MLP([sin(t_bar f_j), cos(t_bar f_j)]_{j=1..J})``.

    ``t_bar = (t - t_min) / (t_max - t_min)``; ``f_j = pi * 2**(j-1)`` (log-spaced, see the
    module docstring). Table 6: J = 4 frequencies, output 8.
    """

    def __init__(self, n_freqs: int = 4, out_dim: int = 8, t_min: float = 2013.0,
                 t_max: float = 2022.0, hidden_dim: int = 32):
        super().__init__()
        if t_max <= t_min:
            raise ValueError("t_max must be greater than t_min")
        self.t_min, self.t_max = float(t_min), float(t_max)
        self.register_buffer("freqs", math.pi * 2.0 ** torch.arange(n_freqs, dtype=torch.float32))
        self.n_features = 2 * n_freqs
        self.out_dim = out_dim
        self.mlp = make_mlp(self.n_features, [hidden_dim], out_dim, final_activation=False)

    def normalise(self, t: Tensor) -> Tensor:
        """``t_bar = (t - t_min) / (t_max - t_min)`` (not clipped)."""
        t_bar = (t.to(torch.float64) - self.t_min) / (self.t_max - self.t_min)
        return t_bar.to(self.freqs.dtype)

    def features(self, t: Tensor) -> Tensor:
        """The Fourier features (N, 2J) of the (fractional) year ``t`` (N,)."""
        ang = self.normalise(t).unsqueeze(-1) * self.freqs
        return torch.cat([torch.sin(ang), torch.cos(ang)], dim=-1)

    def forward(self, t: Tensor) -> Tensor:
        """``t`` (N,) sampling year -> (N, out_dim)."""
        return self.mlp(self.features(t))

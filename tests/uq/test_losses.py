"""The heteroscedastic losses shared by both studies (geohet_lib/uq/losses.py)."""

import math

import torch

from geohet_lib.uq.losses import beta_nll, bounded_log_variance, gaussian_nll


def test_gaussian_nll_equals_torch_with_and_without_its_constant():
    g = torch.Generator().manual_seed(0)
    y, mu, s = (torch.randn(50, generator=g) for _ in range(3))
    ref = torch.nn.functional.gaussian_nll_loss(mu, y, torch.exp(s), full=True, eps=1e-12)
    torch.testing.assert_close(gaussian_nll(mu, s, y, full=True), ref)
    torch.testing.assert_close(gaussian_nll(mu, s, y), ref - 0.5 * math.log(2 * math.pi))


def test_beta_nll_weight_is_a_constant_for_the_gradient():
    mu = torch.zeros(4, requires_grad=True)
    s = torch.tensor([0.0, 1.0, -1.0, 2.0], requires_grad=True)
    y = torch.ones(4)
    gb = torch.autograd.grad(beta_nll(mu, s, y, beta=0.5), (mu, s))
    gn = torch.autograd.grad(gaussian_nll(mu, s, y), (mu, s))
    w = torch.exp(0.5 * s.detach())
    for a, b in zip(gb, gn):
        torch.testing.assert_close(a, w * b)  # the weight scales, it is not differentiated
    torch.testing.assert_close(beta_nll(mu, s, y, beta=0.0), gaussian_nll(mu, s, y))


def test_bounded_log_variance_maps_onto_the_interval():
    raw = torch.tensor([-1e4, 0.0, 1e4])
    torch.testing.assert_close(bounded_log_variance(raw, -8.0, 4.0), torch.tensor([-8.0, -2.0, 4.0]))

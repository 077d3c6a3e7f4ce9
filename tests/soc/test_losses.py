"""Losses of SpTGNN (SOC paper 3.7, 3.8) and the local Moran's I target."""

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from geohet_lib.soc.losses import (beta_nll, gaussian_nll, huber_loss, local_morans_i,
                                   sptgnn_loss)

torch.set_num_threads(1)


def test_huber_below_and_above_delta_by_hand():
    pred = torch.tensor([0.0, 0.0])
    # |r| = 0.5 < delta = 1: r^2 / 2 = 0.125; |r| = 3 > delta: delta (|r| - delta / 2) = 2.5
    assert huber_loss(pred, torch.tensor([0.5, 0.0])).item() == pytest.approx(0.125 / 2)
    assert huber_loss(pred, torch.tensor([3.0, 0.0])).item() == pytest.approx(2.5 / 2)
    # delta = 2: |r| = 3 -> 2 (3 - 1) = 4; mask keeps the first node only
    assert huber_loss(pred, torch.tensor([3.0, 9.0]), delta=2.0,
                      mask=torch.tensor([True, False])).item() == pytest.approx(4.0)


def test_gaussian_nll_hand_values_and_torch_reference():
    one, zero = torch.tensor([1.0]), torch.tensor([0.0])
    # y = 1, mu = 0, log sigma^2 = 0: Eq. (4) gives 0.5; the full likelihood adds 0.5 log 2 pi
    assert gaussian_nll(zero, zero, one).item() == pytest.approx(0.5)
    assert gaussian_nll(zero, zero, one, full=True).item() == pytest.approx(
        0.5 * math.log(2 * math.pi) + 0.5)
    # y = 2, mu = 0, s = log 4: 0.5 (4 / 4 + log 4)
    s = torch.tensor([math.log(4.0)])
    assert gaussian_nll(zero, s, torch.tensor([2.0])).item() == pytest.approx(
        0.5 * (1 + math.log(4.0)))
    g = torch.Generator().manual_seed(0)
    mu, s, y = (torch.randn(50, generator=g, dtype=torch.float64) for _ in range(3))
    ref = F.gaussian_nll_loss(mu, y, torch.exp(s), full=True, eps=1e-12)
    torch.testing.assert_close(gaussian_nll(mu, s, y, full=True), ref)


def test_beta_nll_reduces_to_nll_and_mse_gradient():
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(20, generator=g, dtype=torch.float64, requires_grad=True)
    s = (0.5 * torch.randn(20, generator=g, dtype=torch.float64)).requires_grad_()
    y = torch.randn(20, generator=g, dtype=torch.float64)
    # beta = 0: exactly Eq. (4), values and gradients
    a, b = beta_nll(mu, s, y, beta=0.0), gaussian_nll(mu, s, y)
    torch.testing.assert_close(a, b)
    ga = torch.autograd.grad(a, (mu, s))
    gb = torch.autograd.grad(b, (mu, s))
    for x, z in zip(ga, gb):
        torch.testing.assert_close(x, z)
    # beta = 1: the mean's gradient is that of 0.5 * MSE (sigma^2 cancels sigma^-2)
    g1 = torch.autograd.grad(beta_nll(mu, s, y, beta=1.0), mu)[0]
    g_mse = torch.autograd.grad(0.5 * ((y - mu) ** 2).mean(), mu)[0]
    torch.testing.assert_close(g1, g_mse)
    # stop-gradient: d/ds is the weight times d NLL_i / ds, without a term from the weight
    beta = 0.5
    gs = torch.autograd.grad(beta_nll(mu, s, y, beta=beta), s)[0]
    per = torch.autograd.grad(gaussian_nll(mu, s, y) * 20, s)[0]  # per-sample dNLL_i/ds
    torch.testing.assert_close(gs, torch.exp(beta * s.detach()) * per / 20)
    # hand value: y = 1, mu = 0, s = log 4, beta = 0.5 -> 2 * 0.5 (1/4 + log 4)
    v = beta_nll(torch.tensor([0.0]), torch.tensor([math.log(4.0)]), torch.tensor([1.0]), 0.5)
    assert v.item() == pytest.approx(2 * 0.5 * (0.25 + math.log(4.0)))


def _path_graph():
    # 0 - 1 - 2 - 3 (both directions), weight 1, plus 3 -> 0 with weight 2 (node 0 only)
    src = [1, 0, 2, 1, 3, 2, 3]
    dst = [0, 1, 1, 2, 2, 3, 0]
    w = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0]
    return torch.tensor([src, dst]), torch.tensor(w, dtype=torch.float64)


def test_local_morans_i_by_hand():
    ei, w = _path_graph()
    y = torch.tensor([1.0, 2.0, 4.0, 7.0], dtype=torch.float64)
    z = y - 3.5  # [-2.5, -1.5, 0.5, 3.5]
    m2 = (z**2).sum() / 4  # 21 / 4
    # row-standardised lags: node 0 has in-neighbours 1 (w 1) and 3 (w 2) -> (z1 + 2 z3) / 3
    lag = torch.stack([(z[1] + 2 * z[3]) / 3, (z[0] + z[2]) / 2, (z[1] + z[3]) / 2, z[2]])
    expected = z * lag / m2
    torch.testing.assert_close(local_morans_i(y, ei, w), expected)
    # ddof = 1 rescales by (n - 1) / n; unit weights change node 0 only
    torch.testing.assert_close(local_morans_i(y, ei, w, ddof=1), expected * 3 / 4)
    unit = local_morans_i(y, ei)
    assert unit[0].item() == pytest.approx((z[0] * (z[1] + z[3]) / 2 / m2).item())
    torch.testing.assert_close(unit[1:], expected[1:])


def test_local_morans_i_edge_cases():
    ei, w = _path_graph()
    # constant target: no variance, zeros; a node without in-edges gets 0
    assert torch.equal(local_morans_i(torch.full((4,), 3.0), ei, w), torch.zeros(4))
    ei5 = torch.cat([ei, torch.tensor([[4], [0]])], dim=1)  # node 4: out-edge only
    out = local_morans_i(torch.arange(5.0), ei5)
    assert out[4].item() == 0.0 and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="one value per node"):
        local_morans_i(torch.zeros(3), ei, num_nodes=4)


def test_local_morans_i_matches_esda():
    esda = pytest.importorskip("esda")
    from libpysal.weights import W

    rng = np.random.default_rng(0)
    n, k = 40, 4
    xy = rng.uniform(0, 10, size=(n, 2))
    y = np.sin(xy[:, 0]) + 0.3 * xy[:, 1] + 0.2 * rng.normal(size=n)
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    src, dst, wts = [], [], []
    neighbors, weights = {}, {}
    for i in range(n):  # directed k-NN: the k nearest j send to i, weight 1 / distance
        nn_ = np.argsort(d[i])[:k]
        neighbors[i] = [int(j) for j in nn_]
        weights[i] = [float(1 / d[i, j]) for j in nn_]
        src += neighbors[i]
        dst += [i] * k
        wts += weights[i]
    lm = esda.Moran_Local(y, W(neighbors, weights), transformation="r", permutations=0)
    ours = local_morans_i(torch.tensor(y, dtype=torch.float64), torch.tensor([src, dst]),
                          torch.tensor(wts, dtype=torch.float64), ddof=1)
    np.testing.assert_allclose(ours.numpy(), lm.Is, rtol=0, atol=1e-8)
    # Anselin's m2 = sum z^2 / n differs by n / (n - 1)
    anselin = local_morans_i(torch.tensor(y, dtype=torch.float64), torch.tensor([src, dst]),
                             torch.tensor(wts, dtype=torch.float64))
    np.testing.assert_allclose(anselin.numpy(), lm.Is * n / (n - 1), rtol=0, atol=1e-8)


def _out(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"pred": torch.randn(n, generator=g), "log_var": 0.3 * torch.randn(n, generator=g),
            "moran_pred": torch.randn(n, generator=g),
            "moe_aux": {"load_balance": torch.tensor(0.02), "entropy": torch.tensor(0.3)}}


def test_sptgnn_loss_combines_the_terms():
    out = _out()
    y, moran = torch.randn(6), torch.randn(6)
    total, parts = sptgnn_loss(out, y, moran, lambda_aux=0.5, lb_weight=2.0,
                               entropy_weight=0.1)
    main = huber_loss(out["pred"], y)
    auto = huber_loss(out["moran_pred"], moran)
    assert parts["main"].item() == pytest.approx(main.item())
    assert parts["autocorr"].item() == pytest.approx(auto.item())
    assert parts["moe"].item() == pytest.approx(2.0 * 0.02 + 0.1 * 0.3)
    assert total.item() == pytest.approx(main.item() + 0.5 * auto.item() + 0.04 + 0.03)
    # the hybrid of 5.3: MSE + lambda NLL
    total, parts = sptgnn_loss(out, y, kind="mse_plus_nll", lambda_nll=0.05, entropy_weight=0)
    mse = ((out["pred"] - y) ** 2).mean()
    nll = gaussian_nll(out["pred"], out["log_var"], y)
    assert parts["main"].item() == pytest.approx((mse + 0.05 * nll).item(), rel=1e-6)
    assert total.item() == pytest.approx(parts["main"].item())
    for kind, ref in (("nll", gaussian_nll(out["pred"], out["log_var"], y)),
                      ("beta_nll", beta_nll(out["pred"], out["log_var"], y, 0.5))):
        total, _ = sptgnn_loss(out, y, kind=kind, entropy_weight=0)
        assert total.item() == pytest.approx(ref.item())


def test_sptgnn_loss_mask_and_errors():
    out = _out()
    y = torch.randn(6)
    mask = torch.tensor([True, True, False, True, False, False])
    _, parts = sptgnn_loss(out, y, mask=mask, entropy_weight=0)
    assert parts["main"].item() == pytest.approx(huber_loss(out["pred"][mask], y[mask]).item())
    y_nan = y.clone()
    y_nan[~mask] = float("nan")  # unlabelled nodes never enter
    total, _ = sptgnn_loss(out, y_nan, mask=mask)
    assert torch.isfinite(total)
    with pytest.raises(ValueError, match="log-variance"):
        sptgnn_loss({**out, "log_var": None}, y, kind="nll")
    with pytest.raises(ValueError, match="unknown loss"):
        sptgnn_loss(out, y, kind="l1")
    # no MoE (concat fusion) and no Moran target: only the main term
    total, parts = sptgnn_loss({"pred": out["pred"]}, y, lambda_aux=1.0, lb_weight=1.0)
    assert total.item() == pytest.approx(parts["main"].item())

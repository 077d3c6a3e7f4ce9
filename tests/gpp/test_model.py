import numpy as np
import pytest
import torch

from geohet_lib.gpp.model import (ConditionEncoder, DualAttention, GeoHet, GeoHetConfig,
                                  LinearSelfAttention, linear_attention, naive_linear_attention)


def _graph(c=6, k=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    src, dst = [], []
    for i in range(c):  # a ring with both directions
        for j in (i - 1, i + 1):
            src.append(i)
            dst.append(j % c)
    ei = torch.tensor([src, dst])
    w = torch.rand(ei.shape[1], generator=g) * 0.9 + 0.1
    # symmetric weights
    key = {}
    for e, (a, b) in enumerate(ei.t().tolist()):
        key.setdefault((min(a, b), max(a, b)), w[e])
    w = torch.stack([key[(min(a, b), max(a, b))] for a, b in ei.t().tolist()])
    return ei, w


def _model(c=6, t=46, d_node=8, **kw):
    torch.manual_seed(0)
    ei, w = _graph(c)
    cfg = GeoHetConfig(n_features=5, d_model=16, n_tokens=4, enc_layers=1, dec_layers=1,
                       n_heads=2, **kw)
    return GeoHet(cfg, torch.randn(c, t, d_node), ei, w)


def test_linear_attention_equals_naive_reference():
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 3, 7, 5, generator=g, dtype=torch.float64) for _ in range(3))
    torch.testing.assert_close(linear_attention(q, k, v), naive_linear_attention(q, k, v))


def test_linear_attention_by_hand_single_query():
    # one query, two keys: weights phi(q).phi(k_j), normalised
    q = torch.tensor([[[0.0, 1.0]]])
    k = torch.tensor([[[1.0, 0.0], [-1.0, 2.0]]])
    v = torch.tensor([[[1.0], [3.0]]])
    phi = lambda x: torch.where(x > 0, x + 1, torch.exp(x))  # ELU(x) + 1
    w = (phi(q) @ phi(k).transpose(-1, -2))[0, 0]  # [1*2 + 2*1, 1*e^-1 + 2*3]
    expected = (w[0] * 1 + w[1] * 3) / (w.sum() + 1e-6)
    out = linear_attention(q, k.expand(1, 2, 2)[:, :, :], v)
    assert out.item() == pytest.approx(expected.item(), rel=1e-6)


def test_attention_modules_keep_shapes():
    x = torch.randn(2, 46, 4, 16)
    assert DualAttention(16, 2)(x).shape == x.shape
    assert LinearSelfAttention(16, 4, rope=True)(torch.randn(3, 10, 16)).shape == (3, 10, 16)
    with pytest.raises(ValueError, match="divisible"):
        LinearSelfAttention(10, 4)


def test_geohet_shapes_and_gradients_reach_node_embeddings():
    m = _model()
    x = torch.randn(3, 46, 5)
    cluster = torch.tensor([0, 2, 5])
    steps = torch.arange(46).expand(3, 46)
    y = m(x, cluster, steps)
    assert y.shape == (3, 46)
    y.pow(2).mean().backward()
    g = m.conditions.node_emb.grad
    assert g is not None and g.abs().sum() > 0
    # the GCN spreads gradient to neighbours of the clusters in the batch (ring: 1, 3, 4)
    assert g[1].abs().sum() > 0 and g[4].abs().sum() > 0
    assert m.condition_vectors().shape == (6, 46, 16)


def test_gcn_normalisation_against_hand_computation():
    torch.manual_seed(0)
    ei, w = _graph(4)
    init = torch.randn(4, 3, 2)
    for self_loops in (True, False):
        enc = ConditionEncoder(init, ei, w, d_model=3, kernel_size=1, self_loops=self_loops)
        with torch.no_grad():
            enc.temporal.weight.copy_(torch.eye(2).unsqueeze(-1))  # identity temporal conv
            enc.temporal.bias.zero_()
        a = torch.zeros(4, 4)
        a[ei[1], ei[0]] = w  # message j -> i weighted w_ij
        if self_loops:
            a = a + torch.eye(4)
        d = a.sum(1)
        norm = d.rsqrt()[:, None] * a * d.rsqrt()[None, :]  # D^-1/2 (A o W) D^-1/2
        lin_w, bias = enc.gcn.lin.weight, enc.gcn.bias
        expected = torch.nn.functional.gelu(
            torch.einsum("ij,jtc->itc", norm, init @ lin_w.t()) + bias)
        torch.testing.assert_close(enc(), expected, atol=1e-5, rtol=1e-5)


def test_graph_ablation_and_bad_init():
    m = _model(use_graph=False, dual_attention=False)
    assert m(torch.randn(2, 46, 5), torch.tensor([0, 1]), torch.arange(46).expand(2, 46)).shape == (2, 46)
    ei, w = _graph(4)
    with pytest.raises(ValueError, match="clusters, steps, channels"):
        ConditionEncoder(torch.randn(4, 8), ei, w)


def test_tiny_batch_overfit():
    m = _model()
    g = torch.Generator().manual_seed(3)
    x = torch.randn(8, 46, 5, generator=g)
    cluster = torch.arange(8) % 6
    steps = torch.arange(46).expand(8, 46)
    y = torch.sin(x[..., 0]) + 0.5 * x[..., 1] * cluster[:, None] / 6
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    first = None
    for _ in range(300):
        loss = torch.nn.functional.mse_loss(m(x, cluster, steps), y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05 * first


def test_query_skip_adds_the_step_features_to_the_condition_query():
    """``query_skip`` (ours) feeds Decoder(C + X, X); off, the decoder sees C alone (paper)."""
    x = torch.randn(2, 46, 5)
    cluster, steps = torch.tensor([0, 3]), torch.arange(46).expand(2, 46)
    plain, skip = _model(), _model(query_skip=True)
    skip.load_state_dict(plain.state_dict())  # same weights: only the query differs
    with torch.no_grad():
        mem = plain.encoder(x)
        tgt = plain.conditions()[cluster[:, None], steps]
        torch.testing.assert_close(plain(x, cluster, steps),
                                   plain.head(plain.decoder(tgt, mem)).squeeze(-1))
        torch.testing.assert_close(skip(x, cluster, steps),
                                   plain.head(plain.decoder(tgt + mem, mem)).squeeze(-1))
    y = skip(x, cluster, steps)
    y.pow(2).mean().backward()
    assert skip.conditions.node_emb.grad.abs().sum() > 0
    assert skip.encoder.mix.weight.grad.abs().sum() > 0


def test_variance_head_shapes_bounds_and_gradients():
    m = _model(variance_head=True, s_min=-3.0, s_max=2.0)
    x = torch.randn(3, 46, 5)
    cluster, steps = torch.tensor([0, 2, 5]), torch.arange(46).expand(3, 46)
    mean, log_var = m.forward_dist(x, cluster, steps)
    assert mean.shape == log_var.shape == (3, 46)
    assert torch.all(log_var >= -3.0) and torch.all(log_var <= 2.0)
    torch.testing.assert_close(mean, m(x, cluster, steps))  # the mean head is forward's
    log_var.sum().backward()
    assert m.var_head.weight.grad.abs().sum() > 0
    assert m.head.weight.grad is None  # the variance does not read the mean head
    with pytest.raises(ValueError, match="variance_head=True"):
        _model().forward_dist(x, cluster, steps)
    assert "var_head.weight" not in _model().state_dict()  # older checkpoints still load


def test_variance_head_tiny_overfit_with_beta_nll():
    from geohet_lib.uq.losses import beta_nll

    m = _model(variance_head=True)
    g = torch.Generator().manual_seed(4)
    x = torch.randn(8, 46, 5, generator=g)
    cluster, steps = torch.arange(8) % 6, torch.arange(46).expand(8, 46)
    # heteroscedastic target: noise sd 0.05 on the first half of the cells, 0.5 on the rest
    # (fresh noise at every step, so the mean cannot memorise it)
    sd = torch.where(cluster[:, None] < 4, 0.05, 0.5).expand(8, 46)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for _ in range(300):
        y = torch.sin(x[..., 0]) + sd * torch.randn(8, 46, generator=g)
        mean, log_var = m.forward_dist(x, cluster, steps)
        loss = beta_nll(mean, log_var, y, beta=0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        mean, log_var = m.forward_dist(x, cluster, steps)
    low, high = log_var[cluster < 4].exp().mean(), log_var[cluster >= 4].exp().mean()
    assert high > 2 * low  # the head learned which cells are noisy
    assert 0.12 < high < 0.5  # and the noisy cells' variance (0.5² = 0.25) within a factor 2
    assert torch.mean((mean - torch.sin(x[..., 0])) ** 2) < 0.2

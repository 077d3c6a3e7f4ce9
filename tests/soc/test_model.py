"""SpTGNN components (SOC paper 3.3-3.6, Algorithm 1, Tables 6 and 11)."""

import math
from dataclasses import replace

import pytest
import torch

from geohet_lib.soc.configs import SPTGNN_CONFIGS, SpTGNNConfig, config_for, scaled
from geohet_lib.soc.encoders import (MultiScalePositionalEncoder, TemporalFourierEncoder,
                                     fractional_year)
from geohet_lib.soc.losses import local_morans_i, sptgnn_loss
from geohet_lib.soc.moe import (EXPERT_TYPES, ConcatFusion, MoEFusion, entropy_gap,
                                load_balance_loss, route)
from geohet_lib.soc.rgat import RGATStack, select_relations, unused_parameter_names
from geohet_lib.soc.sptgnn import SpTGNN, bounded_log_variance, count_parameters

torch.set_num_threads(1)

IMG = 12


def _small_cfg(**kw) -> SpTGNNConfig:
    base = dict(img_dim=IMG, n_covariates=5, pos_hidden=16, time_hidden=8, n_experts=4,
                expert_type="cross-gated", fusion_dim=16, top_k=None, pre_mlp_hidden=(16,),
                pre_mlp_out=16, pre_mlp_dropout=0.0, post_mlp_hidden=(16,), post_mlp_out=8,
                post_mlp_dropout=0.0, rgat_hidden=(16, 8), num_bases=2,
                attention_mechanism="within-relation", attention_mode="multiplicative",
                dropout=0.0)
    base.update(kw)
    return SpTGNNConfig(**base)


def _batch(n=32, n_cov=5, img=IMG, deg=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    e = n * deg
    return dict(image=torch.randn(n, img, generator=g),
                covariates=torch.randn(n, n_cov, generator=g),
                lat=torch.rand(n, generator=g) * 40 - 20, lon=torch.rand(n, generator=g) * 40,
                time=torch.randint(2013, 2023, (n,), generator=g).float(),
                edge_index=torch.randint(0, n, (2, e), generator=g),
                edge_type=torch.randint(0, 3, (e,), generator=g),
                edge_weight=torch.rand(e, generator=g))


# ---------------------------------------------------------------------------------- encoders
def test_positional_encoder_shapes_scales_and_hand_values():
    enc = MultiScalePositionalEncoder(n_scales=10, sigma_min=0.1, sigma_max=10.0, out_dim=16)
    lat, lon = torch.tensor([0.0, 10.0, -45.0]), torch.tensor([0.0, 20.0, 170.0])
    assert enc(lat, lon).shape == (3, 16)
    s = enc.sigmas
    assert s[0].item() == pytest.approx(0.1) and s[-1].item() == pytest.approx(10.0)
    ratios = s[1:] / s[:-1]  # log-spaced: constant ratio 100 ** (1/9)
    torch.testing.assert_close(ratios, torch.full_like(ratios, 100 ** (1 / 9)))
    f = enc.features(lat, lon)
    assert f.shape == (3, 40)
    # at the origin every sin is 0 and every cos 1; each (sin, cos) pair has unit norm
    assert torch.allclose(f[0, :20], torch.zeros(20)) and torch.allclose(f[0, 20:], torch.ones(20))
    torch.testing.assert_close((f**2).sum(-1), torch.full((3,), 20.0))
    # lon = 20 deg at sigma = 10 deg: sin(2) in the lon slot of the last scale
    assert f[1, 9].item() == pytest.approx(math.sin(2.0), abs=1e-6)


def test_positional_features_separate_near_from_far():
    enc = MultiScalePositionalEncoder()
    lat = torch.tensor([0.0, 0.05, 15.0])
    lon = torch.tensor([0.0, 0.05, 25.0])
    f = enc.features(lat, lon)
    near = (f[0] - f[1]).norm()
    far = (f[0] - f[2]).norm()
    assert near > 1e-3  # nearby points (about 8 km apart) are still told apart
    assert far > 3 * near
    # the coarsest scale varies smoothly: its features barely move for the near pair
    assert (f[0, [9, 19, 29, 39]] - f[1, [9, 19, 29, 39]]).abs().max() < 0.01


def test_temporal_encoder_hand_values():
    enc = TemporalFourierEncoder(n_freqs=4, out_dim=8, t_min=2013, t_max=2022)
    t = torch.tensor([2013.0, 2022.0, 2017.5])
    assert enc(t).shape == (3, 8)
    f = enc.features(t)
    torch.testing.assert_close(enc.normalise(t), torch.tensor([0.0, 1.0, 0.5]))
    torch.testing.assert_close(f[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    # t_bar = 1: sin(pi 2^j) = 0, cos(pi) = -1 then +1: the ends are not aliased
    torch.testing.assert_close(f[1], torch.tensor([0.0] * 4 + [-1.0, 1.0, 1.0, 1.0]),
                               atol=1e-5, rtol=0)
    assert f[2, 0].item() == pytest.approx(1.0)  # sin(pi / 2)
    assert fractional_year(torch.tensor([2020]), torch.tensor([1])).item() == pytest.approx(
        2020 + 0.5 / 365.25)
    with pytest.raises(ValueError):
        TemporalFourierEncoder(t_min=2020, t_max=2020)


# --------------------------------------------------------------------------------------- MoE
def _streams(n=24, seed=0, dims=(IMG, 5, 16, 8)):
    g = torch.Generator().manual_seed(seed)
    names = ("image", "covariates", "positional", "temporal")
    return {k: torch.randn(n, d, generator=g) * (10.0 if k == "image" else 1.0)
            for k, d in zip(names, dims)}, dict(zip(names, dims))


def test_route_by_hand():
    logits = torch.tensor([[1.0, 2.0, 3.0, 0.0]])
    g = route(logits, top_k=2)
    e = torch.softmax(torch.tensor([3.0, 2.0]), 0)
    torch.testing.assert_close(g, torch.tensor([[0.0, e[1].item(), e[0].item(), 0.0]]))
    torch.testing.assert_close(route(logits, None), torch.softmax(logits, -1))
    torch.testing.assert_close(route(logits, 4), torch.softmax(logits, -1))


@pytest.mark.parametrize("expert_type", EXPERT_TYPES)
def test_moe_topk_and_dense_routing(expert_type):
    torch.manual_seed(0)
    x, dims = _streams()
    for top_k in (1, 2, None):
        moe = MoEFusion(dims, fusion_dim=16, n_experts=6, expert_type=expert_type, top_k=top_k)
        out, aux = moe(x)
        assert out.shape == (24, 16) and torch.isfinite(out).all()
        gates = aux["gates"]
        assert gates.shape == (24, 6)
        torch.testing.assert_close(gates.sum(-1), torch.ones(24))
        nonzero = (gates > 0).sum(-1)
        assert torch.equal(nonzero, torch.full((24,), top_k or 6))
        assert aux["usage"].shape == (6,) and aux["load_balance"].dim() == 0


def test_sparse_dispatch_equals_dense_weighted_sum():
    torch.manual_seed(1)
    x, dims = _streams()
    moe = MoEFusion(dims, fusion_dim=16, n_experts=5, expert_type="cross-gated", top_k=2)
    out, aux = moe(x)
    zs = [norm(x[k]) for norm, k in zip(moe.norms, moe.names)]
    ref = sum(aux["gates"][:, e:e + 1] * ex(zs) for e, ex in enumerate(moe.experts))
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-5)


def test_load_balance_and_entropy_uniform_vs_collapsed():
    e = 8
    uniform = torch.full((e,), 1 / e)
    collapsed = torch.zeros(e)
    collapsed[0] = 1.0
    assert load_balance_loss(uniform).item() == pytest.approx(0.0, abs=1e-12)
    assert entropy_gap(uniform).item() == pytest.approx(0.0, abs=1e-6)
    assert load_balance_loss(collapsed).item() == pytest.approx((e - 1) / e**2)
    assert entropy_gap(collapsed).item() == pytest.approx(math.log(e))
    skew = torch.softmax(torch.arange(e, dtype=torch.float32), 0)
    assert 0 < load_balance_loss(skew) < load_balance_loss(collapsed)
    assert 0 < entropy_gap(skew) < entropy_gap(collapsed)
    # through the layer: a zero gate gives uniform dense routing, a huge bias collapses it
    x, dims = _streams()
    moe = MoEFusion(dims, 16, n_experts=e, top_k=None)
    with torch.no_grad():
        moe.gate.weight.zero_()
        moe.gate.bias.zero_()
    _, aux = moe(x)
    assert aux["load_balance"].item() == pytest.approx(0.0, abs=1e-12)
    assert aux["entropy"].item() == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        moe.gate.bias[3] = 100.0
    _, aux = moe(x)
    assert aux["load_balance"].item() == pytest.approx((e - 1) / e**2, rel=1e-4)
    assert aux["entropy"].item() == pytest.approx(math.log(e), rel=1e-4)
    # minimising the entropy gap pushes usage towards uniform (the penalty's sign)
    with torch.no_grad():
        moe.gate.bias[3] = 2.0
    _, aux = moe(x)
    aux["entropy"].backward()
    assert moe.gate.bias.grad[3] > 0  # gradient descent lowers the dominant expert's bias


def test_concat_fusion_and_bad_arguments():
    x, dims = _streams()
    out, aux = ConcatFusion(dims, 16)(x)
    assert out.shape == (24, 16) and aux["load_balance"].item() == 0.0
    with pytest.raises(ValueError, match="expert_type"):
        MoEFusion(dims, 16, expert_type="mlp")
    with pytest.raises(KeyError, match="temporal"):
        MoEFusion(dims, 16)({k: v for k, v in x.items() if k != "temporal"})


# -------------------------------------------------------------------------------------- RGAT
@pytest.mark.parametrize("mechanism", ["within-relation", "across-relation"])
@pytest.mark.parametrize("mode", ["additive", "multiplicative"])
def test_rgat_stack_shapes(mechanism, mode):
    torch.manual_seed(0)
    b = _batch(n=20)
    for num_bases, num_blocks in ((2, None), (None, None), (None, 2)):
        stack = RGATStack(16, [24, 16, 8], num_relations=3, heads=4, num_bases=num_bases,
                          num_blocks=num_blocks, mechanism=mechanism, mode=mode,
                          negative_slope=0.1, dropout=0.2)
        h = stack(torch.randn(20, 16), b["edge_index"], b["edge_type"], b["edge_weight"])
        assert h.shape == (20, 8) and torch.isfinite(h).all()
    if mode == "multiplicative":  # dim > 1 only here
        stack = RGATStack(16, [16], heads=2, dim=2, mechanism=mechanism, mode=mode)
        assert stack(torch.randn(20, 16), b["edge_index"], b["edge_type"]).shape == (20, 16)


def test_rgat_edge_weights_and_errors():
    torch.manual_seed(0)
    b = _batch(n=20)
    x = torch.randn(20, 16)
    stack = RGATStack(16, [16], mode="additive").eval()
    a = stack(x, b["edge_index"], b["edge_type"], b["edge_weight"])
    c = stack(x, b["edge_index"], b["edge_type"], 3 * b["edge_weight"])
    assert not torch.allclose(a, c)  # the weights enter the attention
    plain = RGATStack(16, [16], mode="additive", use_edge_weight=False).eval()
    torch.testing.assert_close(plain(x, b["edge_index"], b["edge_type"], b["edge_weight"]),
                               plain(x, b["edge_index"], b["edge_type"], None))
    with pytest.raises(ValueError, match="multiplicative"):
        RGATStack(16, [16], dim=2, mode="additive")
    with pytest.raises(ValueError, match="divisible"):
        RGATStack(16, [18], heads=4)
    with pytest.raises(ValueError, match="exclusive"):
        RGATStack(16, [16], num_bases=2, num_blocks=2)
    with pytest.raises(ValueError, match="num_relations"):
        RGATStack(16, [16], num_relations=2)(x, b["edge_index"], b["edge_type"])
    ei, et, ew = select_relations(b["edge_index"], b["edge_type"], b["edge_weight"], keep=(0,))
    assert (et == 0).all() and ei.shape[1] == int((b["edge_type"] == 0).sum()) == ew.numel()


# ------------------------------------------------------------------------------------- model
def test_forward_outputs_and_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = SpTGNN(_small_cfg())
    b = _batch()
    out = model(b)
    assert out["pred"].shape == out["log_var"].shape == out["moran_pred"].shape == (32,)
    assert out["moe_aux"]["gates"].shape == (32, 4)
    y = torch.randn(32)
    moran = local_morans_i(y, b["edge_index"], b["edge_weight"])
    loss, _ = sptgnn_loss(out, y, moran, lambda_aux=1.0, lb_weight=1.0, kind="mse_plus_nll")
    loss.backward()
    unused = unused_parameter_names(model)
    assert unused and all(n.rsplit(".", 1)[-1] in {"w", "l1", "b1", "l2", "b2"} for n in unused)
    missing = [n for n, p in model.named_parameters()
               if n not in unused and (p.grad is None or p.grad.abs().sum() == 0)]
    assert not missing, missing
    assert model.fusion.gate.weight.grad.abs().sum() > 0


def test_topk_model_gate_gets_gradient():
    torch.manual_seed(0)
    model = SpTGNN(_small_cfg(top_k=2, expert_type="additive",
                              attention_mechanism="across-relation", attention_mode="additive"))
    out = model(_batch())
    assert torch.equal((out["moe_aux"]["gates"] > 0).sum(-1), torch.full((32,), 2))
    out["pred"].pow(2).mean().backward()
    assert model.fusion.gate.weight.grad.abs().sum() > 0


def test_bounded_log_variance_stays_in_bounds():
    raw = torch.tensor([-1e30, -1e4, -3.0, 0.0, 3.0, 1e4, 1e30, float("inf")])
    s = bounded_log_variance(raw, -8.0, 4.0)
    assert (s >= -8.0).all() and (s <= 4.0).all()
    assert s[3].item() == pytest.approx(-2.0)  # midpoint at raw = 0
    assert s[0].item() == -8.0 and s[-1].item() == 4.0
    torch.manual_seed(0)
    model = SpTGNN(_small_cfg(s_min=-5.0, s_max=1.0)).eval()
    with torch.no_grad():
        model.head_sigma.weight.mul_(1e6)
    b = _batch()
    b["covariates"] = b["covariates"] * 1e4
    lv = model(b)["log_var"]
    assert (lv >= -5.0).all() and (lv <= 1.0).all()


@pytest.mark.parametrize("switch", [dict(use_graph=False), dict(use_moe=False),
                                    dict(use_image=False), dict(spatial_only=True),
                                    dict(use_positional=False, use_temporal=False),
                                    dict(use_uq=False, use_moran_head=False)])
def test_ablation_switches_run(switch):
    torch.manual_seed(0)
    model = SpTGNN(_small_cfg(**switch))
    b = _batch()
    if switch.get("use_image") is False:
        del b["image"]
    if switch.get("use_graph") is False:
        for k in ("edge_index", "edge_type", "edge_weight"):
            del b[k]
    out = model(b)
    assert out["pred"].shape == (32,) and torch.isfinite(out["pred"]).all()
    if switch.get("use_uq") is False:
        assert out["log_var"] is None and out["moran_pred"] is None
    loss, _ = sptgnn_loss(out, torch.randn(32), kind="huber", lb_weight=0.1)
    loss.backward()


def test_spatial_only_ignores_other_relations():
    torch.manual_seed(0)
    model = SpTGNN(_small_cfg(spatial_only=True)).eval()
    b = _batch()
    keep = b["edge_type"] == 0
    only = dict(b, edge_index=b["edge_index"][:, keep], edge_type=b["edge_type"][keep],
                edge_weight=b["edge_weight"][keep])
    torch.testing.assert_close(model(b)["pred"], model(only)["pred"])
    full = SpTGNN(_small_cfg()).eval()
    assert not torch.allclose(full(b)["pred"], full(only)["pred"])


def _random_graph(n=64, k=3, seed=0):
    """Three relations: k-NN in position, k-NN in covariate 0, spatial edges re-weighted."""
    g = torch.Generator().manual_seed(seed)
    b = _batch(n=n, seed=seed)
    xy = torch.stack([b["lon"], b["lat"]], -1)
    src, dst, typ, w = [], [], [], []
    for r, feat in enumerate((xy, b["covariates"][:, :1], xy)):
        d = torch.cdist(feat, feat)
        d.fill_diagonal_(float("inf"))
        nn_ = d.topk(k, largest=False).indices  # (n, k) sources for each target
        dist = d.gather(1, nn_)
        src.append(nn_.reshape(-1))
        dst.append(torch.arange(n).repeat_interleave(k))
        typ.append(torch.full((n * k,), r))
        ww = torch.exp(-dist / dist.mean()) if r < 2 else torch.rand(n, k, generator=g)
        w.append(ww.reshape(-1))
    b.update(edge_index=torch.stack([torch.cat(src), torch.cat(dst)]),
             edge_type=torch.cat(typ), edge_weight=torch.cat(w))
    return b


def test_tiny_overfit():
    torch.manual_seed(0)
    b = _random_graph()
    x = b["covariates"]
    y = torch.sin(x[:, 0]) + 0.5 * x[:, 1] + 0.3 * torch.cos(b["lat"] / 10)
    model = SpTGNN(_small_cfg(fusion_dim=32, pre_mlp_hidden=(32,), pre_mlp_out=32,
                              rgat_hidden=(32, 16), post_mlp_hidden=(16,), post_mlp_out=16))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    moran = local_morans_i(y, b["edge_index"], b["edge_weight"])
    losses = []
    for _ in range(200):
        loss, parts = sptgnn_loss(model(b), y, moran, lambda_aux=0.1, lb_weight=0.01,
                                  entropy_weight=0.01, kind="huber")
        losses.append(parts["main"].item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.2 * losses[0], (losses[0], losses[-1])


def test_determinism_with_seed():
    def run():
        torch.manual_seed(123)
        model = SpTGNN(_small_cfg(top_k=2, dropout=0.2, pre_mlp_dropout=0.1))
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        b = _batch()
        for _ in range(3):
            loss, _ = sptgnn_loss(model(b), torch.ones(32), kind="beta_nll", lb_weight=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        return model(b)["pred"].detach()

    assert torch.equal(run(), run())


def test_checkpointed_rgat_gives_the_same_outputs_and_gradients():
    """Recomputing the RGAT layers in backward (memory only) changes no number, dropout
    included (the random state is replayed)."""
    def run(ckpt: bool):
        torch.manual_seed(7)
        model = SpTGNN(_small_cfg(dropout=0.3, checkpoint_rgat=ckpt)).train()
        torch.manual_seed(11)
        out = model(_batch())
        loss, _ = sptgnn_loss(out, torch.ones(32), torch.zeros(32), lambda_aux=0.5)
        loss.backward()
        return out["pred"].detach(), {n: p.grad for n, p in model.named_parameters()
                                      if p.grad is not None}

    p0, g0 = run(False)
    p1, g1 = run(True)
    torch.testing.assert_close(p1, p0, rtol=0, atol=0)
    assert g0.keys() == g1.keys() and any("gnn" in n for n in g0)
    for n in g0:
        torch.testing.assert_close(g1[n], g0[n], rtol=1e-5, atol=1e-7, msg=n)


# ----------------------------------------------------------------------------------- configs
def test_table6_values():
    a, e, g = (SPTGNN_CONFIGS[r] for r in ("africa", "europe", "global"))
    assert a.top_k is None and e.top_k == g.top_k == 4
    assert a.rgat_hidden == (512, 256, 128, 64) and e.rgat_hidden == (256, 384, 192)
    assert g.rgat_hidden == (256, 128)
    assert (a.attention_mechanism, a.attention_mode) == ("within-relation", "multiplicative")
    assert (g.attention_mechanism, g.attention_mode) == ("across-relation", "additive")
    assert (a.n_experts, e.n_experts, g.n_experts) == (8, 16, 8)
    assert (a.expert_type, e.expert_type, g.expert_type) == ("cross-gated", "cross-gated",
                                                             "concat")
    assert (a.fusion_dim, e.fusion_dim, g.fusion_dim) == (512, 1024, 1024)
    assert (a.lr, e.lr, g.lr) == (1.95e-4, 2.19e-4, 5.27e-4)
    assert (a.grad_clip, g.grad_clip, a.batch_size, e.batch_size) == (0.5, 1.87, 32, 16)
    assert (a.lambda_aux, e.lambda_aux, g.lambda_aux) == (5.3e-5, 8.8e-5, 4.9e-5)
    assert (a.pre_mlp_out, e.pre_mlp_out, g.pre_mlp_out) == (256, 512, 1024)
    assert (a.post_mlp_out, e.post_mlp_out, g.post_mlp_out) == (128, 128, 32)
    assert (a.pos_scales, a.pos_dim, a.time_freqs, a.time_dim) == (10, 16, 4, 8)


def test_scaled_widths():
    s = scaled(SPTGNN_CONFIGS["europe"], 0.125)
    assert s.fusion_dim == 128 and s.rgat_hidden == (32, 48, 24)
    assert s.pre_mlp_hidden == (128, 64) and s.post_mlp_out == 16
    assert min(s.pos_dim, s.time_dim) >= 8 and s.n_experts == 16 and s.lr == 2.19e-4
    assert all(w % (s.heads * s.att_dim) == 0 for w in s.rgat_hidden)
    assert scaled(s, 1.0) is s
    assert all(w >= 8 for w in scaled(SPTGNN_CONFIGS["global"], 0.001).rgat_hidden)


@pytest.mark.parametrize("region", ["africa", "europe", "global"])
def test_table6_configs_build_at_small_scale(region):
    torch.manual_seed(0)
    cfg = replace(scaled(SPTGNN_CONFIGS[region], 0.125), img_dim=IMG, n_covariates=5)
    model = SpTGNN(cfg)
    out = model(_batch())
    assert out["pred"].shape == (32,) and torch.isfinite(out["log_var"]).all()
    loss, _ = sptgnn_loss(out, torch.randn(32), torch.randn(32), lambda_aux=cfg.lambda_aux,
                          lb_weight=cfg.lb_weight, kind="nll")
    loss.backward()
    assert count_parameters(model) > 0
    smoke = config_for(region, "smoke")
    assert smoke.img_dim == 32 and smoke.epochs == 3
    assert smoke.fusion_dim == cfg.fusion_dim
    # the CPU profiles take full-batch steps with the square-root scaled learning rate;
    # the paper profile keeps Table 6's mini-batches and learning rate
    from geohet_lib.config import get_profile

    soc = get_profile("smoke").soc
    n_train = round(soc.samples(region) * soc.split[0])
    t6 = SPTGNN_CONFIGS[region]
    assert smoke.batch_size is None
    assert smoke.lr == pytest.approx(t6.lr * (n_train / t6.batch_size) ** 0.5)
    paper = config_for(region, "paper")
    assert paper.batch_size == t6.batch_size and paper.lr == t6.lr


def test_full_batch_lr_is_the_square_root_rule():
    from geohet_lib.soc.configs import full_batch_lr

    assert full_batch_lr(1e-4, 32, 3200) == pytest.approx(1e-3)  # sqrt(100) = 10
    assert full_batch_lr(2e-4, 16, 16 * 49) == pytest.approx(1.4e-3)
    assert full_batch_lr(1e-4, None, 3200) == 1e-4
    assert full_batch_lr(1e-4, 5000, 3200) == 1e-4
    with pytest.raises(ValueError, match="n_train"):
        full_batch_lr(1e-4, 32, 0)
    with pytest.raises(ValueError, match="batch_size"):
        full_batch_lr(1e-4, 0, 100)


@pytest.mark.parametrize("mechanism", ["within-relation", "across-relation"])
@pytest.mark.parametrize("mode", ["additive-self-attention", "multiplicative-self-attention"])
@pytest.mark.parametrize("bases", [None, 2])
def test_lean_rgatconv_equals_pyg_rgatconv(mechanism, mode, bases):
    """Same weights, same inputs: the memory-lean layer gives PyG's outputs and gradients."""
    from torch_geometric.nn import RGATConv

    from geohet_lib.soc.rgat import LeanRGATConv

    torch.manual_seed(0)
    n, e, fin = 30, 200, 12
    x = torch.randn(n, fin, requires_grad=True)
    ei = torch.randint(0, n, (2, e))
    et = torch.randint(0, 3, (e,))
    ea = torch.rand(e, 1)
    kw = dict(num_bases=bases, attention_mechanism=mechanism, attention_mode=mode, heads=2,
              dim=2 if mode.startswith("multi") else 1, edge_dim=1, dropout=0.0)
    ref = RGATConv(fin, 4, 3, **kw)
    lean = LeanRGATConv(fin, 4, 3, **kw)
    lean.load_state_dict(ref.state_dict())
    out_ref = ref(x, ei, et, edge_attr=ea)
    g_ref = torch.autograd.grad(out_ref.square().sum(), x)[0]
    out = lean(x, ei, et, edge_attr=ea)
    g = torch.autograd.grad(out.square().sum(), x)[0]
    torch.testing.assert_close(out, out_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g, g_ref, rtol=1e-4, atol=1e-5)

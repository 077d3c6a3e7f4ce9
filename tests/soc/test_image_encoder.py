"""The SOC image encoder: PatchViT (TerraMind stand-in), warm-up fine-tune, embeddings cache."""

import numpy as np
import pytest
import torch

from geohet_lib.engine import BEST_NAME, LAST_NAME, History, load_checkpoint
from geohet_lib.soc.image_encoder import (HISTORY_COLUMNS, ImageEncoderConfig, ImageRegressor,
                                          PatchSourceLike, PatchViT, TerraMindAdapter,
                                          TerraMindUnavailableError, WarmupEarlyStopping,
                                          cache_embeddings, embed_patches, fit_image_encoder,
                                          load_cached_embeddings, load_image_encoder)

torch.set_num_threads(1)

P = 16


class TextureSource:
    """Random textures whose brightness (S2) and stripe frequency (S1) encode a target t."""

    def __init__(self, n: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.t = rng.uniform(0.0, 1.0, n)
        yy, xx = np.mgrid[0:P, 0:P] / P
        gain = np.linspace(0.5, 1.5, 11)[:, None, None]
        noise = rng.standard_normal((n, 11, P, P))
        self.s2 = (1000 * (gain * (0.5 + self.t[:, None, None, None]) + 0.3 * noise)
                   ).astype(np.float32)  # reflectance-like scale: the input norm matters
        freq = 1 + 3 * self.t[:, None, None]
        stripes = np.sin(2 * np.pi * freq * xx + rng.uniform(0, 6.3, (n, 1, 1)))
        self.s1 = (-15 + 3 * stripes[:, None] + rng.standard_normal((n, 2, P, P))
                   ).astype(np.float32)
        slope = rng.normal(0, 50, (n, 1, 1))  # uninformative terrain
        self.dem = (400 + slope * yy + 5 * rng.standard_normal((n, P, P)))[:, None] \
            .astype(np.float32)
        self.calls = 0

    def target(self) -> np.ndarray:
        return np.log1p(5 + 25 * self.t)  # log-scaled SOC-like target (g/kg)

    def get(self, ids):
        self.calls += 1
        ids = np.asarray(ids)
        return {"s2": self.s2[ids], "s1": self.s1[ids], "dem": self.dem[ids]}


@pytest.fixture(scope="module")
def src():
    return TextureSource(320)


def _cfg(**kw) -> ImageEncoderConfig:
    return ImageEncoderConfig(patch_size=P, vit_patch=8, dim=32, depth=2, heads=2, merge_depth=2,
                              merge_heads=4, merge_ff=64, **kw)


def _fit(src, n_train=64, n_val=32, **kw):
    y = src.target()
    ids = np.arange(n_train + n_val)
    args = dict(cfg=_cfg(), warmup_epochs=1, epochs=2, lr=1e-3, batch_size=32, device="cpu",
                progress=False)
    args.update(kw)
    return fit_image_encoder(src, ids[:n_train], y[:n_train], ids[n_train:], y[ids[n_train:]],
                             **args)


def test_config_from_profile_follows_table6():
    af = ImageEncoderConfig.from_profile("smoke", "africa")
    eu = ImageEncoderConfig.from_profile("smoke", "europe")
    gl = ImageEncoderConfig.from_profile("smoke", "global")
    assert (af.patch_size, af.vit_patch, af.dim, af.depth, af.heads) == (16, 8, 32, 2, 2)
    assert (af.merge_depth, af.merge_heads, af.modality_merge) == (2, 4, "mean")
    assert (eu.merge_depth, eu.merge_heads, eu.modality_merge) == (3, 8, "mean")
    assert (gl.merge_depth, gl.modality_merge) == (2, "max")
    assert gl.merge_ff == af.merge_ff // 2  # 512 vs 1024 in Table 6, scaled by dim / 1024
    assert ImageEncoderConfig.from_profile("default", "africa").dim == 64
    assert ImageEncoderConfig.from_dict(af.to_dict()) == af
    with pytest.raises(ValueError, match="multiple"):
        ImageEncoderConfig(patch_size=20, vit_patch=8)
    with pytest.raises(ValueError, match="divisible"):
        ImageEncoderConfig(dim=30, heads=4, merge_heads=2)
    with pytest.raises(ValueError, match="modality_merge"):
        _cfg(modality_merge="sum")
    with pytest.raises(ValueError, match="region"):
        ImageEncoderConfig.from_profile("smoke", "mars")


@pytest.mark.parametrize("merge,pool", [("mean", "cls"), ("max", "cls"), ("max", "max")])
def test_shapes_of_tokens_and_embedding(src, merge, pool):
    torch.manual_seed(0)
    vit = PatchViT(_cfg(modality_merge=merge, pool=pool)).eval()
    x = {k: torch.from_numpy(v) for k, v in src.get(np.arange(5)).items()}
    tok = vit.tokens(x)
    assert tok.shape == (3, 5, 1 + 4, 32)  # modalities, samples, CLS + (16 / 8)^2 tokens, dim
    merged = vit.merge_modalities(tok)
    assert merged.shape == (5, 5, 32)
    ref = tok.mean(0) if merge == "mean" else tok.amax(0)
    torch.testing.assert_close(merged, ref)
    emb = vit(x)
    assert emb.shape == (5, 32) and torch.isfinite(emb).all()
    # the merge CLS token sees every modality: changing S1 alone changes the embedding
    x2 = dict(x, s1=x["s1"] + 5.0)
    assert not torch.allclose(vit(x2), emb)


def test_input_norm_is_fitted_on_training_patches_and_masks_nan(src):
    vit = PatchViT(_cfg())
    assert not bool(vit.norm_fitted)
    ids = np.arange(100)
    vit.fit_input_norm(src, ids, batch_size=32, max_samples=None)
    s2 = src.s2[ids].astype(np.float64)
    np.testing.assert_allclose(vit.in_mean_s2.numpy(), s2.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(vit.in_std_s2.numpy(), s2.std(axis=(0, 2, 3)), rtol=1e-4)
    assert bool(vit.norm_fitted) and "in_mean_dem" in vit.state_dict()
    x = {k: torch.from_numpy(v.copy()) for k, v in src.get(np.arange(3)).items()}
    x["s2"][0, :, :4] = float("nan")  # a cloud mask
    assert torch.isfinite(vit.eval()(x)).all()


def test_bad_patches_give_clear_errors(src):
    class Missing:
        def get(self, ids):
            return {"s2": src.s2[ids], "s1": src.s1[ids]}

    class WrongChannels:
        def get(self, ids):
            return {"s2": src.s2[ids][:, :4], "s1": src.s1[ids], "dem": src.dem[ids]}

    vit = PatchViT(_cfg())
    assert isinstance(src, PatchSourceLike)
    with pytest.raises(KeyError, match="dem"):
        embed_patches(vit, Missing(), np.arange(3), device="cpu", progress=False)
    with pytest.raises(ValueError, match="'s2' patches have shape"):
        embed_patches(vit, WrongChannels(), np.arange(3), device="cpu", progress=False)
    with pytest.raises(ValueError, match="loss"):
        _fit(src, loss="l1")
    with pytest.raises(ValueError, match="warmup"):
        _fit(src, warmup_epochs=3, epochs=2)


def _snapshot(params):
    return [p.detach().clone() for p in params]


def test_warmup_freezes_the_body_and_trains_the_head(src):
    torch.manual_seed(0)
    reg = ImageRegressor(PatchViT(_cfg()))
    body0 = _snapshot(reg.encoder.body_parameters())
    head0 = _snapshot(reg.head.parameters())
    merge0 = _snapshot(reg.encoder.merge_blocks.parameters())
    enc, hist = _fit(src, regressor=reg, warmup_epochs=1, epochs=1)
    assert hist.frozen == [True]
    for a, b in zip(body0, reg.encoder.body_parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # bit-identical: no update, no decay
    assert all(not torch.equal(a, b) for a, b in zip(head0, reg.head.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(merge0, reg.encoder.merge_blocks.parameters()))
    # continuing from a returned (frozen) encoder: a new warm-up trains its merge again
    merge1 = _snapshot(enc.merge_blocks.parameters())
    _fit(src, regressor=ImageRegressor(enc), warmup_epochs=1, epochs=1)
    assert any(not torch.equal(a, b) for a, b in zip(merge1, enc.merge_blocks.parameters()))


def test_after_warmup_every_parameter_trains(src, tmp_path):
    torch.manual_seed(0)
    reg = ImageRegressor(PatchViT(_cfg(pos_embed="learned")))
    named0 = {k: v.detach().clone() for k, v in reg.named_parameters()}
    enc, hist = _fit(src, regressor=reg, warmup_epochs=1, epochs=2, checkpoint_dir=tmp_path)
    assert hist.frozen == [True, False]
    last = load_checkpoint(tmp_path / LAST_NAME)["state_dict"]
    unchanged = [k for k in named0 if torch.equal(last[k], named0[k])]
    assert unchanged == []  # the weights after epoch 2: body, merge and head all moved
    # the returned encoder is frozen and in eval mode; the head is not part of it
    assert enc is reg.encoder and not enc.training
    assert all(not p.requires_grad for p in enc.parameters())
    assert not any(k.startswith("head") for k in enc.state_dict())


def test_tiny_fit_learns_texture_to_target(src):
    y = src.target()
    enc, hist = _fit(src, n_train=256, n_val=64, warmup_epochs=1, epochs=6,
                     inverse_transform=np.expm1)
    assert len(hist.val_loss) == 6 and hist.frozen[:2] == [True, False]
    best = hist.best()
    assert best["val_r2"] > 0.5, hist  # held-out R² on the original scale
    assert best["val_r2_target"] > 0.5 and best["val_mape"] < 25
    assert hist.train_loss[-1] < 0.5 * hist.train_loss[0]
    assert min(hist.val_loss) < 0.5 * np.var(y[256:320])  # far better than the mean
    emb = embed_patches(enc, src, np.arange(256, 320), device="cpu", progress=False)
    assert emb.shape == (64, 32) and emb.dtype == np.float32


def test_huber_loss_and_checkpoints(src, tmp_path):
    enc, hist = _fit(src, loss="huber", checkpoint_dir=tmp_path, epochs=2)
    assert (tmp_path / LAST_NAME).exists()
    again = load_image_encoder(tmp_path / BEST_NAME)
    ids = np.arange(70, 80)
    np.testing.assert_array_equal(embed_patches(enc, src, ids, device="cpu", progress=False),
                                  embed_patches(again, src, ids, device="cpu", progress=False))
    ck = load_checkpoint(tmp_path / BEST_NAME)
    assert any(k.startswith("head.") for k in ck["state_dict"])
    assert ck["hparams"]["settings"]["loss"] == "huber"
    assert ck["hparams"]["model_config"] == enc.config_dict()
    assert ck["history"].val_loss == hist.val_loss and ck["history"].best_epoch == hist.best_epoch
    assert set(ck["extra"]) >= {"y_mean", "y_std", "norm_seconds"}
    np.testing.assert_array_equal(  # the folder is enough
        embed_patches(load_image_encoder(tmp_path), src, ids, device="cpu", progress=False),
        embed_patches(enc, src, ids, device="cpu", progress=False))


def test_history_is_the_engines_with_the_fine_tune_columns(src):
    enc, hist = _fit(src, warmup_epochs=1, epochs=2, inverse_transform=np.expm1)
    assert isinstance(hist, History) and set(HISTORY_COLUMNS) <= set(hist.columns)
    assert hist.frozen == [True, False] and hist.norm_seconds >= 0
    assert hist.best_epoch == int(np.argmin(hist.val_loss))
    assert set(hist.best()) >= {"epoch", "val_loss", "val_mape", "val_r2", "val_r2_target"}
    _, plain = _fit(src, warmup_epochs=1, epochs=1)  # no inverse transform: no original scale
    assert np.isnan(plain.val_mape[0]) and np.isnan(plain.val_r2[0])
    assert np.isfinite(plain.val_r2_target[0])


def test_early_stopping_does_not_count_warmup_epochs():
    import types

    from lightning.pytorch.callbacks import EarlyStopping

    def run(stopper, values):
        trainer = types.SimpleNamespace(fast_dev_run=False, should_stop=False, current_epoch=0,
                                        callback_metrics={}, strategy=types.SimpleNamespace(
                                            reduce_boolean_decision=lambda d, all=False: d))
        for epoch, v in enumerate(values):
            trainer.current_epoch, trainer.callback_metrics = epoch, {"val_loss": torch.tensor(v)}
            stopper._run_early_stopping_check(trainer)
            if trainer.should_stop:
                return epoch
        return None

    values = [1.0, 2.0, 3.0, 0.5, 0.6, 0.7, 0.8]
    assert run(EarlyStopping("val_loss", patience=2), values) == 2  # counted warm-up epoch 1
    es = WarmupEarlyStopping("val_loss", warmup_epochs=2, patience=2)
    assert run(es, values) == 5  # epoch 2 counts (1), 3 improves, 4 and 5 count (2): stop
    assert es.stopped_epoch == 5 and float(es.best_score) == 0.5
    assert run(WarmupEarlyStopping("val_loss", warmup_epochs=6, patience=1), values) == 6
    later = WarmupEarlyStopping("val_loss", warmup_epochs=2, patience=7)
    later.load_state_dict(es.state_dict())  # resuming keeps the caller's patience
    assert later.patience == 7 and later.wait_count == es.wait_count


def test_resume_gives_the_uninterrupted_run(src, tmp_path):
    full, h_full = _fit(src, warmup_epochs=1, epochs=3, patience=10)
    _fit(src, warmup_epochs=1, epochs=2, patience=10, checkpoint_dir=tmp_path)
    resumed, h_res = _fit(src, warmup_epochs=1, epochs=3, patience=10, checkpoint_dir=tmp_path,
                          resume=True)
    assert h_res.val_loss == h_full.val_loss
    ids = np.arange(10)
    np.testing.assert_array_equal(embed_patches(full, src, ids, device="cpu", progress=False),
                                  embed_patches(resumed, src, ids, device="cpu", progress=False))


def test_same_seed_same_embeddings(src):
    ids = np.arange(100, 140)
    a, _ = _fit(src, seed=3)
    b, _ = _fit(src, seed=3)
    c, _ = _fit(src, seed=4)
    ea = embed_patches(a, src, ids, batch_size=16, device="cpu", progress=False)
    np.testing.assert_array_equal(ea, embed_patches(b, src, ids, batch_size=16, device="cpu",
                                                    progress=False))
    assert not np.allclose(ea, embed_patches(c, src, ids, device="cpu", progress=False))
    # batching does not change an embedding
    np.testing.assert_allclose(ea, embed_patches(a, src, ids, batch_size=7, device="cpu",
                                                 progress=False), rtol=1e-5, atol=1e-5)


def test_embedding_cache_round_trip_and_refusals(src, tmp_path):
    torch.manual_seed(0)
    vit = PatchViT(_cfg()).fit_input_norm(src, np.arange(64))
    ids = np.arange(20, 60)
    path = tmp_path / "emb" / "vit_embeddings.npy"
    emb = cache_embeddings(vit, src, ids, path, batch_size=16, device="cpu", progress=False)
    assert emb.shape == (40, 32) and path.exists() and path.with_suffix(".json").exists()
    assert sorted(p.name for p in path.parent.iterdir()) == ["vit_embeddings.json",
                                                            "vit_embeddings.npy"]  # no temps
    np.testing.assert_array_equal(load_cached_embeddings(path, ids), emb)
    np.testing.assert_array_equal(load_cached_embeddings(path, ids, vit), emb)
    np.testing.assert_array_equal(load_cached_embeddings(path, ids, vit.cfg), emb)
    with pytest.raises(ValueError, match="other sample ids"):
        load_cached_embeddings(path, np.arange(21, 61))
    with pytest.raises(ValueError, match="other sample ids"):
        load_cached_embeddings(path, ids[::-1])  # same ids, other row order
    with pytest.raises(ValueError, match="configuration"):
        load_cached_embeddings(path, ids, _cfg(modality_merge="max"))
    torch.manual_seed(1)
    other = PatchViT(_cfg()).fit_input_norm(src, np.arange(64))
    with pytest.raises(ValueError, match="other encoder weights"):
        load_cached_embeddings(path, ids, other)
    with pytest.raises(FileNotFoundError, match="cache_embeddings"):
        load_cached_embeddings(tmp_path / "missing.npy", ids)
    np.save(path, emb + 1)  # a stale array under a valid sidecar
    with pytest.raises(ValueError, match="stale"):
        load_cached_embeddings(path, ids)
    with pytest.raises(ValueError, match=".npy"):
        cache_embeddings(vit, src, ids, tmp_path / "x.bin", device="cpu", progress=False)


def test_terramind_adapter_raises_a_clear_error_here(tmp_path):
    if TerraMindAdapter.available():
        pytest.skip("terratorch is installed here")
    with pytest.raises(TerraMindUnavailableError, match="terratorch") as err:
        TerraMindAdapter()
    assert "weights_path" in str(err.value) and "PatchViT" in str(err.value)
    with pytest.raises(TerraMindUnavailableError, match="does not exist"):
        TerraMindAdapter(tmp_path / "TerraMind_v1_large.pt")


def test_terramind_adapter_wiring_with_a_fake_terratorch(src, tmp_path, monkeypatch):
    """The glue only: a stand-in ``terratorch`` registry records the build call."""
    import sys
    import types

    calls = {}

    class FakeBackbone(torch.nn.Module):  # dict of modalities -> [per-layer (n, L, 1024)]
        def __init__(self, modalities, merge_method, **kw):
            super().__init__()
            self.proj = torch.nn.ModuleDict({m: torch.nn.Conv2d(c, 1024, 8, stride=8) for m, c in
                                             (("S2L2A", 11), ("S1GRD", 2), ("DEM", 1))})
            self.merge = merge_method

        def forward(self, x):
            t = torch.stack([self.proj[m](v / 1000).flatten(2).transpose(1, 2)
                             for m, v in x.items()])
            return [t.mean(0) if self.merge == "mean" else t.amax(0)]

    def build(name, **kw):
        calls.update(name=name, **kw)
        return FakeBackbone(**kw)

    registry = types.ModuleType("terratorch.registry")
    registry.BACKBONE_REGISTRY = types.SimpleNamespace(build=build)
    pkg = types.ModuleType("terratorch")
    pkg.registry = registry
    monkeypatch.setitem(sys.modules, "terratorch", pkg)
    monkeypatch.setitem(sys.modules, "terratorch.registry", registry)
    weights = tmp_path / "TerraMind_v1_large.pt"
    weights.write_bytes(b"stub")
    tm = TerraMindAdapter(weights, modality_merge="max")
    assert calls["name"] == "terramind_v1_large" and calls["ckpt_path"] == str(weights)
    assert calls["modalities"] == ["S2L2A", "S1GRD", "DEM"] and calls["merge_method"] == "max"
    emb = embed_patches(tm, src, np.arange(6), device="cpu", progress=False)
    assert emb.shape == (6, 1024)
    body0 = _snapshot(tm.body_parameters())
    reg = ImageRegressor(tm, head_hidden=16)
    y = src.target()
    fit_image_encoder(src, np.arange(32), y[:32], np.arange(32, 48), y[32:48], regressor=reg,
                      warmup_epochs=1, epochs=1, batch_size=16, device="cpu", progress=False)
    for a, b in zip(body0, tm.body_parameters()):
        assert torch.equal(a, b)  # warm-up: TerraMind frozen

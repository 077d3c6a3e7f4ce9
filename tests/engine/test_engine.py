"""The training engine on a tiny regression: history, best weights, schedules, resume, seeds."""

import math

import lightning as L
import numpy as np
import pytest
import torch
from torch import nn

from geohet_lib.engine import (BEST_NAME, LAST_NAME, BaseTask, EpochSeededDistributedSampler,
                               History, IndexDataset, OptimConfig, ShardedEvalSampler, fit_task,
                               index_loader, load_checkpoint)


class TinyTask(BaseTask):
    monitor = "val_rmse"

    def training_loss(self, batch):
        x, y = batch
        loss = torch.mean((self.model(x).squeeze(-1) - y) ** 2)
        return loss, {"mse": loss}, len(y)

    def validation_sums(self, batch):
        x, y = batch
        return {"sq": torch.sum((self.model(x).squeeze(-1) - y) ** 2),
                "n": torch.tensor(float(len(y)))}

    def validation_metrics(self, sums):
        return {"val_rmse": math.sqrt(sums["sq"] / sums["n"])}

    def train_record(self, means):
        return {"train_rmse": math.sqrt(means["mse"])}


class TinyData(L.LightningDataModule):
    def __init__(self, n=96, batch_size=16, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(123)
        self.x = torch.randn(n, 3, generator=g)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(n, generator=g)
        self.tr, self.va = np.arange(0, n - 32), np.arange(n - 32, n)
        self.batch_size, self.seed = batch_size, seed

    def _collate(self, rows):
        def f(idx):
            i = torch.as_tensor(rows[idx])
            return self.x[i], self.y[i]
        return f

    def train_dataloader(self):
        return index_loader(len(self.tr), self.batch_size, self._collate(self.tr), train=True,
                            seed=self.seed)

    def val_dataloader(self):
        return index_loader(len(self.va), 64, self._collate(self.va), train=False)


def _task(seed=0, schedule="constant", **kw):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.1), nn.Linear(8, 1))
    optim = OptimConfig(lr=kw.pop("lr", 1e-2), schedule=schedule, **kw)
    return TinyTask(model, optim, seed, {"model_config": {"width": 8}})


def test_fit_records_history_and_restores_the_best_weights():
    task = _task()
    hist = fit_task(task, TinyData(), epochs=6, progress=False)
    assert hist.epochs == 6 and len(hist.val_rmse) == 6
    assert hist.train_rmse[-1] < hist.train_rmse[0]
    assert set(hist.columns) >= {"train_rmse", "val_rmse", "lr", "seconds", "samples_per_s"}
    assert hist.best_epoch == int(np.argmin(hist.val_rmse))
    dm = TinyData()
    x, y = dm.x[dm.va], dm.y[dm.va]
    task.model.eval()
    with torch.no_grad():
        rmse = torch.sqrt(torch.mean((task.model(x).squeeze(-1) - y) ** 2)).item()
    assert rmse == pytest.approx(min(hist.val_rmse), rel=1e-5)


def test_step_schedule_and_plateau_schedule():
    hist = fit_task(_task(schedule="step", lr_decayed=1e-3, decay_epoch=2), TinyData(),
                    epochs=4, progress=False)
    np.testing.assert_allclose(hist.lr, [1e-2, 1e-2, 1e-3, 1e-3])
    hist = fit_task(_task(schedule="plateau", plateau_patience=0, lr=1.0), TinyData(),
                    epochs=5, progress=False)
    assert hist.lr[0] == 1.0 and min(hist.lr) < 1.0  # lr 1 diverges: the plateau halves it


def test_early_stopping_stops_and_says_so():
    hist = fit_task(_task(lr=3.0), TinyData(), epochs=30, patience=2, progress=False)
    assert hist.stopped_early and hist.epochs < 30
    assert hist.epochs - 1 - hist.best_epoch == 2


def test_same_seed_same_numbers_other_seed_others():
    a = fit_task(_task(0), TinyData(seed=0), epochs=3, progress=False).val_rmse
    b = fit_task(_task(0), TinyData(seed=0), epochs=3, progress=False).val_rmse
    c = fit_task(_task(1), TinyData(seed=1), epochs=3, progress=False).val_rmse
    assert a == b and a != c


def test_resume_equals_uninterrupted_and_refuses_other_configs(tmp_path):
    full = _task()
    h_full = fit_task(full, TinyData(), epochs=5, progress=False,
                      checkpoint_dir=tmp_path / "full")
    part = _task()
    fit_task(part, TinyData(), epochs=5, progress=False, checkpoint_dir=tmp_path / "part",
             stop_after_epoch=1)
    assert (tmp_path / "part" / LAST_NAME).exists()
    resumed = _task()
    h_res = fit_task(resumed, TinyData(), epochs=5, progress=False,
                     checkpoint_dir=tmp_path / "part", resume=True)
    assert h_res.val_rmse == h_full.val_rmse and h_res.best_epoch == h_full.best_epoch
    for (k, v), w in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(v, w), k
    other = TinyTask(nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.1), nn.Linear(8, 1)),
                     OptimConfig(lr=1e-2), 0, {"model_config": {"width": 9}})
    with pytest.raises(ValueError, match="another configuration"):
        fit_task(other, TinyData(), epochs=5, progress=False, checkpoint_dir=tmp_path / "part",
                 resume=True)
    on_other_data = TinyTask(nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.1), nn.Linear(8, 1)),
                             OptimConfig(lr=1e-2), 0, {"model_config": {"width": 8}},
                             data_key="another-stage-01")
    with pytest.raises(ValueError, match="another configuration, seed or data"):
        fit_task(on_other_data, TinyData(), epochs=5, progress=False,
                 checkpoint_dir=tmp_path / "part", resume=True)
    ck = load_checkpoint(tmp_path / "full" / BEST_NAME)
    assert ck["hparams"]["model_config"] == {"width": 8}
    assert ck["history"].val_rmse == h_full.val_rmse
    for k, v in full.model.state_dict().items():
        assert torch.equal(ck["state_dict"][k], v)
    csv = History.read_csv(tmp_path / "full" / "metrics.csv", monitor="val_rmse")
    np.testing.assert_allclose(csv.val_rmse, h_full.val_rmse, rtol=1e-6)
    assert csv.best_epoch == h_full.best_epoch


class Crash(L.Callback):
    """A crash at the start of epoch ``at`` (0-based). (Not ``KeyboardInterrupt``: Lightning
    turns that into ``SystemExit`` and ignores SIGINT afterwards.)"""

    def __init__(self, at):
        self.at = at

    def on_train_epoch_start(self, trainer, module):
        if trainer.current_epoch == self.at:
            raise RuntimeError("simulated crash")


def test_a_crashed_run_resumes_from_its_last_epoch(tmp_path):
    full = fit_task(_task(), TinyData(), epochs=4, progress=False)
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit_task(_task(), TinyData(), epochs=4, progress=False, checkpoint_dir=tmp_path,
                 callbacks=[Crash(2)])
    assert load_checkpoint(tmp_path / LAST_NAME)["history"].epochs == 2
    resumed = fit_task(_task(), TinyData(), epochs=4, progress=False, checkpoint_dir=tmp_path,
                       resume=True)
    assert resumed.val_rmse == full.val_rmse and resumed.lr == full.lr


def test_a_checkpoint_saved_on_cuda_loads_on_a_cpu_only_machine(tmp_path, monkeypatch):
    """Tensors are written with the storage location CUDA would give them ("cuda:0")."""
    import torch.serialization as ser

    task = _task()
    fit_task(task, TinyData(), epochs=1, progress=False, checkpoint_dir=tmp_path)
    ck = torch.load(tmp_path / BEST_NAME, weights_only=False)
    monkeypatch.setattr(ser, "location_tag", lambda storage: "cuda:0")
    torch.save(ck, tmp_path / "cuda.ckpt")
    monkeypatch.undo()
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(tmp_path / "cuda.ckpt", weights_only=False)
    out = load_checkpoint(tmp_path / "cuda.ckpt", map_location="cpu")
    assert all(v.device.type == "cpu" for v in out["state_dict"].values())
    fresh = _task(5)
    fresh.model.load_state_dict(out["state_dict"])
    for k, v in task.model.state_dict().items():
        assert torch.equal(fresh.model.state_dict()[k], v)


def test_unreadable_checkpoints_name_the_file(tmp_path):
    bad = tmp_path / "broken.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="broken.ckpt"):
        load_checkpoint(bad)
    with pytest.raises(FileNotFoundError, match="missing.ckpt"):
        load_checkpoint(tmp_path / "missing.ckpt")


def test_sharded_sampler_shards_union_to_the_single_process_batches():
    ds = IndexDataset(10)
    one = EpochSeededDistributedSampler(ds, num_replicas=1, rank=0, seed=3)
    two = [EpochSeededDistributedSampler(ds, num_replicas=2, rank=r, seed=3) for r in (0, 1)]
    for s in (one, *two):
        s.set_epoch(4)
    single = list(one)
    assert sorted(single) == list(range(10))
    shards = [list(s) for s in two]
    for k in range(len(shards[0]) // 2):  # batch k of 2 per rank == batch k of 4 in one process
        assert sorted(shards[0][2 * k:2 * k + 2] + shards[1][2 * k:2 * k + 2]) == \
            sorted(single[4 * k:4 * k + 4])
    one.set_epoch(5)
    assert list(one) != single  # a new order each epoch
    assert [list(ShardedEvalSampler(5, 2, r)) for r in (0, 1)] == [[0, 2, 4], [1, 3]]


def test_optim_config_validation():
    with pytest.raises(ValueError, match="schedule must be"):
        OptimConfig(schedule="cosine")
    with pytest.raises(ValueError, match="lr_decayed and decay_epoch"):
        OptimConfig(schedule="step")
    assert OptimConfig(lr=1e-3, schedule="step", lr_decayed=1e-4, decay_epoch=2).factor_at(3) \
        == pytest.approx(0.1)

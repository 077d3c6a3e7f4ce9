"""BaseTask's optimiser and schedule (geohet_lib/engine/task.py)."""


def test_onecycle_warm_up_never_ends_on_the_first_step():
    import torch

    from geohet_lib.engine.task import onecycle_pct_start

    assert onecycle_pct_start(0.25, 2) is None and onecycle_pct_start(0.25, 1) is None
    assert onecycle_pct_start(0.25, 4) == 0.5 and onecycle_pct_start(0.25, 100) == 0.25
    for total in range(3, 60):  # PyTorch's OneCycleLR divided by zero at 4 steps with 0.25
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=total,
                                                    pct_start=onecycle_pct_start(0.25, total))
        for _ in range(total - 1):
            opt.step()
            sched.step()

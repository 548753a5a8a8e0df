"""Optimizers: fused kernels where torch has them, the same steps as the plain ones."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from kwslab.config import TrainConfig
from kwslab.training.optim import FUSED, make_optimizer


def _steps(cfg: TrainConfig, fused: bool) -> torch.Tensor:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    opt = make_optimizer(model.parameters(), cfg)
    if not fused:  # the reference: the same optimizer, one elementwise op at a time
        for group in opt.param_groups:
            group["fused"] = False
    x, y = torch.randn(32, 12), torch.randint(0, 3, (32,))
    for _ in range(5):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "adagrad", "adamax", "nadam",
                                  "rmsprop"])
def test_every_optimizer_steps_and_fused_ones_match_the_plain_kernels(name):
    cfg = replace(TrainConfig(), optimizer=name, lr=1e-2, weight_decay=1e-4, momentum=0.9)
    opt = make_optimizer(torch.nn.Linear(2, 2).parameters(), cfg)
    assert bool(opt.defaults.get("fused")) == (name in FUSED)
    fused, plain = _steps(cfg, True), _steps(cfg, False)
    torch.manual_seed(0)
    start = torch.cat([p.detach().flatten() for p in torch.nn.Sequential(
        torch.nn.Linear(12, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)).parameters()])
    assert not torch.allclose(fused, start)  # it trained
    assert torch.allclose(fused, plain, atol=1e-5, rtol=1e-4)

"""Model card: parameter, MAC and size numbers checked against hand counts."""

from __future__ import annotations

import pytest
from torch import nn

from kwslab.config import ModelConfig
from kwslab.models import build
from kwslab.models.card import count_macs, model_card


def tiny() -> nn.Module:
    # (1, 5, 5) -> conv 3x3 -> (2, 3, 3) -> flatten 18 -> linear 4
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(18, 4))


def test_tiny_model_by_hand():
    card = model_card(tiny(), (1, 5, 5))
    assert card["params"] == (2 * 9 + 2) + (18 * 4 + 4)  # 96
    assert card["macs"] == 18 * 1 * 9 + 18 * 4  # 162 conv + 72 linear = 234
    assert card["size_bytes"] == 96 * 4
    assert card["family"] == "Sequential"  # not a registered family
    assert card["input_shape"] == [1, 5, 5]


def test_grouped_strided_and_batched_shapes():
    # depthwise conv1d: out (4, 5) x (4/4) x 3 = 60; linear on (4, 5): 20 outputs x 5 in = 100
    model = nn.Sequential(nn.Conv1d(4, 4, 3, stride=2, padding=1, groups=4), nn.Linear(5, 5))
    assert count_macs(model, (4, 10)) == 60 + 100


def test_frozen_params_and_mode_are_left_alone():
    model = tiny()
    model[0].weight.requires_grad_(False)
    model.train()
    card = model_card(model, (1, 5, 5))
    assert card["params"] == 96 - 18
    assert model.training
    assert not model[0]._forward_hooks and not model[2]._forward_hooks


def test_size_from_file(tmp_path):
    import safetensors.torch as safetensors_torch
    model = tiny()
    path = tmp_path / "model.safetensors"
    safetensors_torch.save_model(model, str(path))
    card = model_card(model, (1, 5, 5), path=path)
    assert card["size_bytes"] == path.stat().st_size > 96 * 4  # header adds a little


def test_ds_cnn_s_numbers():
    model = build(ModelConfig(name="dscnn"), (40, 101), 8)
    card = model_card(model, (40, 101))
    assert card["family"] == "dscnn"
    # stem (4x10, 64 ch, BN) + 4 x (dw 3x3 + BN + pw 64x64 + BN) + linear 64 -> 8
    assert card["params"] == (640 * 4 + 128) + 4 * (576 + 128 + 4096 + 128) + (64 * 8 + 8)
    assert card["params"] == 22_920
    # stride 2 leaves 20 x 50 positions: 8x the paper's 49x10 MFCC input, hence ~21 M not ~2.7 M
    positions = 20 * 50
    assert card["macs"] == positions * 64 * 40 + 4 * positions * 64 * (9 + 64) + 64 * 8
    assert card["macs"] == 21_248_512


@pytest.mark.parametrize(("name", "lo", "hi"), [("bcresnet", 2e6, 3e6), ("tcresnet", 1e6, 2e6)])
def test_other_families_in_range(name, lo, hi):
    card = model_card(build(ModelConfig(name=name), (40, 101), 8), (40, 101))
    assert card["family"] == name
    assert lo < card["macs"] < hi
    assert card["size_bytes"] >= 4 * card["params"]  # plus BN running statistics

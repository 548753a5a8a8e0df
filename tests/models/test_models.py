"""The CNN families and the embedding head: shapes, scaling, training signal, ONNX parity and
paper sizes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from kwslab.config import ModelConfig
from kwslab.errors import ConfigError
from kwslab.models import build, families
from kwslab.models.bcresnet import SubSpectralNorm

FAMILIES = ("dscnn", "bcresnet", "tcresnet", "embedconv")


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def make(name: str, shape: tuple[int, ...] = (40, 101), n_classes: int = 8, **kw) -> nn.Module:
    torch.manual_seed(0)
    return build(ModelConfig(name=name, **kw), shape, n_classes)


def test_families_registered():
    assert set(FAMILIES) <= set(families())


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("shape", [(40, 101), (32, 32), (64, 49)])
@pytest.mark.parametrize(("width", "depth"), [(1.0, 0), (0.5, 1), (1.5, 2)])
def test_logits_shape(name, shape, width, depth):
    model = make(name, shape, n_classes=5, width=width, depth=depth).eval()
    with torch.no_grad():
        out = model(torch.randn(3, *shape))
    assert out.shape == (3, 5)
    assert torch.isfinite(out).all()


def test_embedding_head_on_speech_embedding_frames():
    model = make("embedconv", (96, 9), dropout=0.3).eval()
    assert n_params(model) == 87_304  # 96*128*3+128 + 128*128*3+128 + 128*8+8
    with torch.no_grad():
        out = model(torch.randn(4, 96, 9))
    assert out.shape == (4, 8)
    # The max over time takes any number of embeddings (a 2 s clip gives 22).
    with torch.no_grad():
        assert model(torch.randn(2, 96, 22)).shape == (2, 8)


@pytest.mark.parametrize("name", FAMILIES)
def test_width_and_depth_add_params(name):
    base = n_params(make(name))
    assert n_params(make(name, width=1.5)) > base
    assert n_params(make(name, width=0.5)) < base
    assert n_params(make(name, depth=6)) > base


@pytest.mark.parametrize(
    ("name", "kw", "expected"),
    [
        ("bcresnet", {}, 9_232),  # paper: BC-ResNet-1 9.2k
        ("bcresnet", {"width": 2}, 27_284),  # paper: BC-ResNet-2 27.3k
        ("bcresnet", {"width": 8}, 321_068),  # paper: BC-ResNet-8 321k
        ("tcresnet", {}, 65_180),  # paper: TC-ResNet8 66k
        ("tcresnet", {"depth": 6}, 135_868),  # paper: TC-ResNet14 137k
        ("tcresnet", {"width": 1.5}, 144_276),  # paper: TC-ResNet8-1.5 145k
        ("dscnn", {}, 23_180),  # DS-CNN-S, 64 channels, 4 blocks
    ],
)
def test_param_counts_match_papers(name, kw, expected):
    assert n_params(make(name, n_classes=12, **kw)) == expected


@pytest.mark.parametrize("name", FAMILIES)
def test_flat_input_is_rejected_with_fix(name):
    with pytest.raises(ConfigError, match="features.flatten = false"):
        make(name, shape=(1024,))


@pytest.mark.parametrize("name", FAMILIES)
def test_negative_depth_is_rejected(name):
    with pytest.raises(ConfigError, match="model.depth"):
        make(name, depth=-1)


def test_unknown_family_raises_config_error():
    with pytest.raises(ConfigError, match="'resnet50' is not one of .*bcresnet"):
        build(ModelConfig(name="resnet50"), (40, 101), 8)


@pytest.mark.parametrize("name", FAMILIES)
def test_a_few_steps_lower_the_loss(name):
    model = make(name, shape=(32, 32), dropout=0.0)
    x, y = torch.randn(16, 32, 32), torch.arange(16) % 8
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        if not losses:
            for pname, p in model.named_parameters():
                assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses


def test_sub_spectral_norm_normalises_each_band():
    ssn = SubSpectralNorm(c=3, n_bins=20)
    assert ssn.sub_bands == 5
    x = torch.randn(8, 3, 20, 7) * torch.linspace(1, 5, 20).view(1, 1, 20, 1) + 3
    y = ssn(x).reshape(8, 3, 5, 4, 7)
    assert torch.allclose(y.mean((0, 3, 4)), torch.zeros(3, 5), atol=1e-5)
    assert torch.allclose(y.var((0, 3, 4), unbiased=False), torch.ones(3, 5), atol=1e-3)
    assert SubSpectralNorm(c=2, n_bins=16).sub_bands == 4
    assert SubSpectralNorm(c=2, n_bins=7).sub_bands == 1


def _randomise_stats(model: nn.Module) -> None:
    """Give BN layers and the input norm non-trivial values so parity means something."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.5, 0.5, generator=g)
        model.norm.feat_mean.fill_(-3.0)
        model.norm.feat_std.fill_(2.0)


def _export_and_compare(model: nn.Module, path, dynamo: bool) -> None:
    import onnxruntime as ort
    model.eval()
    x = torch.randn(2, 40, 101)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        if dynamo:
            torch.onnx.export(model, (x,), str(path), dynamo=True, input_names=["features"],
                              output_names=["logits"],
                              dynamic_shapes={"x": {0: torch.export.Dim("batch")}})
        else:
            torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["features"],
                              output_names=["logits"],
                              dynamic_axes={"features": {0: "batch"}, "logits": {0: "batch"}})
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 5):
        xb = torch.randn(batch, 40, 101) * 2 - 3
        got = sess.run(["logits"], {"features": xb.numpy()})[0]
        with torch.no_grad():
            want = model(xb).numpy()
        assert got.shape == (batch, 8)
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", FAMILIES)
def test_onnx_legacy_export_matches_torch(name, tmp_path):
    model = make(name)
    _randomise_stats(model)
    _export_and_compare(model, tmp_path / f"{name}.onnx", dynamo=False)


def test_onnx_dynamo_export_matches_torch(tmp_path):
    import onnxscript  # noqa: F401  (the dynamo exporter needs it)
    model = make("bcresnet", depth=1)  # the family with reshapes (SubSpectralNorm)
    _randomise_stats(model)
    _export_and_compare(model, tmp_path / "bcresnet.onnx", dynamo=True)

"""The seed's dense network: hidden layers of equal width on a flat feature vector."""

from __future__ import annotations

import math

import torch
from torch import nn

from kwslab.config import ModelConfig
from kwslab.models import InputNorm, register

ACTIVATIONS = {
    "relu": nn.ReLU, "elu": nn.ELU, "selu": nn.SELU, "softplus": nn.Softplus,
    "tanh": nn.Tanh, "gelu": nn.GELU,
}


def init_weight(weight: torch.Tensor, scheme: str, activation: str) -> None:
    """Keras-style initialisers: {he, glorot, lecun} x {uniform, normal}, or orthogonal."""
    fan_out, fan_in = weight.shape[0], weight[0].numel()
    if scheme == "orthogonal":
        gain = nn.init.calculate_gain("relu" if activation in ("relu", "elu", "gelu") else "linear")
        nn.init.orthogonal_(weight, gain=gain)
        return
    family, dist = scheme.split("_")
    scale = {"he": 2.0 / fan_in, "lecun": 1.0 / fan_in, "glorot": 2.0 / (fan_in + fan_out)}[family]
    if dist == "uniform":
        limit = math.sqrt(3.0 * scale)
        nn.init.uniform_(weight, -limit, limit)
    else:  # Keras draws from a truncated normal whose std is corrected for the truncation
        std = math.sqrt(scale) / 0.87962566103423978
        nn.init.trunc_normal_(weight, 0.0, std, -2 * std, 2 * std)


@register("mlp")
class DenseNet(nn.Module):
    """Flatten -> [Linear -> activation -> dropout] x hidden_layers -> Linear."""

    def __init__(self, cfg: ModelConfig, input_shape: tuple[int, ...], n_classes: int):
        super().__init__()
        self.norm = InputNorm()
        n_in = math.prod(input_shape)
        layers: list[nn.Module] = [nn.Flatten()]
        for _ in range(cfg.hidden_layers):
            linear = nn.Linear(n_in, cfg.neurons)
            init_weight(linear.weight, cfg.init, cfg.activation)
            nn.init.zeros_(linear.bias)
            layers += [linear, ACTIVATIONS[cfg.activation]()]
            if cfg.dropout:
                layers.append(nn.Dropout(cfg.dropout))
            n_in = cfg.neurons
        head = nn.Linear(n_in, n_classes)
        head_init = "glorot_uniform" if cfg.init == "orthogonal" else cfg.init
        init_weight(head.weight, head_init, "linear")
        nn.init.zeros_(head.bias)
        layers.append(head)
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.norm(x))

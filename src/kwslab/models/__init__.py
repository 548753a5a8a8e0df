"""Model families, registered by name; :func:`build` makes one from a :class:`ModelConfig`.

Every model takes features of shape (batch, *FeatureConfig.shape) — (batch, n_mels, frames),
or (batch, n) for the seed's flat vector — and returns logits (batch, n_classes). Each
normalises its input with a mean/std fixed from the training set (buffers ``feat_mean`` and
``feat_std``), so the exported graph needs no outside statistics.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import torch
from torch import nn

from kwslab.config import ModelConfig
from kwslab.errors import ConfigError

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register(name: str) -> Callable:
    """Class decorator adding a model family under ``name``."""

    def wrap(cls):
        _REGISTRY[name] = cls
        return cls

    return wrap


def build(cfg: ModelConfig, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """A fresh model of family ``cfg.name`` for inputs of ``input_shape`` (no batch axis)."""
    _load_families()
    if cfg.name not in _REGISTRY:
        raise ConfigError(f"model {cfg.name!r} is not one of {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[cfg.name](cfg, tuple(input_shape), n_classes)


def families() -> list[str]:
    """Registered family names."""
    _load_families()
    return sorted(_REGISTRY)


def family_of(model: nn.Module) -> str:
    """The registry name of ``model``'s class, or the class name if it is not registered."""
    _load_families()
    for name, cls in _REGISTRY.items():
        if type(model) is cls:
            return name
    return type(model).__name__


def require_2d(family: str, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """The (n_bins, frames) of ``input_shape``; a flat vector has lost its time axis."""
    if len(input_shape) != 2:
        raise ConfigError(
            f"model {family!r} needs 2-D features (n_mels, frames), got input shape "
            f"{tuple(input_shape)}; set features.flatten = false (or use model.name = 'mlp')"
        )
    return int(input_shape[0]), int(input_shape[1])


def channels(base: int, width: float) -> int:
    """``base`` scaled by the width multiplier, at least one channel."""
    return max(1, round(base * width))


def check_depth(family: str, depth: int) -> None:
    """Reject negative depths (0 means the family default)."""
    if depth < 0:
        raise ConfigError(f"model.depth for {family!r} must be >= 0 (0 = default), got {depth}")


def _load_families() -> None:
    from kwslab.models import dense  # noqa: F401

    for mod in ("dscnn", "bcresnet", "tcresnet", "embedconv"):
        importlib.import_module(f"kwslab.models.{mod}")


class InputNorm(nn.Module):
    """Standardise features with training-set statistics stored as buffers."""

    feat_mean: torch.Tensor  # buffers, typed here for checkers (nn.Module's getattr is a union)
    feat_std: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("feat_mean", torch.zeros(()))
        self.register_buffer("feat_std", torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.feat_mean) / self.feat_std


def input_norm(model: nn.Module) -> InputNorm:
    """The :class:`InputNorm` (``model.norm``) every registered family applies first."""
    norm = getattr(model, "norm", None)
    if not isinstance(norm, InputNorm):
        raise TypeError(f"{type(model).__name__} has no InputNorm at .norm")
    return norm

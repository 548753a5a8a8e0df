"""Model card: the size and cost numbers used to compare and pick deployable models.

MACs are counted for one example (batch 1) from the shapes each Conv1d/Conv2d/Linear sees
in a real forward pass, so padding, strides and dilations are exact. BatchNorm, activations,
pooling and additions are not counted: BN folds into the conv before it at export, and the
rest is small next to the convolutions.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kwslab.models import family_of

_CONVS = (nn.Conv1d, nn.Conv2d)


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one inference on an input of ``input_shape`` (no batch axis).

    A conv costs (output elements) x (in_channels / groups) x (kernel elements); a linear layer
    costs (output elements) x in_features. Runs one forward pass in eval mode on zeros and
    restores the model's train/eval mode afterwards.
    """
    total = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        per_example = output.numel() // output.shape[0]
        if isinstance(module, _CONVS):
            total += per_example * (module.in_channels // module.groups) * math.prod(
                module.kernel_size
            )
        elif isinstance(module, nn.Linear):  # the only other kind hooked below
            total += per_example * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (*_CONVS, nn.Linear))]
    was_training = model.training
    try:
        model.eval()
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        with torch.no_grad():
            model(torch.zeros((1, *input_shape), device=device))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return total


def model_card(
    model: nn.Module, input_shape: tuple[int, ...], path: str | os.PathLike | None = None
) -> dict[str, Any]:
    """A JSON-ready summary of ``model`` for inputs of ``input_shape`` (no batch axis).

    Args:
        model: any module; its family is looked up in the registry.
        input_shape: one example's features, e.g. (40, 101).
        path: a saved weights file (e.g. ``model.safetensors``); if given, ``size_bytes`` is
            its size on disk rather than an estimate.

    Returns:
        ``family``; ``input_shape``; ``params`` (trainable parameters); ``macs`` (see
        :func:`count_macs`); ``size_bytes``: 4 bytes per floating-point value of the state
        dict (weights plus BN statistics, as float32), or the file size of ``path``.
    """
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if path is not None:
        size = Path(path).stat().st_size
    else:
        size = 4 * sum(t.numel() for t in model.state_dict().values() if t.is_floating_point())
    return {
        "family": family_of(model),
        "input_shape": list(input_shape),
        "params": params,
        "macs": count_macs(model, tuple(input_shape)),
        "size_bytes": size,
    }

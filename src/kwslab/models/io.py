"""A trained model's folder: weights in safetensors, everything else in JSON.

``RUN_DIR/model.safetensors`` holds the weights; ``RUN_DIR/config.json`` holds the full
:class:`~kwslab.config.RunConfig`, the class labels, the input shape and library versions, so
:func:`load_model` rebuilds the network from the folder alone. Nothing is ever unpickled.
File names and the manifest that closes the folder are in :mod:`kwslab.artifacts`.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from kwslab.artifacts import CONFIG, RUN, RUN_FORMAT, WEIGHTS, verify
from kwslab.config import RunConfig, run_config_from_dict, to_dict
from kwslab.errors import ConfigError, ModelError
from kwslab.utils.io import read_json, write_json


def versions() -> dict[str, str]:
    """Versions of what produced a model, recorded in its config.json."""
    import numpy

    from kwslab import __version__

    return {"kwslab": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version()}


def save_model(out: str | Path, model: torch.nn.Module, cfg: RunConfig, labels: list[str],
               input_shape: tuple[int, ...], extra: dict[str, Any] | None = None) -> None:
    """Write weights and config.json into ``out`` (a staging folder of
    :func:`kwslab.artifacts.staged`, which makes the run appear as one unit)."""
    out = Path(out)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(out / WEIGHTS), metadata={"format": "kwslab",
                                                   "version": str(RUN_FORMAT)})
    write_json(out / CONFIG, {
        "format_version": RUN_FORMAT,
        "labels": list(labels),
        "input_shape": list(input_shape),
        "config": to_dict(cfg),
        "versions": versions(),
        **(extra or {}),
    })


def read_run_config(run_dir: str | Path) -> tuple[RunConfig, dict[str, Any]]:
    """The RunConfig and the raw config.json of a verified run folder.

    Raises:
        ModelError: (one line) not a complete run folder, or a config.json without valid
            ``labels``, ``input_shape`` or ``config.features``, or whose ``input_shape``
            is not what its feature config produces.
    """
    verify(run_dir, RUN)
    path = Path(run_dir) / CONFIG
    try:
        meta = read_json(path)
    except (OSError, ValueError) as e:
        raise ModelError(f"{path}: unreadable ({e}); train the run again") from e
    check_meta(meta, path)
    try:
        cfg = run_config_from_dict(meta["config"])
    except (ConfigError, TypeError, ValueError) as e:
        raise ModelError(f"{path}: unreadable model config ({e})") from e
    try:
        shape = tuple(cfg.features.shape)
    except (ConfigError, ValueError, ZeroDivisionError) as e:
        raise ModelError(f"{path}: bad feature config ({e})") from e
    if tuple(meta["input_shape"]) != shape:
        raise ModelError(f"{path}: input_shape {meta['input_shape']} is not the shape its "
                         f"features make ({list(shape)}); config.json was edited, restore it")
    return cfg, meta


def check_meta(meta: Any, path: Path) -> None:
    """Raise a one-line ModelError unless a run's config.json has labels, input_shape and
    config.features of the right types."""
    if not isinstance(meta, dict):
        raise ModelError(f"{path}: not a JSON object; train the run again")
    labels, shape, config = meta.get("labels"), meta.get("input_shape"), meta.get("config")
    if not (isinstance(labels, list) and labels and all(isinstance(x, str) for x in labels)):
        raise ModelError(f"{path}: 'labels' must be a non-empty list of words, got {labels!r}")
    if not (isinstance(shape, list) and shape
            and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape)):
        raise ModelError(f"{path}: 'input_shape' must be a list of positive integers, got "
                         f"{shape!r}")
    if not (isinstance(config, dict) and isinstance(config.get("features"), dict)):
        raise ModelError(f"{path}: missing 'config.features' (the feature settings the model "
                         "was trained on); train the run again")


def load_model(run_dir: str | Path) -> tuple[torch.nn.Module, RunConfig, dict[str, Any]]:
    """Rebuild the network of a run folder and load its weights, in eval mode.

    Raises:
        ModelError: (one line) see :func:`read_run_config`; or weights that do not load, or
            whose shapes do not fit the labels and input shape of config.json.
    """
    from kwslab.models import build

    cfg, meta = read_run_config(run_dir)
    weights = Path(run_dir) / WEIGHTS
    try:
        model = build(cfg.model, tuple(meta["input_shape"]), len(meta["labels"]))
    except (ConfigError, ValueError, RuntimeError) as e:
        raise ModelError(f"{run_dir}: the model of config.json does not build "
                         f"({str(e).splitlines()[0]})") from e
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelError(f"{weights}: weights do not load ({str(e).splitlines()[0]})") from e
    check_weights(model, state, meta, weights)
    model.load_state_dict(state)
    model.eval()
    return model, cfg, meta


def check_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], meta: dict[str, Any],
                  where: Path) -> None:
    """Raise a one-line ModelError where ``state`` does not fit ``model`` tensor by tensor."""
    want = model.state_dict()
    missing, extra = sorted(set(want) - set(state)), sorted(set(state) - set(want))
    if missing or extra:
        name = (missing or extra)[0]
        raise ModelError(f"{where}: tensor {name!r} is {'missing' if missing else 'unexpected'} "
                         f"for a {meta['config'].get('model', {}).get('name')} model; the "
                         "weights belong to another config.json")
    for name, tensor in want.items():
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise ModelError(
                f"{where}: tensor {name!r} has shape {tuple(state[name].shape)} but config.json "
                f"({len(meta['labels'])} labels, input_shape {meta['input_shape']}) needs "
                f"{tuple(tensor.shape)}; config.json does not belong to these weights")

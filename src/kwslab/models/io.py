"""A trained model's folder: weights in safetensors, everything else in JSON.

``RUN_DIR/model.safetensors`` holds the weights; ``RUN_DIR/config.json`` holds the full
:class:`~kwslab.config.RunConfig`, the class labels, the input shape and library versions, so
:func:`load_model` rebuilds the network from the folder alone. Nothing is ever unpickled.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from kwslab.config import RunConfig, run_config_from_dict, to_dict
from kwslab.errors import ConfigError, ModelError
from kwslab.utils.io import read_json, write_json

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
METRICS = "metrics.json"
CARD = "model_card.json"
FORMAT_VERSION = 1


def versions() -> dict[str, str]:
    """Versions of what produced a model, recorded in its config.json."""
    import numpy

    from kwslab import __version__

    return {"kwslab": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version()}


def save_model(out: str | Path, model: torch.nn.Module, cfg: RunConfig, labels: list[str],
               input_shape: tuple[int, ...], extra: dict[str, Any] | None = None) -> None:
    """Write weights and config.json into ``out`` (each file atomically)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{WEIGHTS}.{os.getpid()}.tmp"
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(tmp), metadata={"format": "kwslab", "version": str(FORMAT_VERSION)})
    os.replace(tmp, out / WEIGHTS)
    write_json(out / CONFIG, {
        "format_version": FORMAT_VERSION,
        "labels": list(labels),
        "input_shape": list(input_shape),
        "config": to_dict(cfg),
        "versions": versions(),
        **(extra or {}),
    })


def read_run_config(run_dir: str | Path) -> tuple[RunConfig, dict[str, Any]]:
    """The RunConfig and the raw config.json of a run folder."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise ModelError(f"{run_dir} is not a kwslab run folder (no {CONFIG}); train one with "
                         "`kwslab train --out DIR`")
    try:
        meta = read_json(path)
        cfg = run_config_from_dict(meta["config"])
    except (ValueError, KeyError, ConfigError) as e:
        raise ModelError(f"{path}: unreadable model config ({e})") from e
    return cfg, meta


def load_model(run_dir: str | Path) -> tuple[torch.nn.Module, RunConfig, dict[str, Any]]:
    """Rebuild the network of a run folder and load its weights, in eval mode."""
    from kwslab.models import build

    cfg, meta = read_run_config(run_dir)
    weights = Path(run_dir) / WEIGHTS
    if not weights.is_file():
        raise ModelError(f"{run_dir}: {WEIGHTS} is missing")
    model = build(cfg.model, tuple(meta["input_shape"]), len(meta["labels"]))
    try:
        model.load_state_dict(load_file(str(weights)))
    except Exception as e:  # safetensors raises several types for corrupt files
        raise ModelError(f"{weights}: weights do not load ({str(e).splitlines()[0]})") from e
    model.eval()
    return model, cfg, meta

"""kwslab: train, tune, evaluate and deploy small keyword-spotting models.

Importing ``kwslab`` is cheap: heavy parts (torch, optuna) load only when the functions that
need them are used, so :mod:`kwslab.runtime` can run with NumPy and onnxruntime alone.

The functions ``train``, ``evaluate`` and ``predict`` live in modules with other names
(:mod:`kwslab.training`, :mod:`kwslab.evaluation`): importing a submodule sets the package
attribute of the same name, so a module named ``evaluate`` would replace the function.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "RunConfig": "kwslab.config", "load_config": "kwslab.config",
    "compute_features": "kwslab.features", "load_audio": "kwslab.audio",
    "prepare_speech_commands": "kwslab.data.speechcommands",
    "train": "kwslab.training", "evaluate": "kwslab.evaluation",
    "predict": "kwslab.evaluation",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        try:
            module = importlib.import_module(_LAZY[name])
        except ModuleNotFoundError as e:
            from kwslab.utils.imports import missing_extra

            err = missing_extra(e, f"kwslab.{name}")
            if err is None:
                raise
            raise err from e
        return getattr(module, name)
    raise AttributeError(f"module 'kwslab' has no attribute {name!r}")

"""The one guard for optional dependencies: a missing package names the extra that brings it.

``pip install kwslab`` is the runtime (NumPy, onnxruntime, soundfile, soxr, and the CLI's
Typer and Rich); training, search, synthesis, the service and the rest are extras. Library
code imports optional packages plainly; the CLI and ``kwslab``'s lazy attributes turn the
resulting ``ModuleNotFoundError`` into a one-line :class:`MissingExtraError` with the pip
line, and :func:`require` does the same where a module is imported inside a function.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from kwslab.errors import MissingExtraError

EXTRAS = {  # top-level import name -> the extra that installs it
    "torch": "train", "safetensors": "train", "onnx": "train", "onnxscript": "train",
    "matplotlib": "train", "scipy": "train", "threadpoolctl": "train",
    "optuna": "tune", "sqlalchemy": "tune", "yaml": "tune",
    "espeakng_loader": "synth", "piper": "piper",
    "fastapi": "serve", "uvicorn": "serve", "websockets": "serve", "multipart": "serve",
    "starlette": "serve",
    "psycopg2": "postgres", "sounddevice": "mic", "wyoming": "wyoming",
}


def missing_extra(error: ImportError, purpose: str = "this") -> MissingExtraError | None:
    """The :class:`MissingExtraError` for ``error`` if it is an optional package, else None
    (a missing module of kwslab itself, or of a broken install, is a bug to show)."""
    root = (getattr(error, "name", None) or "").split(".")[0]
    extra = EXTRAS.get(root)
    if extra is None:
        return None
    return MissingExtraError(f"{purpose} needs {root}, which is not installed: "
                             f"pip install 'kwslab[{extra}]'")


def require(module: str, purpose: str) -> ModuleType:
    """``import module``, or a one-line :class:`MissingExtraError` naming its extra."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        err = missing_extra(e, purpose)
        if err is None:
            raise
        raise err from e

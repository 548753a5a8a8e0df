"""HTTP service and web page for an exported model (the ``serve`` extra: FastAPI + uvicorn).

``kwslab.serve.wyoming`` (the Wyoming server, the ``wyoming`` extra) does not need FastAPI, so
the HTTP names load on first use.
"""

from typing import Any

__all__ = ["MAX_UPLOAD_BYTES", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        import importlib

        return getattr(importlib.import_module("kwslab.serve.app"), name)
    raise AttributeError(f"module 'kwslab.serve' has no attribute {name!r}")

"""HTTP service and web page for an exported model (the ``serve`` extra: FastAPI + uvicorn)."""

from kwslab.serve.app import MAX_UPLOAD_BYTES, create_app

__all__ = ["MAX_UPLOAD_BYTES", "create_app"]

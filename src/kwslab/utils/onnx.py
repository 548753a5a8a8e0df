"""One way to open an onnxruntime session, for the runtime, the exporter and the front end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kwslab.errors import MissingExtraError, ModelError


def open_session(path: str | Path | bytes, threads: int = 1) -> Any:
    """A CPU ``onnxruntime.InferenceSession`` on ``threads`` intra-op threads, quiet logs.

    ``path`` may also be a serialised model (bytes), e.g. a graph edited in memory.

    One thread is the runtime's default: lowest latency per clip and no contention when
    several sessions share a machine (as openWakeWord runs its models).

    Raises:
        MissingExtraError: onnxruntime is not installed.
        ModelError: the file does not load (one line, onnxruntime's first).
    """
    try:
        import onnxruntime as ort
    except ImportError as e:  # a base dependency: the install itself is broken
        raise MissingExtraError("onnxruntime is missing: pip install kwslab (it is a base "
                                "dependency)") from e
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        source = path if isinstance(path, bytes) else str(path)
        return ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph types
        name = "in-memory model" if isinstance(path, bytes) else path
        raise ModelError(f"{name}: onnxruntime cannot load it ({str(e).splitlines()[0]})"
                         ) from e

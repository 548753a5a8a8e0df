"""Atomic file writes: a killed run never leaves a half-written output behind."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a failed write leaves neither a stray file nor a half one
        raise


def writable_dir(path: str | Path) -> Path:
    """Create ``path`` and prove a file can be written there, before long work that ends by
    writing into it (raises the file system's ``OSError`` otherwise)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    probe = path / f".write-test.{os.getpid()}"
    probe.write_bytes(b"")
    probe.unlink()
    return path


def write_json(path: str | Path, data: Any) -> None:
    """Pretty JSON, written atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path: str | Path) -> Any:
    """Parse a JSON file."""
    return json.loads(Path(path).read_text())

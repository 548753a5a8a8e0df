"""Atomic file writes: a killed run never leaves a half-written output behind."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def replacing(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """A temporary file beside ``path`` to write in the block; renamed onto ``path`` when the
    block ends, removed if it fails, so readers never see half a file and nothing stray is
    left. ``suffix`` ends the temporary name (``np.save`` appends ``.npy`` otherwise)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` as one unit (:func:`replacing`)."""
    with replacing(path) as tmp:
        tmp.write_text(text)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` as one unit (:func:`replacing`)."""
    with replacing(path) as tmp:
        tmp.write_bytes(data)


@contextmanager
def cleaned_on_error(folder: str | Path) -> Iterator[None]:
    """Folders from ``folder`` up that do not exist yet and are still empty when the block
    fails are removed again, innermost first: a refused command leaves nothing behind."""
    folder = Path(folder)
    made = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        yield
    except BaseException:
        for p in made:
            if p.is_dir() and not any(p.iterdir()):
                p.rmdir()
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

"""What a run folder and an export folder hold, and how each is written as one unit.

Every producer (training, export, the demo) and every reader (loading, the runtime, the
report) takes file names, format versions and the ONNX graph's tensor names from here.

A folder is written into a temporary sibling, closed by ``manifest.json`` (each file's size
and SHA-256, the kind and format version), then renamed over the target in one step, so a
reader, or a ``kill -9``, sees the old folder or the new one, never a mix. Readers call
:func:`verify`: an edited, truncated or missing file is a one-line :class:`ModelError`.

Only the standard library is imported: the torch-free runtime reads exports with it.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kwslab.errors import ModelError

MANIFEST = "manifest.json"
RUN, EXPORT = "run", "export"

# A run folder (``kwslab train``).
RUN_FORMAT = 2  # 2: manifest.json; bump when a run file's contract changes
WEIGHTS = "model.safetensors"
CONFIG = "config.json"  # in a run and in an export
METRICS = "metrics.json"
CARD = "model_card.json"
# Added to a finished run by whoever scored it (`kwslab train --eval-test`, the demo);
# not in the manifest, and gone when the run is replaced.
EVAL_TEST = "eval_test.json"
REPORT = "report.html"

# An export folder (``kwslab export``).
EXPORT_FORMAT = 2  # 2: manifest.json; bump when config.json or the graph's contract changes
EXPORT_TAG = "kwslab-onnx"  # config.json "format" of an export
FP32 = "model.onnx"
INT8 = "model.int8.onnx"
EXPORT_METRICS = "export_metrics.json"
INPUT, OUTPUT = "features", "probabilities"  # the ONNX graph's input and output names
DEFAULT_EXPORT = "export"  # ``RUN_DIR/export`` unless --out says otherwise

# What other producers leave for the report, by exact name (no manifest: plain outputs).
COMPARISON, COMPARISON_PNG = "comparison.json", "comparison.png"  # kwslab compare
TRIALS_CSV = "trials.csv"  # kwslab tune: one row per trial
SEARCH_JSON = "search.json"  # kwslab tune: storage URL and study name
MANUAL_JSON, MANUAL_DIR = "manual.json", "manual"  # the manual method: manual/PARAM.png
PLOTS_DIR = "plots"  # kwslab tune's Optuna figures, by file name below
PLOTS = {"history.png": "history", "importances.png": "importance",
         "parallel.png": "other", "intermediate.png": "other"}
LR_FIND, LR_FIND_PNG = "lr_find.json", "lr_find.png"  # kwslab lr-find
SEARCH_FILES = frozenset({COMPARISON, TRIALS_CSV, SEARCH_JSON, MANUAL_JSON, LR_FIND})
DET_JSON, DET_PNG = "det.json", "det.png"  # kwslab eval-stream --out, the demo's stream
DEMO_JSON = "demo.json"  # the demo's steps

FORMATS = {RUN: RUN_FORMAT, EXPORT: EXPORT_FORMAT}
_MAKE = {RUN: "`kwslab train --out DIR`", EXPORT: "`kwslab export RUN_DIR --out DIR`"}
_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileEntry:
    """One file of an artifact as written: its size in bytes and SHA-256 (hex)."""

    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """``manifest.json``: what kind of folder this is, its format and every file in it."""

    kind: str  # RUN or EXPORT
    format_version: int
    files: dict[str, FileEntry]
    created: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "format_version": self.format_version,
                "created": self.created,
                "files": {n: {"size": e.size, "sha256": e.sha256}
                          for n, e in sorted(self.files.items())}}

    @classmethod
    def from_json(cls, data: Any, where: Path) -> Manifest:
        try:
            files = {str(n): FileEntry(int(e["size"]), str(e["sha256"]))
                     for n, e in data["files"].items()}
            return cls(str(data["kind"]), int(data["format_version"]), files,
                       str(data.get("created", "")))
        except (TypeError, KeyError, ValueError, AttributeError) as e:
            raise ModelError(f"{where}: malformed manifest ({type(e).__name__}: {e}); write the "
                             "folder again") from e


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def read_manifest(folder: str | Path) -> Manifest | None:
    """The folder's manifest, or None where there is none (not an artifact, or a half one)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ModelError(f"{path}: unreadable manifest ({e}); write the folder again") from e
    return Manifest.from_json(data, path)


def _kind_of(folder: Path) -> str | None:
    try:
        m = read_manifest(folder)
    except ModelError:
        return None
    return m.kind if m else None


def is_run(path: str | Path) -> bool:
    """True for a finished folder written by ``kwslab train`` (it has a run manifest)."""
    return _kind_of(Path(path)) == RUN


def is_export(path: str | Path) -> bool:
    """True for a finished folder written by ``kwslab export`` (it has an export manifest)."""
    return _kind_of(Path(path)) == EXPORT


def verify(folder: str | Path, kind: str) -> Manifest:
    """Check that ``folder`` is a complete, unedited artifact of ``kind``; return its manifest.

    Raises:
        ModelError: (one line) no such folder, not this kind, another format version, or a
            listed file missing, resized or changed since it was written.
    """
    folder = Path(folder)
    make = _MAKE[kind]
    if not folder.is_dir():
        raise ModelError(f"{folder}: no such {kind} folder; create one with {make}")
    manifest = read_manifest(folder)
    if manifest is None:
        old = " (written by an older kwslab, or interrupted)" if (folder / CONFIG).is_file() \
            else ""
        raise ModelError(f"{folder} is not a kwslab {kind} folder: no {MANIFEST}{old}; create "
                         f"one with {make}")
    if manifest.kind != kind:
        hint = f"; export it with `kwslab export {folder}`" if manifest.kind == RUN else ""
        raise ModelError(f"{folder} is {_a(manifest.kind)} folder, not "
                         f"{_a(kind)} folder{hint}")
    if manifest.format_version != FORMATS[kind]:
        raise ModelError(f"{folder}: {kind} format {manifest.format_version} is not the format "
                         f"this kwslab reads ({FORMATS[kind]}); write it again with {make}")
    for name, entry in manifest.files.items():
        path = folder / name
        if not path.is_file():
            raise ModelError(f"{path} is missing (listed in {MANIFEST}); write the folder again")
        if path.stat().st_size != entry.size or sha256(path) != entry.sha256:
            raise ModelError(f"{path} changed since it was written (size or SHA-256 differs "
                             f"from {MANIFEST}); write the folder again with {make}")
    return manifest


def write_manifest(folder: Path, kind: str) -> Manifest:
    """List every file directly in ``folder`` in its ``manifest.json``, written last."""
    files = {p.name: FileEntry(p.stat().st_size, sha256(p)) for p in sorted(folder.iterdir())
             if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")}
    manifest = Manifest(kind, FORMATS[kind], files, time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    tmp = folder / f".{MANIFEST}.tmp"
    with open(tmp, "w") as f:
        json.dump(manifest.to_json(), f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / MANIFEST)
    return manifest


def holds_results(folder: str | Path) -> str | None:
    """What kwslab wrote in ``folder`` that another command must not write over: ``"a tune
    search"``, ``"a run or an export"``, or None."""
    folder = Path(folder)
    if (folder / SEARCH_JSON).is_file():
        return "a tune search"
    if (folder / CONFIG).is_file() or (folder / MANIFEST).is_file():
        return "a run or an export"
    return None


def check_target(out: str | Path, kind: str, *, overwrite: bool) -> None:
    """Raise unless ``out`` may receive a new ``kind`` folder.

    A missing or empty folder is fine; a finished one of the same kind only with
    ``overwrite``; anything else (another kind, a folder of other files) never, as
    publishing replaces the whole folder.
    """
    out = Path(out)
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return
    found = _kind_of(out) if out.is_dir() else None
    if found == kind:
        if not overwrite:
            raise ModelError(f"{out} already holds a finished {kind}; pass --overwrite to replace "
                             "it, or give another --out")
        return
    if not out.is_dir():
        raise ModelError(f"{out} is a file; give a new or empty folder")
    what = f"{_a(found)} folder" if found else "other files"
    raise ModelError(f"{out} holds {what}, which writing {_a(kind)} there would delete; give a "
                     "new or empty folder")


def _a(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


@contextmanager
def staged(out: str | Path, kind: str, *, overwrite: bool = False) -> Iterator[Path]:
    """A fresh temporary sibling of ``out`` to write a ``kind`` folder into.

    When the block ends without error, the manifest is written and the folder replaces
    ``out`` in one rename (the old folder and everything in it is deleted). On an error the
    temporary folder is removed and ``out`` is untouched.

    Raises:
        ModelError: ``out`` may not be replaced (see :func:`check_target`).
    """
    out = Path(out).resolve()  # "." has no name to stage beside; a link's target is swapped
    check_target(out, kind, overwrite=overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        write_manifest(tmp, kind)
        check_target(out, kind, overwrite=overwrite)  # nobody wrote there meanwhile
        _replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def update_json(folder: str | Path, kind: str, name: str, changes: dict) -> None:
    """Merge ``changes`` into the JSON file ``name`` of a finished folder, as one unit.

    The folder is verified, copied into a staged sibling, edited there, given a new manifest
    and swapped into place, so a reader sees the old folder or the new one, never a mix.
    """
    folder = Path(folder).resolve()
    verify(folder, kind)
    with staged(folder, kind, overwrite=True) as tmp:
        for f in folder.iterdir():  # subfolders too: an ensemble's members, stream_eval/
            if f.name != MANIFEST and f.is_file():
                shutil.copy2(f, tmp / f.name)
            elif f.is_dir() and not f.name.startswith("."):
                shutil.copytree(f, tmp / f.name, symlinks=True)
        path = tmp / name
        data = json.loads(path.read_text()) if path.is_file() else {}
        data.update(changes)
        path.write_text(json.dumps(data, indent=2))


def _replace_dir(new: Path, out: Path) -> None:
    """Put folder ``new`` at ``out``; an old ``out`` is swapped out atomically and deleted."""
    if not out.exists():
        os.rename(new, out)
        return
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()
        os.rename(new, out)
        return
    if _exchange(new, out):  # ``new`` now holds the old folder
        shutil.rmtree(new, ignore_errors=True)
        return
    old = out.with_name(f".{out.name}.old-{os.getpid()}")  # no atomic swap: two renames
    shutil.rmtree(old, ignore_errors=True)
    os.rename(out, old)
    os.rename(new, out)
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False if the
    system or file system cannot."""
    at_fdcwd, rename_exchange = -100, 2
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _remove_stale(out: Path) -> None:
    """Delete temporary siblings of ``out`` left by killed writers (their process is gone)."""
    for p in out.parent.glob(f".{out.name}.*-*"):
        kind, _, pid = p.name.rpartition("-")
        if not kind.endswith((".tmp", ".old")) or not pid.isdigit() or _alive(int(pid)):
            continue
        shutil.rmtree(p, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

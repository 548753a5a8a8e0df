"""A disk cache of clean (unaugmented) features, keyed by file content and feature config.

Evaluation, validation and unaugmented training read features through
:func:`cached_features`; a second run over the same files skips decoding and extraction.
The cache lives in ``$KWSLAB_CACHE`` (default ``~/.cache/kwslab``); each entry is one
``.npy`` file written atomically and loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np

from kwslab.config import FeatureConfig, to_dict
from kwslab.data.manifest import Clip
from kwslab.features.mel import compute_features, in_context
from kwslab.utils.io import replacing


def cache_root() -> Path:
    """``$KWSLAB_CACHE`` or ``~/.cache/kwslab``."""
    return Path(os.environ.get("KWSLAB_CACHE", Path.home() / ".cache" / "kwslab"))


def config_key(cfg: FeatureConfig) -> str:
    """Short stable hash of a feature configuration."""
    return hashlib.sha1(json.dumps(to_dict(cfg), sort_keys=True).encode()).hexdigest()[:16]


@lru_cache(maxsize=1 << 17)  # every clip of the full dataset (105k), ~300 bytes each
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_digest(path: str) -> str:
    """SHA-1 of a file's bytes, memoised per path, size and mtime.

    Raises:
        OSError: the file cannot be read.
    """
    st = os.stat(path)
    return _file_digest(path, st.st_size, st.st_mtime_ns)


def clip_key(clip: Clip) -> str:
    """Content hash of the clip's file plus its cut."""
    digest = file_digest(clip.path)
    return f"{digest}-{clip.offset}-{clip.length}" if clip.length else digest


def cached_features(
    clips: Sequence[Clip], cfg: FeatureConfig, *, progress: bool = False, use_cache: bool = True,
    neighbours: bool = False,
) -> tuple[np.ndarray, list[Clip], list[tuple[str, str]]]:
    """Features of ``clips`` (those that decode), computing and storing only the missing ones.

    With ``neighbours``, a front end that reads context around the clip gets, for a cut of a
    long recording, the recording's real audio there (what a stream's window holds; training
    clips), not zeros (a lone clip, as ``predict`` and clip evaluation see it).

    Returns:
        (features of shape (n_ok, *cfg.shape), the clips they belong to, [(path, reason)] of
        clips that could not be read).
    """
    from kwslab.data.dataset import load_waves, reads_recording

    folder = cache_root() / "features" / config_key(cfg)
    context, wide = in_context(cfg) if neighbours else (0, cfg)
    keys: list[str | None] = []
    for c in clips:
        try:
            real = context and reads_recording(c, cfg.clip_samples)
            keys.append(clip_key(c) + (f"-c{context}" if real else ""))
        except OSError:
            keys.append(None)
    feats: list[np.ndarray | None] = [None] * len(clips)
    if use_cache:
        def read(i: int) -> np.ndarray | None:
            key = keys[i]
            if key is None:
                return None
            p = folder / key[:2] / f"{key}.npy"
            try:
                return np.load(p, allow_pickle=False)
            except (OSError, ValueError):
                return None

        with ThreadPoolExecutor(4) as ex:
            feats = list(ex.map(read, range(len(clips))))
    missing = [i for i, f in enumerate(feats) if f is None or f.shape != cfg.shape]
    bad: list[tuple[str, str]] = []
    if missing:
        # Possibly none of these decode (a warm cache leaves only the bad clips to read):
        # that is fine as long as the cache supplied the others, checked below.
        loaded = load_waves([clips[i] for i in missing], cfg.clip_samples, progress=progress,
                            what="audio for features", context=context)
        bad = loaded.bad
        new = compute_features(loaded.waves, wide) if loaded.clips else None
        row = {c: j for j, c in enumerate(loaded.clips)}  # by value: Clip is frozen
        for i in missing:
            j, key = row.get(clips[i]), keys[i]
            feats[i] = None if j is None or new is None else new[j]
            if j is not None and new is not None and use_cache and key is not None:
                _store(folder / key[:2] / f"{key}.npy", new[j])
    ok = [i for i, f in enumerate(feats) if f is not None]
    if not ok:
        from kwslab.errors import DataError

        raise DataError(f"none of the {len(clips)} clips could be read"
                        + (f"; first: {bad[0][1]}" if bad else ""))
    return np.stack([f for f in feats if f is not None]), [clips[i] for i in ok], bad


def _store(path: Path, array: np.ndarray) -> None:
    with replacing(path, suffix=".npy") as tmp:
        np.save(tmp, array, allow_pickle=False)

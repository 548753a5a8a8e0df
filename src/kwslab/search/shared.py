"""Audio and features read once per search process and shared by every trial.

``train()`` decodes the training clips and reads their features from the disk cache each
time it runs; in a search that is the same work before every trial, and with one-epoch rungs
it can cost more than the training. Inside :func:`share_data`, decoded waveforms and clean
features are kept in memory per clip (keyed by path, cut and feature configuration), so only
clips no earlier trial used are read. Waveforms are kept up to :data:`WAVE_LIMIT` bytes; past
that they are decoded per trial as before. Kept arrays are read-only, so no trial can change
what the next one sees.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

WAVE_LIMIT = 1024**3  # bytes of float32 waveforms kept between trials


class _Memo:
    """Per-clip results of one loader, with the clips it could not read and why."""

    def __init__(self, limit: int | None = None):
        self.rows: dict[tuple, np.ndarray] = {}
        self.bad: dict[tuple, str] = {}
        self.bytes = 0
        self.limit = limit
        self.misses = 0  # clips read through the real loader (tests count them)

    def get(self, clips: Sequence[Any], key: tuple, load) -> tuple[np.ndarray, list, list]:
        """(rows, clips read, [(path, reason)]) for ``clips``, loading only unseen ones."""
        ids = [(key, c.path, c.offset, c.length) for c in clips]
        new = [c for c, i in zip(clips, ids, strict=True) if i not in self.rows
               and i not in self.bad]
        fresh: dict[tuple, np.ndarray] = {}
        if new:
            self.misses += len(new)
            rows, ok, bad = load(new)
            rows.flags.writeable = False
            fresh = {(key, c.path, c.offset, c.length): row
                     for c, row in zip(ok, rows, strict=True)}
            if self.limit is None or self.bytes + rows.nbytes <= self.limit:
                self.rows.update(fresh)  # past the limit: used for this call only
                self.bytes += rows.nbytes
            reasons = dict(bad)
            for c in new:
                i = (key, c.path, c.offset, c.length)
                if i not in fresh:
                    self.bad[i] = reasons.get(c.path, "unreadable")
        have = {**self.rows, **fresh} if fresh else self.rows
        ok = [c for c, i in zip(clips, ids, strict=True) if i in have]
        bad = [(c.path, self.bad[i]) for c, i in zip(clips, ids, strict=True) if i in self.bad]
        rows = [have[i] for i in ids if i in have]
        return (np.stack(rows) if rows else np.zeros((0,), np.float32)), ok, bad


@contextlib.contextmanager
def share_data() -> Iterator[dict[str, _Memo]]:
    """Within this block, ``train()`` reads each clip's waveform and features once.

    Yields:
        The memos (``{"waves", "features"}``); their ``misses`` count clips actually read.
    """
    from kwslab.data import dataset
    from kwslab.data.cache import config_key
    from kwslab.errors import DataError
    from kwslab.training import loop

    read_waves, read_features = dataset.load_waves, loop.cached_features
    memos = {"waves": _Memo(limit=WAVE_LIMIT), "features": _Memo()}

    def load_waves(clips, n, *, progress=False, what="audio"):
        def load(some):
            got = read_waves(some, n, progress=progress, what=what)
            return got.waves, got.clips, got.bad

        waves, ok, bad = memos["waves"].get(clips, ("wave", n), load)
        return dataset.Loaded(ok, waves.reshape(len(ok), n), bad)

    def cached_features(clips, cfg, *, progress=False, use_cache=True):
        def load(some):
            try:
                return read_features(some, cfg, progress=progress, use_cache=use_cache)
            except DataError:  # none of these new clips decodes; the others may
                return np.zeros((0, *cfg.shape), np.float32), [], []

        x, ok, bad = memos["features"].get(clips, ("features", config_key(cfg)), load)
        if not ok:
            raise DataError(f"none of the {len(clips)} clips could be read"
                            + (f"; first: {bad[0][1]}" if bad else ""))
        return x, ok, bad

    dataset.load_waves, loop.cached_features = load_waves, cached_features
    try:
        yield memos
    finally:
        dataset.load_waves, loop.cached_features = read_waves, read_features

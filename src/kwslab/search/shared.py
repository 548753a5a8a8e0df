"""Audio and features read once per search process and shared by every trial.

``train()`` lists the clips, checks the dataset, decodes the training clips and reads their
features from the disk cache each time it runs; in a search that is the same work before
every trial, and with two-epoch rungs it can cost as much as the training. Inside
:func:`share_data`, decoded waveforms and clean features are kept in memory per clip (keyed by
path, cut and feature configuration), so only clips no earlier trial used are read, and the
clip lists and dataset checks are kept per dataset, data configuration and seed. Waveforms are
kept up to :data:`WAVE_LIMIT` bytes; past that they are decoded per trial as before. Kept
arrays are read-only, so no trial can change what the next one sees.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Hashable, Iterator, Sequence
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


class _Calls:
    """Results of one function by key (errors are not kept: they are raised again)."""

    def __init__(self) -> None:
        self.results: dict[Hashable, Any] = {}
        self.misses = 0  # real calls (tests count them)

    def get(self, key: Hashable, call: Callable[[], Any]) -> Any:
        if key not in self.results:
            self.misses += 1
            self.results[key] = call()
        return self.results[key]


def _data_key(data: Any) -> Hashable:
    """A dataset folder, manifest or list of them, as a key."""
    return str(data) if isinstance(data, str | os.PathLike) else tuple(map(str, data))


@contextlib.contextmanager
def share_data() -> Iterator[dict[str, Any]]:
    """Within this block, ``train()`` reads each clip's waveform and features once, and lists
    and checks each dataset once.

    Yields:
        The memos (``{"waves", "features", "clips", "checks"}``); their ``misses`` count clips
        actually read (waves, features) or calls actually made (clips, checks).
    """
    from kwslab.data import dataset
    from kwslab.data.cache import config_key
    from kwslab.errors import DataError
    from kwslab.training import loop

    read_waves, read_features = dataset.load_waves, loop.cached_features
    read_clips, read_problems = loop.load_clips, loop.dataset_problems
    memos: dict[str, Any] = {"waves": _Memo(limit=WAVE_LIMIT), "features": _Memo(),
                             "clips": _Calls(), "checks": _Calls()}

    def load_clips(data, cfg, *, seed=0, splits_from="lists"):
        return list(memos["clips"].get((_data_key(data), cfg, seed, splits_from), lambda:
                                       read_clips(data, cfg, seed=seed, splits_from=splits_from)))

    def dataset_problems(data, clips):
        return list(memos["checks"].get((_data_key(data), tuple(clips)),
                                        lambda: read_problems(data, clips)))

    def load_waves(clips, n, *, progress=False, what="audio", context=0):
        def load(some):
            got = read_waves(some, n, progress=progress, what=what, context=context)
            return got.waves, got.clips, got.bad

        waves, ok, bad = memos["waves"].get(clips, ("wave", n, context), load)
        return dataset.Loaded(ok, waves.reshape(len(ok), n + 2 * context), bad)

    def cached_features(clips, cfg, *, progress=False, use_cache=True, neighbours=False):
        def load(some):
            try:
                return read_features(some, cfg, progress=progress, use_cache=use_cache,
                                     neighbours=neighbours)
            except DataError:  # none of these new clips decodes; the others may
                return np.zeros((0, *cfg.shape), np.float32), [], []

        x, ok, bad = memos["features"].get(clips, ("features", config_key(cfg), neighbours),
                                           load)
        if not ok:
            raise DataError(f"none of the {len(clips)} clips could be read"
                            + (f"; first: {bad[0][1]}" if bad else ""))
        return x, ok, bad

    dataset.load_waves, loop.cached_features = load_waves, cached_features
    loop.load_clips, loop.dataset_problems = load_clips, dataset_problems
    try:
        yield memos
    finally:
        dataset.load_waves, loop.cached_features = read_waves, read_features
        loop.load_clips, loop.dataset_problems = read_clips, read_problems

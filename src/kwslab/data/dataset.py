"""Clips -> waveforms and features, in memory or streamed from disk.

Training reads fixed-length waveforms through a :class:`WaveSource`: small sets (the mini
dataset, a synthetic set) are decoded once and held in memory; sets too large for that (the
full 105k-clip dataset) are streamed from disk batch by batch. Clips that cannot be decoded
are reported and dropped, so a few bad files never stop a run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from kwslab.audio import centre_start, fix_length, load_audio
from kwslab.data.manifest import Clip
from kwslab.errors import AudioError, DataError

IN_MEMORY_LIMIT = 2 * 1024**3  # bytes of float32 waveforms held in memory before streaming
_THREADS = max(2, os.cpu_count() or 2)


@lru_cache(maxsize=16)
def _long_file(path: str) -> np.ndarray:
    """A whole (noise) recording, decoded once per process."""
    return load_audio(path)


def _samples(whole: np.ndarray, start: int, size: int) -> np.ndarray:
    """``whole[start : start + size]``, silence where that reaches past either end."""
    out = np.zeros(size, np.float32)
    lo, hi = max(start, 0), min(start + size, len(whole))
    if hi > lo:
        out[lo - start : hi - start] = whole[lo:hi]
    return out


def reads_recording(clip: Clip, n: int) -> bool:
    """Whether :func:`load_clip` takes ``clip``'s context from its recording (a cut at least
    ``n`` long) rather than silence."""
    return clip.length >= n > 0


def load_clip(clip: Clip, n: int, context: int = 0) -> np.ndarray:
    """The clip's samples at 16 kHz, padded or centre-cropped to ``n``, with ``context``
    samples before and after it.

    A cut (``clip.length``) may reach past its file (off-centre keywords start before it):
    silence there. The context is what surrounds the clip where it was recorded: for a cut at
    least ``n`` long, the recording's audio, as a stream's window holds there (zeros past its
    ends, as a stream starts); for a shorter cut or a clip of its own, zeros.
    """
    if reads_recording(clip, n):
        start = clip.offset + centre_start(clip.length, n) - context
        return _samples(_long_file(clip.path), start, n + 2 * context)
    if clip.length:
        wave = _samples(_long_file(clip.path), clip.offset, clip.length)
    else:
        wave = load_audio(clip.path, max_seconds=60.0)
    wave = fix_length(wave, n)
    return np.pad(wave, (context, context)) if context else wave


@dataclass
class Loaded:
    """Waveforms of the clips that decoded, and the ones that did not."""

    clips: list[Clip]
    waves: np.ndarray  # (n_clips, n) float32
    bad: list[tuple[str, str]]  # (path, reason)


def load_waves(clips: Sequence[Clip], n: int, *, progress: bool = False,
               what: str = "audio", context: int = 0) -> Loaded:
    """Decode every clip (threads; soundfile releases the GIL), skipping unreadable ones;
    each ``n`` samples with ``context`` more on each side (:func:`load_clip`).

    Returns every clip that decoded, possibly none: whether too few decoded is the caller's
    call (a feature cache may hold all the others).
    """

    def one(c: Clip):
        try:
            return load_clip(c, n, context), None
        except AudioError as e:
            return None, str(e)

    results: list = [None] * len(clips)
    with ThreadPoolExecutor(_THREADS) as ex:
        it = ex.map(one, clips)
        if progress:
            from kwslab.utils.progress import track

            it = track(it, total=len(clips), description=f"reading {what}")
        for i, r in enumerate(it):
            results[i] = r
    good = [i for i, (w, _) in enumerate(results) if w is not None]
    bad = [(clips[i].path, results[i][1]) for i in range(len(clips)) if results[i][0] is None]
    width = n + 2 * context
    waves = (np.stack([results[i][0] for i in good]) if good
             else np.zeros((0, width), np.float32))
    return Loaded([clips[i] for i in good], waves.astype(np.float32, copy=False), bad)


class WaveSource:
    """Fixed-length waveforms of a list of clips, by index: ``n`` samples each, with
    ``context`` more on each side (:func:`load_clip`; ``width`` in all).

    Holds them in memory when they fit under :data:`IN_MEMORY_LIMIT`, else decodes each
    requested batch from disk (bad files then yield silence and are reported once).
    """

    def __init__(self, clips: Sequence[Clip], n: int, *, progress: bool = False,
                 limit: int = IN_MEMORY_LIMIT, context: int = 0):
        self.n, self.context, self.width = n, context, n + 2 * context
        self.bad: list[tuple[str, str]] = []
        self.streaming = len(clips) * self.width * 4 > limit
        if self.streaming:
            self.clips = list(clips)
            self._waves = None
        else:
            loaded = load_waves(clips, n, progress=progress, context=context)
            if clips and not loaded.clips:
                raise DataError(f"none of the {len(clips)} clips could be read; "
                                f"first: {loaded.bad[0][1]}")
            self.clips, self._waves, self.bad = loaded.clips, loaded.waves, loaded.bad

    def __len__(self) -> int:
        return len(self.clips)

    def get(self, idx: np.ndarray) -> np.ndarray:
        """Waveforms (len(idx), width) float32 for the given indices."""
        if self._waves is not None:
            return self._waves[idx]
        loaded = load_waves([self.clips[i] for i in idx], self.n, context=self.context)
        if loaded.bad:
            self.bad.extend(loaded.bad)
            out = np.zeros((len(idx), self.width), np.float32)
            ok = {c: w for c, w in zip(loaded.clips, loaded.waves, strict=True)}
            for j, i in enumerate(idx):
                if self.clips[i] in ok:
                    out[j] = ok[self.clips[i]]
            return out
        return loaded.waves

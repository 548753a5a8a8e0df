"""Streaming front ends: features of the newest window of a stream, computing only new audio.

:class:`EmbeddingStream` is the ``speech_embedding`` front end done incrementally, as
openWakeWord does it: Mel frames (10 ms) only for new audio plus the 352 samples of context a
frame needs, and exactly one new embedding per 80 ms, kept in a bounded ring of the last
``n_embeddings``. Unlike openWakeWord, the embedding network itself runs incrementally too
(:class:`StagedEmbedder`): each of its stages only on the positions new frames add. Its
features for a window equal :func:`~kwslab.features.compute_features` of the same 1.5 s of
audio with no added context (``tests/runtime/test_frontend.py``), because every Mel frame
depends only on its own 512 samples (see :func:`kwslab.features.embedding.mel_frames`) and
the network's time axis is unpadded.

:class:`MelStream` does the same for log-Mel and MFCC models: each STFT frame is computed
once, and a window only recomputes the few frames at its edges that see its zero padding.
:class:`WindowStream` is the general case: the last clip is cut every hop and featurised
whole. All return the sample index at which each window ends and its features, shape
(n, *feature shape).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from kwslab.config import FeatureConfig
from kwslab.errors import KwslabError
from kwslab.features.embedding import (
    DIM,
    FILES,
    HOP,
    N_FFT,
    STEP,
    WINDOW,
    embed_sequence,
    mel_frames,
    n_embeddings,
    resolve,
    stage_sessions,
)
from kwslab.features.mel import finish_features, power_frames

EMBEDDING_HOP = HOP * STEP  # 1,280 samples (80 ms) of audio per new embedding


@lru_cache(maxsize=32)
def front_end_key(folder: str | None) -> str:
    """What makes two ``speech_embedding`` front ends one: the SHA-256 of its pretrained
    graphs. Every export carries its own copy, so models exported apart can still share a
    stream's front end; the folder's path stands in when the files are not there."""
    from kwslab.artifacts import sha256

    try:
        path = resolve(folder)
    except KwslabError:
        return f"missing:{folder}"
    return ":".join(sha256(path / name) for name in sorted(FILES))


def feature_key(model) -> tuple:
    """What two models must share to share their features: the feature config and, for
    ``speech_embedding``, the front end's graphs (:func:`front_end_key`)."""
    features = model.features
    if features.kind != "speech_embedding":
        return (features, None)
    folder = getattr(model, "front_end", None)
    return (features, front_end_key(None if folder is None else str(folder)))


class EmbeddingStream:
    """Incremental ``speech_embedding`` features, one window per new 80 ms of audio.

    Memory is bounded: fewer than ``N_FFT + HOP`` samples, ``WINDOW + STEP`` Mel frames (or
    the stages' receptive fields) and ``n_embeddings`` embeddings are kept, whatever the
    stream's length.

    Args:
        cfg: the model's feature config (``kind="speech_embedding"``).
        folder: the front end's ONNX files (an export folder).
        every: score one window per this many new embeddings (1: every 80 ms).
        threads: onnxruntime intra-op threads.
    """

    def __init__(self, cfg: FeatureConfig, folder: str | Path | None = None, *, every: int = 1,
                 threads: int = 1):
        self.cfg, self.folder, self.every, self.threads = cfg, folder, max(1, every), threads
        self.k = n_embeddings(cfg.clip_samples, cfg.context_samples)  # embeddings per window
        self.window = cfg.clip_samples + 2 * cfg.context_samples  # samples a window covers
        self.hop = EMBEDDING_HOP * self.every
        stages = stage_sessions(folder, threads)
        self._staged = StagedEmbedder(stages) if stages else None
        self.reset()

    def reset(self) -> None:
        """Forget all audio; the first window ends after ``hop`` samples (zeros before)."""
        self._audio = np.zeros(0, np.float32)  # samples not yet in a Mel frame's first hop
        self._frames = np.zeros((0, 32), np.float32)  # frames from the next embedding's first
        self._embeddings = np.zeros((0, DIM), np.float32)  # the last k embeddings
        if self._staged is not None:
            self._staged.reset()
        self._count = 0  # embeddings made so far (including the primed ones)
        self._consumed = 0  # samples fed, counting the priming zeros
        self._prime = self.window - self.hop
        self.feed(np.zeros(self._prime, np.float32))

    def feed(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add audio; returns (end sample of each new window, features (n, 96, k))."""
        samples = np.asarray(samples, np.float32).reshape(-1)
        self._consumed += len(samples)
        audio = np.concatenate([self._audio, samples])
        n_new = 0 if len(audio) < N_FFT else (len(audio) - N_FFT) // HOP + 1
        if n_new:
            frames = mel_frames(audio[None, : (n_new - 1) * HOP + N_FFT], self.folder,
                                self.threads, self.cfg.floor_db)[0]
            self._frames = np.concatenate([self._frames, frames])
            audio = audio[n_new * HOP :]
        self._audio = audio
        if self._staged is not None:
            new = self._staged.feed(self._frames)
            self._frames = self._frames[:0]
        else:
            m = 0 if len(self._frames) < WINDOW else (len(self._frames) - WINDOW) // STEP + 1
            new = embed_sequence(self._frames[None], self.folder, self.threads)[0] if m else \
                np.zeros((0, DIM), np.float32)
            self._frames = self._frames[m * STEP :]
        m = len(new)
        if m == 0:
            return np.zeros(0, np.int64), np.zeros((0, DIM, self.k), np.float32)
        both = np.concatenate([self._embeddings, new])
        first = self._count  # index of new[0]
        self._count += m
        self._embeddings = both[-self.k :]
        ends, feats = [], []
        for j in range(first, self._count):  # windows ending with embedding j
            if j + 1 < self.k or (j + 1 - self.k) % self.every:
                continue
            pos = j - first + len(both) - len(new)
            feats.append(both[pos - self.k + 1 : pos + 1].T)
            ends.append((j + 1 - self.k) * EMBEDDING_HOP + self.window - self._prime)
        if not feats:
            return np.zeros(0, np.int64), np.zeros((0, DIM, self.k), np.float32)
        return np.array(ends, np.int64), np.stack(feats)


class StagedEmbedder:
    """Embeddings of a growing sequence of Mel frames, each network stage run only on the
    positions new frames add (its input kept back only as far as later outputs need).

    Gives exactly the embeddings of the 76-frame windows 8 frames apart, counted from the first
    frame fed: the stages' convolutions are unpadded in time and their pools aligned.

    Args:
        stages: (session, receptive, stride) per stage, from
            :func:`~kwslab.features.embedding.stage_sessions`.
    """

    def __init__(self, stages: list):
        self.stages = stages
        self.reset()

    def reset(self) -> None:
        """Forget all frames."""
        self._kept: list[np.ndarray | None] = [None] * len(self.stages)

    def feed(self, frames: np.ndarray) -> np.ndarray:
        """Add Mel frames (t, 32); returns the embeddings now complete, (m, 96)."""
        x = np.asarray(frames, np.float32)[None, :, :, None]  # stage 0 reads (1, t, 32, 1)
        for i, (sess, receptive, stride) in enumerate(self.stages):
            axis = 1 if i == 0 else 2  # later stages read NCHW: time is axis 2
            kept = self._kept[i]
            buf = x if kept is None else np.concatenate([kept, x], axis=axis)
            length = buf.shape[axis]
            n = 0 if length < receptive else (length - receptive) // stride + 1
            if n == 0:
                self._kept[i] = buf
                return np.zeros((0, DIM), np.float32)
            used = np.ascontiguousarray(buf.take(np.arange((n - 1) * stride + receptive),
                                                 axis=axis))
            x = sess.run(None, {sess.get_inputs()[0].name: used})[0]
            self._kept[i] = buf.take(np.arange(n * stride, length), axis=axis)
        return x.reshape(-1, DIM)


class AlignedFronts:
    """Several front ends over one stream, window ``k`` of each classifying the same second.

    A ``speech_embedding`` window holds context on both sides, so the second it classifies
    ends ``lag`` samples before the window does; log-Mel windows hold the bare second. Each
    front end is fed its share of zeros first (the largest lag less its own), so all emit
    window ``k`` for the same second; the ones ahead wait in a short queue until the one
    with the most context (the lead) has its window. :meth:`feed` returns the lead's window
    ends and one feature array per front end. All need the same hop.
    """

    def __init__(self, fronts: list, clip_samples: int):
        if len({f.hop for f in fronts}) != 1:
            raise ValueError("aligned front ends need one hop")
        self.fronts, self.hop = fronts, fronts[0].hop
        lags = [(getattr(f, "window", clip_samples) - clip_samples) // 2 for f in fronts]
        self.lead = int(np.argmax(lags))
        self.window = getattr(fronts[self.lead], "window", clip_samples)
        self.delays = [max(lags) - lag for lag in lags]
        self.reset()

    def reset(self) -> None:
        """Forget all audio, then feed each front end its delay in zeros."""
        self._queued: list[list[np.ndarray]] = [[] for _ in self.fronts]
        for i, (front, delay) in enumerate(zip(self.fronts, self.delays, strict=True)):
            front.reset()
            if delay:
                self._queued[i].append(front.feed(np.zeros(delay, np.float32))[1])

    def feed(self, samples: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Add audio; returns (end sample of each new window, [features per front end])."""
        ends = np.zeros(0, np.int64)
        for i, front in enumerate(self.fronts):
            e, f = front.feed(samples)
            self._queued[i].append(f)
            if i == self.lead:
                ends = e
        out = []
        for i in range(len(self.fronts)):
            queued = np.concatenate(self._queued[i])
            out.append(queued[: len(ends)])
            self._queued[i] = [queued[len(ends) :]]
        return ends, out


class WindowStream:
    """The last ``clip_samples`` of the stream every ``hop`` samples, featurised whole.

    ``featurise`` maps a batch of windows (n, clip_samples) to the model's input.
    """

    def __init__(self, window: int, hop: int, featurise):
        self.window, self.hop, self.featurise = window, hop, featurise
        self.reset()

    def reset(self) -> None:
        """Forget all audio; the first window ends after ``hop`` samples (zeros before)."""
        self._buf = np.zeros(self.window - self.hop, np.float32)
        self._end = 0  # real samples covered by the windows cut so far

    def feed(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add audio; returns (end sample of each new window, features of each window)."""
        buf = np.concatenate([self._buf, np.asarray(samples, np.float32).reshape(-1)])
        n = 0 if len(buf) < self.window else 1 + (len(buf) - self.window) // self.hop
        ends = self._end + self.hop * np.arange(1, n + 1)
        if n:
            views = np.lib.stride_tricks.sliding_window_view(buf, self.window)[:: self.hop][:n]
            feats = self.featurise(views)
        else:
            feats = np.zeros((0, self.window), np.float32)
        self._buf = buf[n * self.hop :].copy()
        self._end += n * self.hop
        return ends, feats


class MelStream:
    """Log-Mel / MFCC features of the last clip every ``hop`` samples, each STFT frame
    computed once.

    A clip's features are a centred STFT: its first and last ``ceil(n_fft / 2 / hop_length)``
    frames reach into the clip's zero padding and are recomputed for each window; every other
    frame depends only on stream samples and is shared by all the windows that hold it. The
    log, MFCC and resize steps then run on each window's Mel power, so the features equal
    :func:`~kwslab.features.compute_features` of the same clip (``db_max`` included).
    Memory is bounded: one window of audio and its frames.

    Args:
        cfg: a log-Mel or MFCC feature config.
        hop: samples between windows; a multiple of ``cfg.hop_length``.
    """

    @staticmethod
    def fits(cfg: FeatureConfig, hop: int) -> bool:
        """Whether windows ``hop`` apart share frames: log-Mel features, a hop of whole
        frames, and a clip long enough to have frames clear of its padding."""
        if cfg.kind == "speech_embedding" or hop % cfg.hop_length:
            return False
        pad = cfg.n_fft // 2
        return (cfg.clip_samples + pad - cfg.n_fft) // cfg.hop_length >= -(-pad // cfg.hop_length)

    def __init__(self, cfg: FeatureConfig, hop: int):
        if not self.fits(cfg, hop):
            raise ValueError(f"MelStream needs log-Mel features, a hop that is a multiple of "
                             f"{cfg.hop_length} samples and a clip longer than its padding; "
                             f"got {cfg.kind}, hop {hop}, clip {cfg.clip_samples}")
        self.cfg, self.hop, self.window = cfg, hop, cfg.clip_samples
        self.pad = cfg.n_fft // 2
        self.n_frames = cfg.n_frames
        hl = cfg.hop_length
        self.lo = -(-self.pad // hl)  # first frame clear of the left padding
        self.hi = (self.window + self.pad - cfg.n_fft) // hl  # last frame clear of the right
        self.reset()

    def reset(self) -> None:
        """Forget all audio; the first window ends after ``hop`` samples (zeros before)."""
        self._buf = np.zeros(self.window - self.hop, np.float32)
        self._base = 0  # stream position of _buf[0]
        self._end = 0  # real samples covered by the windows cut so far
        self._cache = np.zeros((self.cfg.n_mels, 0), np.float32)  # interior frames' power
        self._first = 0  # stream frame index of _cache[:, 0]

    def feed(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add audio; returns (end sample of each new window, features of each window)."""
        buf = np.concatenate([self._buf, np.asarray(samples, np.float32).reshape(-1)])
        n = 0 if len(buf) < self.window else 1 + (len(buf) - self.window) // self.hop
        ends = self._end + self.hop * np.arange(1, n + 1)
        if n == 0:
            self._buf = buf
            return ends, np.zeros((0, *self.cfg.shape), np.float32)
        hl, cfg = self.cfg.hop_length, self.cfg
        starts = self._base + self.hop * np.arange(n)  # stream position of each window
        # Interior frames not cached yet: stream frame g covers [g * hl - pad, + n_fft).
        need_hi = starts[-1] // hl + self.hi
        new_lo = max(self._first + self._cache.shape[1], starts[0] // hl + self.lo)
        if self._cache.shape[1] == 0:
            self._first = new_lo
        if need_hi >= new_lo:
            a = new_lo * hl - self.pad - self._base
            b = need_hi * hl - self.pad + cfg.n_fft - self._base
            self._cache = np.concatenate([self._cache, power_frames(buf[None, a:b], cfg)[0]],
                                         axis=1)
        views = np.lib.stride_tricks.sliding_window_view(buf, self.window)[:: self.hop][:n]
        # Edge frames from the window's own zero-padded ends (padded coordinates: + pad).
        left = power_frames(np.pad(views[:, : (self.lo - 1) * hl + cfg.n_fft - self.pad],
                                   ((0, 0), (self.pad, 0))), cfg)
        right = power_frames(np.pad(views[:, (self.hi + 1) * hl - self.pad :],
                                    ((0, 0), (0, self.pad))), cfg)
        power = np.empty((n, cfg.n_mels, self.n_frames), np.float32)
        power[:, :, : self.lo] = left
        power[:, :, self.hi + 1 :] = right
        for k, start in enumerate(starts):
            g = start // hl + self.lo - self._first
            power[k, :, self.lo : self.hi + 1] = self._cache[:, g : g + self.hi + 1 - self.lo]
        feats = finish_features(power, cfg)
        next_start = self._base + n * self.hop
        drop = next_start // hl + self.lo - self._first
        self._cache = self._cache[:, max(0, drop):]
        self._first += max(0, drop)
        self._buf = buf[n * self.hop :].copy()
        self._base = next_start
        self._end += n * self.hop
        return ends, feats

"""Streaming detection: a window slid over audio of any length, smoothed and debounced.

Every hop of new audio the newest window is scored (80 ms and an incremental front end for
``speech_embedding`` models, ``hop_ms`` and the last 1 s otherwise); posteriors are
averaged over the last ``smooth_ms`` (a moving average, as in Chen et al. 2014); a word
fires when its smoothed score reaches its threshold, then nothing fires for
``refractory_ms``, and that word must drop below its threshold before it can fire again.

Memory is bounded whatever the length: the detector keeps less than one window of samples
and ``smooth`` posteriors; files are read block by block (:func:`detect_file`).
"""

from __future__ import annotations

import contextlib
import queue
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from kwslab.config import SILENCE, UNKNOWN
from kwslab.errors import AudioError, KwslabError, MissingExtraError
from kwslab.runtime.ensemble import ClipModel, combine
from kwslab.runtime.frontend import (
    EMBEDDING_HOP,
    AlignedFronts,
    EmbeddingStream,
    MelStream,
    WindowStream,
    feature_key,
)

BATCH = 64  # windows scored per onnxruntime call when audio arrives in large blocks
BLOCK_SECONDS = 10.0  # file read size: bounds memory at ~BLOCK_SECONDS of samples


@dataclass(frozen=True)
class StreamConfig:
    """Window hop, smoothing, thresholds and refractory time of a :class:`StreamDetector`."""

    hop_ms: float = 100.0  # new audio between scored windows
    smooth_ms: float = 300.0  # moving average of posteriors over this span (>= one hop)
    threshold: float = 0.8  # smoothed probability a word must reach to fire
    word_thresholds: tuple[tuple[str, float], ...] = ()  # per-word overrides: (("go", 0.9),)
    refractory_ms: float = 1000.0  # after a detection nothing fires for this long
    ignore: tuple[str, ...] = (SILENCE, UNKNOWN)  # labels that never fire
    export_thresholds: bool = True  # per-word thresholds saved in the export apply (before
    # word_thresholds; ``threshold`` is for words with neither)
    vad_threshold: float = 0.0  # > 0: a window may fire only if Silero VAD's speech
    # probability reached this within the second it classifies (kwslab.runtime.vad); 0: no
    # gate. A gated window scores 0, which re-arms a word held above its threshold.

    def scoring(self) -> dict[str, float]:
        """The settings a saved threshold depends on (stored beside it by ``eval-stream``,
        compared by :meth:`StreamDetector.threshold_mismatch`)."""
        return {"hop_ms": self.hop_ms, "smooth_ms": self.smooth_ms,
                "vad_threshold": self.vad_threshold}


class Detection(NamedTuple):
    """A word heard in the stream."""

    time: float  # seconds from the stream's start to the end of the window that fired
    label: str
    score: float  # smoothed probability when it fired


class Trigger:
    """Thresholds + re-arming + refractory time over a sequence of smoothed posteriors."""

    def __init__(self, labels: list[str], cfg: StreamConfig, thresholds: np.ndarray | None = None):
        overrides = dict(cfg.word_thresholds)
        unknown = set(overrides) - set(labels)
        if unknown:
            raise KwslabError(f"threshold for {', '.join(sorted(unknown))}: not a label of this "
                              f"model ({', '.join(labels)})")
        bad = [f"{w}={t:g}" for w, t in overrides.items() if not 0 <= t <= 1]
        if bad:
            raise KwslabError(f"threshold {', '.join(bad)}: must be within 0-1 (a smoothed "
                              "probability)")
        self.labels = labels
        self.thresholds = (np.array([overrides.get(w, cfg.threshold) for w in labels])
                           if thresholds is None else thresholds)
        self.words = np.array([w not in cfg.ignore for w in labels])
        self.refractory = cfg.refractory_ms / 1000.0
        self.last = -np.inf
        self.armed = np.ones(len(labels), bool)

    def step(self, times: np.ndarray, smoothed: np.ndarray) -> list[Detection]:
        """Detections among windows ending at ``times`` (s) with posteriors (n, n_labels)."""
        above = (smoothed >= self.thresholds) & self.words
        out = []
        previous = -1
        for k in np.flatnonzero(above.any(axis=1)):  # rows with nothing above just re-arm
            if k != previous + 1:
                self.armed[:] = True
            previous = int(k)
            row, t = above[k], times[k]
            ready = row & self.armed
            if ready.any() and t - self.last >= self.refractory:
                i = int(np.argmax(np.where(ready, smoothed[k], -1.0)))
                out.append(Detection(float(t), self.labels[i], float(smoothed[k, i])))
                self.last = t
                self.armed[i] = False
            self.armed |= ~row
        if len(above) and previous != len(above) - 1:
            self.armed[:] = True
        return out


class StreamDetector:
    """Feed audio in chunks of any size; get :class:`Detection` s.

    Models on the pretrained ``speech_embedding`` front end share one incremental front end
    (:class:`~kwslab.runtime.frontend.EmbeddingStream`): each 80 ms of new audio costs one
    embedding, and each model only its small head. Other models score the last second every
    ``hop_ms``. Pass several recognisers (e.g. one export per word) to run them over one
    front end; each keeps its own thresholds and trigger. An ensemble streams as its
    members, each on its front end (shared where members have the same one), probabilities
    combined by the ensemble's rule; models on different front ends run side by side on
    :class:`~kwslab.runtime.frontend.AlignedFronts`.

    Example::

        det = StreamDetector(load_export(export_dir))
        for chunk in chunks:            # float32 mono, 16 kHz
            for d in det.feed(chunk):
                print(f"{d.time:.2f}s {d.label} {d.score:.2f}")
    """

    def __init__(self, recognizer: ClipModel | Sequence[ClipModel],
                 cfg: StreamConfig | None = None, *, batch: int = BATCH,
                 per_model: Sequence[StreamConfig] | None = None):
        recs = list(recognizer) if isinstance(recognizer, Sequence) else [recognizer]
        if not recs:
            raise KwslabError("StreamDetector needs at least one model")
        self.recognizers = recs
        self.recognizer = recs[0]
        self.cfg = cfg = cfg or StreamConfig()
        # Each model's thresholds, ignored labels and refractory time may differ (several
        # exports served at once); what the shared windows depend on may not.
        self.configs = list(per_model) if per_model is not None else [cfg] * len(recs)
        if len(self.configs) != len(recs):
            raise KwslabError(f"{len(self.configs)} stream configs for {len(recs)} models")
        if any(c.scoring() != cfg.scoring() for c in self.configs):
            raise KwslabError("models sharing a stream need the same hop, smoothing and VAD "
                              "gate")
        rate = self.recognizer.sample_rate
        self.window = self.recognizer.clip_samples  # 16,000 samples: the model's 1 s clip
        if cfg.hop_ms <= 0 or cfg.hop_ms * rate / 1000 > self.window:
            raise KwslabError(f"hop {cfg.hop_ms} ms must be > 0 and at most the "
                              f"{1000 * self.window / rate:.0f} ms window")
        # An ensemble streams as its members: each on its front end, those on the same one
        # sharing it, their probabilities combined. Front ends of different kinds run side by
        # side, aligned so that their k-th windows classify the same second.
        self._heads = [list(getattr(r, "members", None) or [r]) for r in recs]
        self._rules = [getattr(r, "combine", "mean") for r in recs]
        fronts, self._front_of = self._front_ends([h for hs in self._heads for h in hs], cfg,
                                                  rate)
        self.front = fronts[0] if len(fronts) == 1 else AlignedFronts(fronts, self.window)
        self.hop = self.front.hop
        self.hop_ms = 1000 * self.hop / rate
        self.smooth = max(1, int(round(cfg.smooth_ms / self.hop_ms)))  # windows averaged
        self.batch = batch
        if not 0 <= cfg.vad_threshold <= 1:
            raise KwslabError(f"VAD threshold {cfg.vad_threshold} must be in [0, 1]")
        self.vad = None
        if cfg.vad_threshold > 0:
            from kwslab.runtime.vad import VoiceActivity

            if rate != 16000:
                raise KwslabError(f"the VAD gate needs a 16 kHz model, this one runs at {rate}")
            self.vad = VoiceActivity.load(getattr(self.recognizer, "export_dir", None))
        # The second a window classifies ends this many samples before the window's end (the
        # embedding front end's right context), so the gate looks at audio already fed.
        self._lag = (getattr(self.front, "window", self.window) - self.window) // 2
        self.reset()

    @staticmethod
    def _front_ends(heads: list, cfg: StreamConfig, rate: int) -> tuple[list, dict[int, int]]:
        """One front end per kind of features among ``heads`` (a ``speech_embedding`` one per
        config and graphs; a log-Mel one per config), and each head's front end's index."""
        every = max(1, int(round(cfg.hop_ms * rate / 1000 / EMBEDDING_HOP)))
        feats = [getattr(h, "features", None) for h in heads]
        embedding = any(f is not None and f.kind == "speech_embedding" for f in feats)
        hop = EMBEDDING_HOP * every if embedding else int(round(cfg.hop_ms * rate / 1000))
        fronts: list = []
        keys: dict[tuple, int] = {}
        index: dict[int, int] = {}
        for h, f in zip(heads, feats, strict=True):
            compute = getattr(h, "compute", None)
            if f is not None and f.kind == "speech_embedding":
                key: tuple = ("embedding", *feature_key(h))
            elif f is not None and compute is not None:
                key = ("mel" if MelStream.fits(f, hop) else "window", f)
            else:
                key = ("audio",)  # the model featurises raw windows itself
            if key not in keys:
                keys[key] = len(fronts)
                if key[0] == "embedding":
                    fronts.append(EmbeddingStream(key[1], h.front_end, every=every))
                elif key[0] == "mel":
                    fronts.append(MelStream(key[1], hop))  # each STFT frame computed once
                else:
                    fronts.append(WindowStream(h.clip_samples, hop,
                                               compute or (lambda windows: windows)))
            index[id(h)] = keys[key]
        return fronts, index

    def reset(self) -> None:
        """Forget all audio; time restarts at 0."""
        self.front.reset()
        if self.vad is not None:
            self.vad.reset()
        self._speech = (np.zeros(0, np.int64), np.zeros(0, np.float32))  # recent VAD frames
        self._history = [np.zeros((0, len(r.labels)), np.float32) for r in self.recognizers]
        self.triggers = [Trigger(r.labels, c, self.thresholds_of(r, c))
                         for r, c in zip(self.recognizers, self.configs, strict=True)]
        self.trigger = self.triggers[0]

    def threshold_mismatch(self) -> str | None:
        """One line when the export's saved thresholds, which this stream uses, were chosen
        with other hop, smoothing or VAD settings (their false-accept rate then no longer
        holds); None otherwise."""
        for rec, cfg in zip(self.recognizers, self.configs, strict=True):
            if not cfg.export_thresholds:
                continue
            chosen = (getattr(rec, "meta", {}).get("thresholds_chosen_for") or {})
            saved = chosen.get("detector") if isinstance(chosen, dict) else None
            if not getattr(rec, "thresholds", None) or not isinstance(saved, dict):
                continue
            differ = [f"{k} {saved[k]:g} (now {v:g})" for k, v in self.cfg.scoring().items()
                      if isinstance(saved.get(k), int | float) and saved[k] != v]
            if differ:
                return ("the export's thresholds were chosen with " + ", ".join(differ) +
                        "; their false-accept rate may not hold")
        return None

    def thresholds_of(self, rec: ClipModel, cfg: StreamConfig | None = None) -> np.ndarray:
        """Each label's threshold: ``word_thresholds``, else the export's, else ``threshold``
        (of ``cfg``, by default the detector's)."""
        cfg = cfg or self.cfg
        saved = getattr(rec, "thresholds", {}) if cfg.export_thresholds else {}
        table = {**saved, **dict(cfg.word_thresholds)}
        Trigger(rec.labels, replace(cfg, word_thresholds=tuple(table.items())))  # checks
        return np.array([table.get(w, cfg.threshold) for w in rec.labels])

    def _scores(self, rec: ClipModel, feats: np.ndarray) -> np.ndarray:
        probs = np.empty((len(feats), len(rec.labels)), np.float32)
        run = getattr(rec, "run", None) if hasattr(rec, "compute") else None
        for s in range(0, len(feats), self.batch):
            part = feats[s : s + self.batch]
            probs[s : s + self.batch] = run(part) if run else rec.probabilities(part)
        return probs

    def all_posteriors(self, samples: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Advance the stream by ``samples`` without triggering.

        Returns:
            (times (n,) in s: end of each new window; per model, smoothed posteriors
            (n, n_labels)).
        """
        ends, feats = self.front.feed(samples)
        per_front: list = feats if isinstance(self.front, AlignedFronts) else [feats]
        times = ends / self.recognizer.sample_rate
        out = []
        for i, heads in enumerate(self._heads):
            probs = [self._scores(h, per_front[self._front_of[id(h)]]) for h in heads]
            out.append(self._smooth(i, probs[0] if len(probs) == 1 else
                                    combine(probs, self._rules[i])))
        if self.vad is not None:
            quiet = self._gate(samples, ends) < self.cfg.vad_threshold
            out = [np.where(quiet[:, None], 0.0, s).astype(np.float32) for s in out]
        return times, out

    def _gate(self, samples: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Highest VAD speech probability within the second each window classifies (for the
        embedding front end, the window less its context on both sides). Those VAD frames
        have all been computed whatever the chunking, so the gate does not depend on it."""
        assert self.vad is not None
        v_ends, v_probs = self.vad.feed(samples)
        v_ends = np.concatenate([self._speech[0], v_ends])
        v_probs = np.concatenate([self._speech[1], v_probs])
        gate = np.zeros(len(ends), np.float32)
        for k, end in enumerate(ends - self._lag):
            inside = (v_ends > end - self.window) & (v_ends <= end)
            gate[k] = v_probs[inside].max() if inside.any() else 0.0
        # Keep what a later window may still look at: a window is never reported more than a
        # hop after its audio, so two windows' span behind the newest frame is enough.
        keep = v_ends > (v_ends[-1] if len(v_ends) else 0) - 2 * self.window - self._lag
        self._speech = (v_ends[keep], v_probs[keep])
        return gate

    def posteriors(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`all_posteriors` of the first model."""
        times, scores = self.all_posteriors(samples)
        return times, scores[0]

    def feed(self, samples: np.ndarray) -> list[Detection]:
        """Detections that complete within this chunk (float32 mono at the model's rate)."""
        times, scores = self.all_posteriors(samples)
        found = [d for trig, s in zip(self.triggers, scores, strict=True)
                 for d in trig.step(times, s)]
        return sorted(found, key=lambda d: d.time)

    def flush(self) -> list[Detection]:
        """Score the stream's last second by padding it with silence (call at end of file)."""
        return self.feed(np.zeros(self.tail_samples, np.float32))

    @property
    def tail_samples(self) -> int:
        """Zeros that push the last real audio through every window (for :meth:`flush`)."""
        return getattr(self.front, "window", self.window) - self.hop

    def _smooth(self, i: int, probs: np.ndarray) -> np.ndarray:
        if self.smooth == 1:
            return probs
        both = np.concatenate([self._history[i], probs])
        csum = np.cumsum(both, axis=0, dtype=np.float64)
        csum = np.concatenate([np.zeros((1, both.shape[1])), csum])
        ends = np.arange(len(self._history[i]) + 1, len(both) + 1)
        starts = np.maximum(0, ends - self.smooth)
        out = (csum[ends] - csum[starts]) / (ends - starts)[:, None]
        self._history[i] = both[-(self.smooth - 1) :]
        return out.astype(np.float32)


def read_blocks(path: str | Path, rate: int, block_seconds: float = BLOCK_SECONDS
                ) -> Iterator[np.ndarray]:
    """Mono float32 blocks of an audio file at ``rate`` Hz, never the whole file at once."""
    import soundfile as sf

    if not Path(path).is_file():
        raise AudioError(f"{path}: " + ("a folder, not an audio file" if Path(path).is_dir()
                                        else "no such file"))
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioError(f"{path}: not a readable audio file ({e})") from e
    resampler = None
    if info.samplerate != rate:
        import soxr

        resampler = soxr.ResampleStream(info.samplerate, rate, 1, dtype="float32")
    block = max(1, int(block_seconds * info.samplerate))
    blocks = sf.blocks(str(path), blocksize=block, dtype="float32", always_2d=True)
    while True:
        try:  # a file cut short decodes until it breaks: an AudioError there, not a traceback
            data = next(blocks)
        except StopIteration:
            break
        except (sf.LibsndfileError, RuntimeError, OSError) as e:
            raise AudioError(f"{path}: not a readable audio file ({e})") from e
        mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
        if not np.isfinite(mono).all():
            raise AudioError(f"{path}: contains NaN or infinite samples")
        yield resampler.resample_chunk(mono) if resampler else mono
    if resampler:
        yield resampler.resample_chunk(np.zeros(0, np.float32), last=True)


def detect_file(detector: StreamDetector, path: str | Path,
                block_seconds: float = BLOCK_SECONDS) -> Iterator[Detection]:
    """Detections in an audio file of any length, as they are found (an empty one is an
    :class:`~kwslab.errors.AudioError`, as for whole clips)."""
    samples = 0
    for block in read_blocks(path, detector.recognizer.sample_rate, block_seconds):
        samples += len(block)
        yield from detector.feed(block)
    if not samples:
        raise AudioError(f"{path}: empty audio (0 samples)")
    yield from detector.flush()


def detect_chunks(detector: StreamDetector, chunks: Iterable[np.ndarray]) -> Iterator[Detection]:
    """Detections in a stream of sample chunks."""
    for chunk in chunks:
        yield from detector.feed(chunk)


def microphone(rate: int, block_ms: float = 100.0, device: int | str | None = None
               ) -> Iterator[np.ndarray]:
    """Float32 mono chunks from an input device (``None``: the default) until interrupted.

    The device is checked and opened here, before the first chunk is asked for.

    Raises:
        MissingExtraError: sounddevice or PortAudio is missing.
        AudioError: there is no usable input device.
    """
    from kwslab.utils.imports import require

    try:
        sd = require("sounddevice", "--mic")
    except OSError as e:  # sounddevice is there but libportaudio is not
        raise MissingExtraError(f"--mic needs the PortAudio library ({e}); install it, e.g. "
                                "apt install libportaudio2") from e
    try:
        sd.query_devices(device, kind="input")
    except (sd.PortAudioError, ValueError) as e:
        raise AudioError(f"no audio input device ({e})") from e
    chunks: queue.Queue = queue.Queue(maxsize=100)  # ~10 s of 100 ms blocks, then drop

    def callback(indata, frames, time, status):  # PortAudio's signature
        with contextlib.suppress(queue.Full):  # a stalled consumer loses audio, not memory
            chunks.put_nowait(indata[:, 0].copy())

    try:
        stream = sd.InputStream(samplerate=rate, channels=1, dtype="float32", device=device,
                                blocksize=int(rate * block_ms / 1000), callback=callback)
        stream.start()
    except sd.PortAudioError as e:
        raise AudioError(f"cannot open the audio input device ({e})") from e
    return _drain(stream, chunks)


def _drain(stream, chunks: queue.Queue) -> Iterator[np.ndarray]:
    try:
        while True:
            yield chunks.get()
    finally:
        stream.stop()
        stream.close()

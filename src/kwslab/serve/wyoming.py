"""A Wyoming-protocol wake-word server: Home Assistant finds it on a port and lists its words.

The exchange (one TCP connection per client; Home Assistant opens one per listening session)::

    client: describe                      server: info (program "kwslab", one model per word)
    client: detect {names}                (optional: the words to listen for in this
                                          connection's next streams; default every word)
    client: audio-start, audio-chunk...   server: detection {name, timestamp ms} per word heard
    client: audio-stop                    server: not-detected, if nothing was heard

Each connection gets its own :class:`WakeHandler` (audio converter and stream detectors); the
loaded recognisers are shared, and scoring runs in a worker thread so one client's audio never
holds up another's events. A bad event is logged on one line and dropped; the connection and
the server keep going. Needs the ``wyoming`` extra.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from kwslab.errors import ConfigError, ModelError
from kwslab.runtime import Detection, StreamConfig, StreamDetector, load_export
from kwslab.runtime.ensemble import ClipModel
from kwslab.utils.imports import require

require("wyoming", "the Wyoming server")
from wyoming.audio import AudioChunk, AudioStart, AudioStop  # noqa: E402
from wyoming.event import Event  # noqa: E402
from wyoming.info import Attribution, Describe, Info, WakeModel, WakeProgram  # noqa: E402
from wyoming.ping import Ping, Pong  # noqa: E402
from wyoming.server import AsyncEventHandler, AsyncServer  # noqa: E402
from wyoming.wake import Detect, NotDetected  # noqa: E402
from wyoming.wake import Detection as WakeDetection  # noqa: E402

PROGRAM = "kwslab"
DEFAULT_URI = "tcp://127.0.0.1:10400"  # the port openWakeWord's Wyoming server uses
SAMPLE_TYPES = {1: "u1", 2: "<i2", 4: "<i4"}  # PCM sample width (bytes) -> NumPy type
MIN_RATE, MAX_RATE, MAX_CHANNELS = 4000, 384_000, 32  # beyond these a chunk is dropped
log = logging.getLogger("kwslab.wyoming")


@dataclass(frozen=True)
class WakeExport:
    """One served export: its recogniser, detector settings and the words it can fire."""

    path: Path
    recognizer: ClipModel
    cfg: StreamConfig  # with the export's per-word thresholds, if its config.json has them
    words: tuple[str, ...]

    @classmethod
    def of(cls, path: str | Path, recognizer: ClipModel, *,
           threshold: float | None = None) -> WakeExport:
        """Settings for a loaded export: ``threshold`` (default :class:`StreamConfig`'s) for
        every word, except those its ``config.json`` gives a ``"thresholds": {word: value}``.

        Raises:
            ModelError: the config's thresholds are not numbers in (0, 1] for its labels.
        """
        path = Path(path)
        base = StreamConfig() if threshold is None else StreamConfig(threshold=threshold)
        cfg = replace(base, word_thresholds=_thresholds(path, recognizer))
        return cls(path, recognizer, cfg, tuple(w for w in recognizer.labels
                                                if w not in cfg.ignore))


def load_exports(export_dirs: Sequence[str | Path], *, threshold: float | None = None,
                 int8: bool = False) -> list[WakeExport]:
    """Load each export (see :meth:`WakeExport.of`); a word may be served by one export only.

    Args:
        export_dirs: folders written by ``kwslab export``.
        threshold: smoothed score a word must reach, unless its export sets its own.
        int8: serve each export's ``model.int8.onnx``.

    Raises:
        ModelError: a folder is not an export, has bad thresholds, exports share a word, or
            their sample rates differ.
    """
    exports: list[WakeExport] = []
    owner: dict[str, Path] = {}
    for d in map(Path, export_dirs):
        ex = WakeExport.of(d, load_export(d, int8=int8), threshold=threshold)
        for w in ex.words:
            if w in owner:
                raise ModelError(f"word {w!r} is in both {owner[w]} and {d}; serve one of them")
            owner[w] = d
        rate = ex.recognizer.sample_rate
        if exports and rate != exports[0].recognizer.sample_rate:
            raise ModelError(f"{d} hears {rate} Hz but {exports[0].path} hears "
                             f"{exports[0].recognizer.sample_rate} Hz; serve them separately")
        exports.append(ex)
    if not owner:
        raise ModelError(f"no words to serve in {', '.join(map(str, export_dirs)) or '(none)'}")
    return exports


def _thresholds(export_dir: Path, rec: ClipModel) -> tuple[tuple[str, float], ...]:
    raw = rec.meta.get("thresholds") or {}
    if not isinstance(raw, dict):
        raise ModelError(f"{export_dir}/config.json: 'thresholds' must map words to numbers")
    out = []
    for word, value in raw.items():
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if word not in rec.labels or not number or not 0 < value <= 1:
            raise ModelError(f"{export_dir}/config.json: threshold {word!r}: {value!r} must be a "
                             f"number in (0, 1] for one of {', '.join(rec.labels)}")
        out.append((word, float(value)))
    return tuple(out)


def describe(exports: Sequence[WakeExport]) -> Info:
    """The ``info`` answer: one wake program with one model per served word."""
    from kwslab import __version__

    models = []
    for ex in exports:
        meta = ex.recognizer.meta
        model = (meta.get("config") or {}).get("model", {}).get("name", "model")
        attribution = Attribution(name=f"kwslab {model} export", url=ex.path.resolve().as_uri())
        for w in ex.words:
            models.append(WakeModel(
                name=w, phrase=w, languages=["en"], attribution=attribution, installed=True,
                description=f"{w!r} from {ex.path.name} ({model})",
                version=meta.get("exported_at") or __version__))
    program = WakeProgram(
        name=PROGRAM, description="kwslab keyword spotter", installed=True,
        attribution=Attribution(name="kwslab", url=""), version=__version__, models=models)
    return Info(wake=[program])


class _Stream:
    """One audio stream's state: resampler, one detector for the exports in use, what was
    heard.

    Chunks become float32 mono here rather than through wyoming's ``AudioChunkConverter``,
    which sums stereo channels (twice the level, clipping loud audio) and resamples without
    an anti-aliasing filter; soxr streams with one, as ``kwslab stream`` does for files.
    """

    def __init__(self, exports: Sequence[WakeExport], names: set[str] | None):
        self.rate = exports[0].recognizer.sample_rate
        self.resampler: Any = None
        self.source_rate = self.rate
        recs, cfgs = [], []
        for ex in exports:
            deaf = tuple(w for w in ex.words if names is not None and w not in names)
            if len(deaf) < len(ex.words):  # a word not asked for can never fire
                recs.append(ex.recognizer)
                cfgs.append(replace(ex.cfg, ignore=(*ex.cfg.ignore, *deaf)))
        # One detector for all: exports on the same front end (every export carries a copy)
        # share it, as openWakeWord's word models share theirs.
        self.detectors = [StreamDetector(recs, cfgs[0], per_model=cfgs)] if recs else []
        self.heard = 0

    def feed(self, chunk: AudioChunk) -> list[Detection]:
        """Detections in one chunk (any rate, width 1/2/4 bytes, any channel count)."""
        return self._detect(self._mono(chunk))

    def flush(self) -> list[Detection]:
        """Detections in the stream's end: the resampler's tail, then the last second."""
        found = []
        if self.resampler is not None:
            found = self._detect(self.resampler.resample_chunk(np.zeros(0, np.float32),
                                                               last=True))
        return found + self._sorted([d for det in self.detectors for d in det.flush()])

    def _mono(self, chunk: AudioChunk) -> np.ndarray:
        x = np.frombuffer(chunk.audio, SAMPLE_TYPES[chunk.width]).astype(np.float32)
        if chunk.width == 1:  # 8-bit PCM is unsigned
            x -= 128.0
        x = (x / 2.0 ** (8 * chunk.width - 1)).reshape(-1, chunk.channels).mean(axis=1)
        if chunk.rate == self.rate:
            return x
        if self.resampler is None or chunk.rate != self.source_rate:
            import soxr

            self.resampler = soxr.ResampleStream(chunk.rate, self.rate, 1, dtype="float32")
            self.source_rate = chunk.rate
        return self.resampler.resample_chunk(x)

    def _detect(self, samples: np.ndarray) -> list[Detection]:
        return self._sorted([d for det in self.detectors for d in det.feed(samples)])

    def _sorted(self, found: list[Detection]) -> list[Detection]:
        self.heard += len(found)
        return sorted(found, key=lambda d: d.time)


class WakeHandler(AsyncEventHandler):
    """One client connection: its chosen words and its current audio stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 exports: Sequence[WakeExport], info: Event):
        super().__init__(reader, writer)
        self.exports, self.info = exports, info
        self.words = {w for ex in exports for w in ex.words}
        self.names: set[str] | None = None  # None: every word
        self.stream: _Stream | None = None
        host, port, *_ = writer.get_extra_info("peername") or ("?", "?")
        self.peer = f"{host}:{port}"

    async def run(self) -> None:
        """Serve until the client leaves; a dropped connection is one log line, not a crash."""
        try:
            await super().run()
        except (ConnectionError, asyncio.IncompleteReadError) as e:
            log.warning("%s: connection lost (%s)", self.peer, type(e).__name__)
            return
        except (KeyError, AttributeError, TypeError, ValueError):  # JSON, but not an event
            self._not_an_event()
            return
        if self._is_running and not self.reader.at_eof():  # the reader gave up on a line
            self._not_an_event()

    def _not_an_event(self) -> None:
        log.warning("%s: a line that is not a Wyoming event; its framing is lost, so the "
                    "connection is closed", self.peer)

    async def disconnect(self) -> None:
        if self.stream is not None:
            log.warning("%s: client left mid-stream; stream dropped", self.peer)
            self.stream = None

    async def handle_event(self, event: Event) -> bool:
        try:
            await self._handle(event)
        except Exception as e:  # a bad event must not end the connection
            log.warning("%s: %s event dropped (%s: %s)", self.peer, event.type,
                        type(e).__name__, e)
        return True

    async def _handle(self, event: Event) -> None:
        if AudioChunk.is_type(event.type):
            await self._chunk(AudioChunk.from_event(event))
        elif AudioStart.is_type(event.type):
            if self.stream is not None:
                log.warning("%s: audio-start during a stream; the old stream is dropped",
                            self.peer)
            start = AudioStart.from_event(event)  # rate/width/channels must be there
            if (start.width not in SAMPLE_TYPES or not 1 <= start.channels <= MAX_CHANNELS
                    or not MIN_RATE <= start.rate <= MAX_RATE):
                log.warning("%s: audio-start of width %s, %s channels at %s Hz: such chunks "
                            "will be dropped (widths 1, 2, 4 bytes; %d-%d Hz; up to %d "
                            "channels)", self.peer, start.width, start.channels, start.rate,
                            MIN_RATE, MAX_RATE, MAX_CHANNELS)
            self.stream = _Stream(self.exports, self.names) if self._listening() else None
        elif AudioStop.is_type(event.type):
            await self._stop()
        elif Detect.is_type(event.type):
            self._detect(Detect.from_event(event).names)
        elif Describe.is_type(event.type):
            await self.write_event(self.info)
        elif Ping.is_type(event.type):
            await self.write_event(Pong(text=Ping.from_event(event).text).event())
        else:
            log.warning("%s: unknown event type %r ignored", self.peer, event.type)

    def _listening(self) -> bool:
        if self.names == set():
            log.warning("%s: audio-start with no known word to detect; will answer "
                        "not-detected", self.peer)
            return False
        return True

    def _detect(self, names: list[str] | None) -> None:
        if not names:
            self.names = None
            return
        unknown = [n for n in names if n not in self.words]
        if unknown:
            log.warning("%s: detect: no word %s here (served: %s); ignored", self.peer,
                        ", ".join(map(repr, unknown)), ", ".join(sorted(self.words)))
        self.names = {n for n in names if n in self.words}

    async def _chunk(self, chunk: AudioChunk) -> None:
        if self.stream is None:
            if self.names != set():
                log.warning("%s: audio-chunk before audio-start dropped", self.peer)
            return
        if (chunk.width not in SAMPLE_TYPES or not 1 <= chunk.channels <= MAX_CHANNELS
                or not MIN_RATE <= chunk.rate <= MAX_RATE):
            log.warning("%s: audio-chunk of width %s, %s channels at %s Hz dropped (widths 1, "
                        "2, 4 bytes; %d-%d Hz; up to %d channels)", self.peer, chunk.width,
                        chunk.channels, chunk.rate, MIN_RATE, MAX_RATE, MAX_CHANNELS)
            return
        frame = chunk.width * chunk.channels
        if len(chunk.audio) % frame:
            log.warning("%s: audio-chunk of %d bytes is not whole %d-byte frames; dropped",
                        self.peer, len(chunk.audio), frame)
            return
        await self._send(await asyncio.to_thread(self.stream.feed, chunk))

    async def _stop(self) -> None:
        stream, self.stream = self.stream, None
        if stream is not None:
            await self._send(await asyncio.to_thread(stream.flush))
        elif self.names != set():
            log.warning("%s: audio-stop without audio-start", self.peer)
        if stream is None or not stream.heard:
            await self.write_event(NotDetected().event())

    async def _send(self, found: list[Detection]) -> None:
        for d in found:
            log.info("%s: %s at %.2f s (score %.2f)", self.peer, d.label, d.time, d.score)
            await self.write_event(
                WakeDetection(name=d.label, timestamp=int(round(d.time * 1000))).event())


async def start_server(exports: Sequence[WakeExport], uri: str = DEFAULT_URI) -> AsyncServer:
    """Listen on ``uri`` (``tcp://HOST:PORT`` or ``unix://PATH``) without blocking.

    Returns the server; ``await server.stop()`` ends every connection and stops listening.
    """
    info = describe(exports).event()
    try:
        server = AsyncServer.from_uri(uri)
    except ValueError as e:
        raise ConfigError(f"--uri {uri!r}: {e}") from e

    def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> WakeHandler:
        return WakeHandler(reader, writer, exports, info)

    unix = uri.startswith("unix://")
    if unix:  # the server unlinks what is at the path first: never a user's file
        path = Path(uri.removeprefix("unix://"))
        if path.exists() and not path.is_socket():
            raise ConfigError(f"--uri {uri!r}: {path} exists and is not a socket; give a new "
                              "path")
    try:
        await server.start(handler)
    except OSError as e:
        raise ConfigError(f"--uri {uri!r}: cannot listen there ({e.strerror or e}); " +
                          ("give a path in a writable folder" if unix else "pick a free port")
                          ) from e
    return server


def serve(export_dirs: Sequence[str | Path], uri: str = DEFAULT_URI, **load: Any) -> None:
    """Load the exports and serve them on ``uri`` until interrupted (``kwslab wyoming``)."""
    exports = load_exports(export_dirs, **load)
    for ex in exports:  # warm-up: lazy imports and onnxruntime arenas before the first client
        ex.recognizer.probabilities(np.zeros(ex.recognizer.clip_samples, np.float32))

    async def forever() -> None:
        server = await start_server(exports, uri)
        log.info("serving %s on %s", ", ".join(w for ex in exports for w in ex.words), uri)
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    asyncio.run(forever())

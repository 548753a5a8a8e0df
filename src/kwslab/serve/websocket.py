"""WebSocket ``/v1/stream``: raw 16-bit PCM in, one JSON message per detected word out.

Each connection runs its own :class:`~kwslab.runtime.StreamDetector` (the incremental front
end for ``speech_embedding`` models) with the export's saved per-word thresholds, as
``kwslab stream`` does without ``--threshold``. Audio is 16-bit little-endian mono at
``?rate=`` Hz (default the model's 16,000), resampled with soxr as files and Wyoming streams
are. Binary messages may have any size: an odd byte waits for the next message, and a message
is fed to the detector a second at a time, so memory stays bounded whatever arrives.

An empty binary message ends the stream: the last second is scored, its detections sent, and
the socket closed normally (1000). A text message or a bad rate gets a JSON error
(``{"error": ..., "status": 1008}``) and the socket is closed with 1008 (policy violation).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from fastapi import FastAPI, WebSocket
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect

from kwslab.runtime import Detection, Recognizer, StreamDetector
from kwslab.serve.schemas import ErrorBody

MIN_RATE, MAX_RATE = 4000, 384_000  # Hz, as the Wyoming server accepts
POLICY = 1008  # close code: the client broke the protocol (text, bad rate)
FAILED = 1011  # close code: the server failed
log = logging.getLogger("kwslab.serve")


class PcmStream:
    """One connection's audio: 16-bit little-endian bytes in, :class:`Detection` s out.

    Args:
        recognizer: the loaded model (shared; only its onnxruntime session is used).
        rate: the client's sample rate in Hz; other than the model's, it is resampled.
    """

    def __init__(self, recognizer: Recognizer, rate: int):
        self.detector = StreamDetector(recognizer)  # default config: the export's thresholds
        self.rate = rate
        self.block = 2 * rate  # bytes fed at a time: 1 s of audio
        self.carry = b""  # an odd byte, waiting for its other half
        self.resampler: Any = None
        if rate != recognizer.sample_rate:
            import soxr

            self.resampler = soxr.ResampleStream(rate, recognizer.sample_rate, 1,
                                                 dtype="float32")

    def feed(self, data: bytes) -> list[Detection]:
        """Detections that complete within ``data`` (any number of bytes)."""
        if self.carry:
            data = self.carry + data
        whole = len(data) - len(data) % 2
        self.carry = data[whole:]
        view = memoryview(data)[:whole]
        found: list[Detection] = []
        for start in range(0, whole, self.block):
            x = np.frombuffer(view[start : start + self.block], "<i2").astype(np.float32)
            x /= 32768.0
            found += self.detector.feed(self.resampler.resample_chunk(x) if self.resampler
                                        else x)
        return found

    def finish(self) -> list[Detection]:
        """Detections in the stream's end: the resampler's tail, then the last second."""
        found = []
        if self.resampler is not None:
            found = self.detector.feed(self.resampler.resample_chunk(np.zeros(0, np.float32),
                                                                     last=True))
        return found + self.detector.flush()


def parse_rate(text: str | None, default: int) -> int:
    """The ``rate`` query parameter as Hz; ValueError (one line) if it is not a usable rate."""
    if text is None:
        return default
    if not text.strip().isdecimal() or not MIN_RATE <= int(text) <= MAX_RATE:
        raise ValueError(f"rate={text!r}: give the audio's sample rate in whole Hz, "
                         f"{MIN_RATE}-{MAX_RATE} (default {default})")
    return int(text)


def add_stream_route(app: FastAPI) -> None:
    """Register ``/v1/stream`` on ``app`` (whose lifespan loads ``state.recognizer``)."""

    @app.websocket("/v1/stream")
    async def stream(websocket: WebSocket) -> None:
        """Detect words in this connection's audio until the client ends or leaves."""
        await websocket.accept()
        rec: Recognizer = websocket.app.state.recognizer
        try:
            rate = parse_rate(websocket.query_params.get("rate"), rec.sample_rate)
        except ValueError as e:
            return await _refuse(websocket, str(e), POLICY)
        pcm = PcmStream(rec, rate)
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                data = message.get("bytes")
                if data is None:
                    return await _refuse(websocket, "text message: send audio as binary "
                                         "messages of 16-bit little-endian mono PCM (an empty "
                                         "one ends the stream)", POLICY)
                found = await (run_in_threadpool(pcm.feed, data) if data
                               else run_in_threadpool(pcm.finish))
                for d in found:
                    await websocket.send_json({"word": d.label, "time_s": round(d.time, 3),
                                               "score": round(d.score, 4)})
                if not data:
                    return await websocket.close(1000)
        except WebSocketDisconnect:
            return
        except Exception as e:  # one connection's failure must not reach the server
            log.exception("unhandled error on /v1/stream")
            await _refuse(websocket, f"internal error ({type(e).__name__})", FAILED)

    @app.websocket("/{path:path}")
    async def elsewhere(websocket: WebSocket, path: str) -> None:
        """A WebSocket to any other path: a JSON 404 instead of uvicorn's empty 403."""
        message = f"no WebSocket at /{path}; the stream is at /v1/stream"
        try:
            await websocket.send_denial_response(JSONResponse(
                ErrorBody(error=message, status=404).model_dump(exclude_none=True), 404))
        except RuntimeError:  # the server cannot send HTTP responses here: close instead
            await websocket.close(POLICY)


async def _refuse(websocket: WebSocket, message: str, code: int) -> None:
    """Send ``{"error": message, "status": code}`` and close with ``code``."""
    try:
        await websocket.send_json({"error": message, "status": code})
        await websocket.close(code)
    except (WebSocketDisconnect, RuntimeError):  # the client left first
        pass

"""The HTTP service: recognise uploaded clips, detect words in a WebSocket stream
(:mod:`kwslab.serve.websocket`), describe the model, serve the web page.

``create_app(export_dir)`` builds the FastAPI app; the model is loaded in its lifespan (not
at import). Decoding and inference run in the thread pool, so the event loop keeps
answering while clips are scored. Every error is JSON (``ErrorBody``): 400 bad audio, 404,
405, 413 upload too large, 415 not audio, 422 malformed request, 500 anything else; no input
can crash the server. Requests too broken to reach the app get JSON 400 from
:mod:`kwslab.serve.protocol`.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from kwslab.errors import AudioError
from kwslab.runtime import load_export
from kwslab.runtime.ensemble import ClipModel
from kwslab.serve.schemas import ErrorBody, Health, Latency, ModelInfo, Recognition
from kwslab.serve.websocket import add_stream_route

MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # 5 MiB: ~2.7 min of 16 kHz 16-bit WAV
MAX_AUDIO_SECONDS = 30.0  # longer uploads are refused (the model hears 1 s)
BODY_TIMEOUT_S = 30.0  # an upload that sends nothing for this long gets 408
log = logging.getLogger("kwslab.serve")

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text} for code, text in (
        (400, "empty, truncated, too long or NaN audio; a cut-off body; two `file` parts"),
        (408, "the upload stalled"), (413, "upload over the size limit"),
        (415, "not an audio file"), (422, "no `file` field in a multipart form"))
}


def create_app(export_dir: str | Path, *, int8: bool = False,
               max_upload_bytes: int = MAX_UPLOAD_BYTES,
               max_seconds: float = MAX_AUDIO_SECONDS,
               body_timeout_s: float = BODY_TIMEOUT_S) -> FastAPI:
    """The service for one exported model.

    Args:
        export_dir: folder written by ``kwslab export``.
        int8: serve ``model.int8.onnx``.
        max_upload_bytes: larger request bodies get 413 before they are read.
        max_seconds: longer decoded audio gets 400.
        body_timeout_s: an upload that sends nothing for this long gets 408.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rec = load_export(export_dir, int8=int8)
        rec.probabilities(np.zeros(rec.clip_samples, np.float32))  # warm-up: imports, arenas
        app.state.recognizer = rec
        log.info("loaded %s (%s)", export_dir, app.state.recognizer.meta["loaded"])
        yield

    app = FastAPI(title="kwslab", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Keyword spotting: upload a ~1 s clip, get the word and every "
                              "label's probability. The page at / records one in the browser. "
                              "WebSocket /v1/stream detects words in live 16-bit PCM.")
    app.add_middleware(_BodyLimit, limit=max_upload_bytes, timeout=body_timeout_s)
    _add_error_handlers(app)
    add_stream_route(app)
    static = files("kwslab.serve") / "static"
    page = (static / "index.html").read_text(encoding="utf-8")
    docs = (static / "docs.html").read_text(encoding="utf-8")
    css = (static / "base.css").read_text(encoding="utf-8")  # shared by both pages

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    @app.get("/redoc", response_class=HTMLResponse, include_in_schema=False)
    async def api_docs() -> HTMLResponse:
        """The API described from /openapi.json by a local page: no CDN, works offline."""
        return HTMLResponse(docs)

    @app.get("/static/base.css", include_in_schema=False)
    async def stylesheet() -> Response:
        return Response(css, media_type="text/css")

    @app.get("/healthz", response_model=Health)
    async def healthz(request: Request) -> Health:
        """Liveness: ok once the model is loaded."""
        loaded = getattr(request.app.state, "recognizer", None) is not None
        return Health(status="ok" if loaded else "loading", model_loaded=loaded)

    @app.get("/v1/model", response_model=ModelInfo)
    async def model_info(request: Request) -> ModelInfo:
        """Labels, feature and run configuration, and the model card."""
        rec = request.app.state.recognizer
        meta = rec.meta
        members = [m.meta for m in getattr(rec, "members", [])]  # an ensemble's exports
        if members:
            features = {"members": [m["features"] for m in members]}
            card = {"members": [m.get("model_card", {}) for m in members]}
            config = {"members": [m.get("config", {}) for m in members]}
        else:
            features, card, config = (meta["features"], meta.get("model_card", {}),
                                      meta.get("config", {}))
        return ModelInfo(
            labels=rec.labels, sample_rate=rec.sample_rate, variant=meta["loaded"],
            input_shape=meta.get("input", {}).get("shape", []), features=features,
            model_card=card, config=config,
            export={k: meta.get(k) for k in ("format", "format_version", "opset", "files",
                                             "int8_mode", "exported_at", "versions",
                                             *(("kind", "members") if members else ()))},
            max_upload_bytes=max_upload_bytes)

    @app.post("/v1/recognize", response_model=Recognition, responses=_ERRORS)
    async def recognize(
        request: Request,
        file: UploadFile = File(..., description="audio: WAV, FLAC or OGG; any rate/channels"),
    ) -> JSONResponse:  # a Recognition (response_model documents it)
        """Recognise the word in an uploaded clip (padded or centre-cropped to 1 s)."""
        start = time.perf_counter()
        parts = (await request.form()).getlist("file")  # parsed already: FastAPI caches it
        if len(parts) > 1:
            raise HTTPException(400, f"{len(parts)} 'file' parts in one request; send one clip "
                                     "per request")
        data = await file.read()
        if not data:
            raise HTTPException(400, "empty upload: the file has no bytes")
        rec: ClipModel = request.app.state.recognizer
        body = await run_in_threadpool(_recognize, rec, data, max_seconds, start)
        return JSONResponse(body)  # already a Recognition; skips a second validation

    return app


def _recognize(rec: ClipModel, data: bytes, max_seconds: float, start: float) -> dict:
    """Decode and score one upload (in a worker thread): a Recognition as a dict."""
    from kwslab.audio import level_warning
    from kwslab.runtime.recognizer import SILENCE, SILENCE_PEAK_DBFS

    samples = _decode(data, rec.sample_rate, max_seconds)
    decoded = time.perf_counter()
    pred = rec.predict(samples)
    done = time.perf_counter()
    warnings = [level_warning(samples, rec.sample_rate)]
    if rec.is_silence(samples):  # say why the model's own answer is not shown
        warnings.append(f"labelled {SILENCE} without the model: the second it hears peaks "
                        f"under {SILENCE_PEAK_DBFS:g} dBFS")
    return Recognition(
        label=pred.label, probabilities=pred.probabilities,
        duration_s=len(samples) / rec.sample_rate,
        warning="; ".join(w for w in warnings if w) or None,
        latency=Latency(decode_ms=1e3 * (decoded - start), inference_ms=1e3 * (done - decoded),
                        total_ms=1e3 * (done - start))).model_dump(exclude_none=True)


def _decode(data: bytes, rate: int, max_seconds: float):
    """Samples of an upload; 415 if it is not audio at all, 400 if it is bad audio."""
    import soundfile as sf

    from kwslab.audio import load_audio

    try:
        sf.info(io.BytesIO(data))
    except Exception as e:  # libsndfile's errors: not a format it knows
        raise HTTPException(415, "not an audio file (send WAV, FLAC or OGG)") from e
    try:
        return load_audio(data, rate, max_seconds=max_seconds)
    except AudioError as e:
        raise HTTPException(400, str(e).replace("<upload>: ", "")) from e


class _BodyLimit:
    """ASGI middleware: 413 for request bodies over ``limit`` bytes, declared or streamed; 408
    when the client sends nothing for ``timeout`` seconds mid-body.

    It also notes in ``scope["state"]["multipart_complete"]`` whether a multipart body ended
    with its closing boundary, so a cut-off upload is not reported as a missing field.
    """

    def __init__(self, app, limit: int, timeout: float = BODY_TIMEOUT_S):
        self.app, self.limit, self.timeout = app, limit, timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            response = _error(413, f"upload of {int(declared)} bytes is over the "
                                   f"{self.limit}-byte limit")
            return await response(scope, receive, send)
        closing = _closing_boundary(headers.get(b"content-type", b""))
        state = scope.setdefault("state", {})
        seen, tail, done = 0, b"", False

        async def counted():
            nonlocal seen, tail, done
            if done:  # the body is in: what follows is a disconnect, wait as long as it takes
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.timeout)
            except TimeoutError:
                stalled = f"upload stalled: no data for {self.timeout:g} s"
                raise HTTPException(408, stalled) from None
            body = message.get("body", b"")
            seen += len(body)
            if seen > self.limit:
                raise HTTPException(413, f"upload is over the {self.limit}-byte limit")
            tail = (tail + body)[-256:]
            if message["type"] != "http.request" or not message.get("more_body", False):
                done = True
                if closing:
                    state["multipart_complete"] = closing in tail.rstrip()[-len(closing) - 2:]
            return message

        return await self.app(scope, counted, send)


def _closing_boundary(content_type: bytes) -> bytes | None:
    """``--BOUNDARY--`` of a multipart content type, or None."""
    kind, _, params = content_type.partition(b";")
    if kind.strip().lower() != b"multipart/form-data":
        return None
    for param in params.split(b";"):
        key, _, value = param.strip().partition(b"=")
        if key.strip().lower() == b"boundary" and value.strip(b' "'):
            return b"--" + value.strip(b' "') + b"--"
    return None


def _error(status: int, message: str, detail: list | None = None) -> JSONResponse:
    body = ErrorBody(error=message, status=status, detail=detail)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = _error(exc.status_code, str(exc.detail))
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if getattr(request.state, "multipart_complete", True) is False:
            return _error(400, "truncated upload: the multipart body ends before its closing "
                               "boundary (the upload was cut off; send it again)")
        errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")),
                   "type": str(e.get("type", ""))} for e in exc.errors()]
        where = ", ".join(".".join(map(str, e["loc"])) for e in errors)
        hint = " (send multipart/form-data with the audio in a field named 'file')" if any(
            "file" in e["loc"] for e in errors) else ""
        return _error(422, f"invalid request: {where}{hint}", errors)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, f"internal error ({type(exc).__name__})")

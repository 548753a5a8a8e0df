"""The HTTP service against a real uvicorn server: answers, model info, and every bad input."""

from __future__ import annotations

import io
import json
import struct

import httpx
import numpy as np
import pytest
import soundfile as sf
from serve_audio import word_wav

from kwslab.runtime import Recognizer


def post(server, content: bytes, name: str = "clip.wav", mime: str = "audio/wav"):
    return httpx.post(f"{server.url}/v1/recognize", files={"file": (name, content, mime)},
                      timeout=30)


def assert_json_error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["status"] == status and isinstance(body["error"], str) and body["error"]
    return body


def test_health_model_and_docs(server, tone_export):
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok", "model_loaded": True}
    info = httpx.get(f"{server.url}/v1/model").json()
    assert info["labels"] == ["low", "mid", "high"] and info["sample_rate"] == 16000
    assert info["variant"] == "fp32" and info["model_card"]["params"] > 0
    assert info["features"]["n_mels"] == 40 and info["max_upload_bytes"] == 256 * 1024
    assert httpx.get(f"{server.url}/docs").status_code == 200
    spec = httpx.get(f"{server.url}/openapi.json").json()
    assert {"/v1/recognize", "/v1/model", "/healthz"} <= set(spec["paths"])
    page = httpx.get(f"{server.url}/")
    assert page.status_code == 200 and "Record 1 second" in page.text


@pytest.mark.parametrize("word", ["low", "mid", "high"])
def test_recognize_matches_the_runtime(server, tone_export, tmp_path, word):
    path = word_wav(word, tmp_path / f"{word}.wav")
    r = post(server, path.read_bytes())
    assert r.status_code == 200, r.text
    body = r.json()
    local = Recognizer.load(tone_export).predict_file(path)
    assert body["label"] == local.label == word
    for label, p in local.probabilities.items():
        assert body["probabilities"][label] == pytest.approx(p, abs=1e-5)
    assert body["duration_s"] == pytest.approx(1.0)
    assert 0 < body["latency"]["inference_ms"] <= body["latency"]["total_ms"]


def test_other_formats_rates_and_channels(server, tmp_path):
    x = sf.read(word_wav("mid", tmp_path / "m.wav"))[0]
    import soxr

    y = soxr.resample(x, 16000, 44100)
    buf = io.BytesIO()
    sf.write(buf, np.stack([y, y], 1), 44100, format="FLAC")
    r = post(server, buf.getvalue(), "m.flac", "audio/flac")
    assert r.status_code == 200 and r.json()["label"] == "mid"


def wav_bytes(x: np.ndarray, rate: int = 16000, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, format="WAV", subtype=subtype)
    return buf.getvalue()


def test_every_bad_input_gets_a_json_error(server):
    good = wav_bytes(np.zeros(16000, np.float32))
    assert "empty" in assert_json_error(post(server, b""), 400)["error"]
    assert_json_error(post(server, b"hello, this is text\n" * 20, "a.txt", "text/plain"), 415)
    assert_json_error(post(server, np.random.default_rng(0).bytes(5000)), 415)  # noise bytes
    png = b"\x89PNG\r\n\x1a\n" + bytes(200)
    assert_json_error(post(server, png, "x.png", "image/png"), 415)
    truncated = good[:44] + good[44:1000]  # header promises 16000 samples
    truncated = truncated[:40] + struct.pack("<I", 32000) + truncated[44:]
    assert_json_error(post(server, truncated), 400)
    nan = wav_bytes(np.full(1000, np.nan, np.float32), subtype="FLOAT")
    assert "NaN" in assert_json_error(post(server, nan), 400)["error"]
    too_long = wav_bytes(np.zeros(2000 * 31, np.float32), rate=2000, subtype="PCM_U8")
    assert "longer" in assert_json_error(post(server, too_long), 400)["error"]
    big = wav_bytes(np.zeros(16000 * 10, np.float32))  # 320 KB > 256 KiB
    assert "limit" in assert_json_error(post(server, big), 413)["error"]

    def chunks():  # no Content-Length: the limit is enforced while reading
        yield (b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
               b"Content-Type: audio/wav\r\n\r\n")
        for _ in range(40):
            yield bytes(10_000)
        yield b"\r\n--x--\r\n"

    r = httpx.post(f"{server.url}/v1/recognize", content=chunks(), timeout=30,
                   headers={"content-type": "multipart/form-data; boundary=x"})
    assert_json_error(r, 413)
    missing = httpx.post(f"{server.url}/v1/recognize", data={"other": "1"}, timeout=30)
    assert "file" in assert_json_error(missing, 422)["error"]
    raw = httpx.post(f"{server.url}/v1/recognize", content=good, timeout=30,
                     headers={"content-type": "audio/wav"})
    assert_json_error(raw, 422)
    assert_json_error(httpx.get(f"{server.url}/nope"), 404)
    assert_json_error(httpx.get(f"{server.url}/v1/recognize"), 405)
    # the server is still up and still right
    assert server.proc.poll() is None
    assert httpx.get(f"{server.url}/healthz").json()["model_loaded"] is True
    assert post(server, good).status_code == 200


@pytest.mark.filterwarnings("ignore:Using `httpx`")
def test_unexpected_errors_are_json_500(tone_export):
    from fastapi.testclient import TestClient

    from kwslab.serve import create_app

    with TestClient(create_app(tone_export), raise_server_exceptions=False) as client:
        def broken(samples):
            raise RuntimeError("boom")

        client.app.state.recognizer.predict = broken
        r = client.post("/v1/recognize", files={"file": ("a.wav", wav_bytes(np.zeros(800)))})
        body = assert_json_error(r, 500)
        assert "boom" not in json.dumps(body)  # no internals leak


def test_docs_and_redoc_work_offline(server):
    """Both pages are served from the package: nothing is fetched from another host."""
    for path in ("/docs", "/redoc"):
        r = httpx.get(f"{server.url}{path}")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert "http://" not in r.text and "https://" not in r.text and "cdn" not in r.text
        assert "/openapi.json" in r.text


def test_both_pages_link_the_stylesheet_the_app_serves(server):
    css = httpx.get(f"{server.url}/static/base.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "--accent" in css.text and ".card" in css.text
    for path in ("/", "/docs"):
        assert '<link rel="stylesheet" href="/static/base.css">' in httpx.get(
            f"{server.url}{path}").text


@pytest.mark.browser
def test_docs_page_renders_every_endpoint_with_the_network_cut(server):
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    chromium = Path("/usr/bin/chromium")
    assert chromium.is_file(), f"{chromium} is missing: apt install chromium"
    foreign = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()

        def only_this_server(route):
            if route.request.url.startswith(server.url):
                return route.continue_()
            foreign.append(route.request.url)
            return route.abort()

        page.route("**/*", only_this_server)
        page.goto(f"{server.url}/docs")
        page.wait_for_selector("#paths .card")
        text = page.inner_text("body")
        browser.close()
    assert foreign == []
    for word in ("/v1/recognize", "/v1/model", "/healthz", "Recognition", "warning", "ErrorBody",
                 "/v1/stream?rate=16000"):
        assert word in text
    assert "could not read" not in text


def multipart(*parts: bytes, close: bool = True) -> bytes:
    body = b"".join(b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
                    b"Content-Type: audio/wav\r\n\r\n" + p + b"\r\n" for p in parts)
    return body + (b"--x--\r\n" if close else b"")


def post_raw(server, body: bytes) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/recognize", content=body, timeout=30,
                      headers={"content-type": "multipart/form-data; boundary=x"})


def test_two_file_parts_are_refused_not_last_wins(server, tmp_path):
    low, high = (word_wav(w, tmp_path / f"{w}.wav").read_bytes() for w in ("low", "high"))
    assert post_raw(server, multipart(high)).json()["label"] == "high"
    error = assert_json_error(post_raw(server, multipart(low, high)), 400)["error"]
    assert "2 'file' parts" in error and "\n" not in error


def test_a_cut_off_multipart_body_is_called_truncated(server, tmp_path):
    good = word_wav("mid", tmp_path / "m.wav").read_bytes()
    for body in (multipart(good, close=False), multipart(good)[:600],
                 multipart(good)[:-9]):
        error = assert_json_error(post_raw(server, body), 400)["error"]
        assert "truncated upload" in error and "no `file`" not in error
    assert post_raw(server, multipart(good)).status_code == 200


def test_stalled_upload_gets_408():
    """At the ASGI level: the client sends the part's headers, then nothing."""
    import asyncio

    from kwslab.serve import create_app

    app = create_app("unused: the body is read before the model is needed", body_timeout_s=0.2)
    pending = [{"type": "http.request", "more_body": True, "body": multipart(b"RIFF")[:80]}]
    sent: list[dict] = []

    async def receive():
        if pending:
            return pending.pop(0)
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/v1/recognize",
             "raw_path": b"/v1/recognize", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"test"),
                         (b"content-type", b"multipart/form-data; boundary=x")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 10))
    assert sent[0]["status"] == 408
    body = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    assert body == {"error": "upload stalled: no data for 0.2 s", "status": 408}


@pytest.mark.parametrize("samples,subtype,warning", [
    (np.full(16000, 3.0, np.float32) * np.sin(np.arange(16000) / 5), "FLOAT", "beyond [-1, 1]"),
    (np.full(1, 0.3, np.float32), "PCM_16", "1 samples (0.1 ms) long, too short"),
    (np.zeros(16000, np.float32), "PCM_16", "digital silence"),
    (np.full(16000, 3e-5, np.float32), "FLOAT", "silent (peak -90 dBFS)"),
])
def test_doubtful_clips_get_a_warning(server, samples, subtype, warning):
    """The tone model has no _silence_: silent clips keep its own answer, with the warning."""
    r = post(server, wav_bytes(samples, subtype=subtype))
    assert r.status_code == 200, r.text
    body = r.json()
    assert warning in body["warning"] and "without the model" not in body["warning"]
    assert body["label"] in ("low", "mid", "high")  # the network's own answer


@pytest.mark.filterwarnings("ignore:Using `httpx`")
def test_silent_clips_are_silence_where_the_model_has_it(wake_export, tmp_path):
    from fastapi.testclient import TestClient

    from kwslab.serve import create_app

    def recognize(client, data: bytes) -> dict:
        r = client.post("/v1/recognize", files={"file": ("a.wav", data, "audio/wav")})
        assert r.status_code == 200, r.text
        return r.json()

    silence = {"low": 0.0, "high": 0.0, "_silence_": 1.0, "_unknown_": 0.0}
    quiet = np.random.default_rng(0).normal(0, 1e-4, 16000)  # peak about -68 dBFS
    with TestClient(create_app(wake_export)) as client:
        zeros = recognize(client, wav_bytes(np.zeros(16000, np.float32)))
        assert zeros["label"] == "_silence_" and zeros["probabilities"] == silence
        assert zeros["warning"].startswith("the clip is digital silence (all zeros); labelled "
                                           "_silence_ without the model")
        hiss = recognize(client, wav_bytes(quiet, subtype="FLOAT"))
        assert hiss["label"] == "_silence_" and hiss["probabilities"] == silence
        assert hiss["warning"] == ("labelled _silence_ without the model: the second it hears "
                                   "peaks under -60 dBFS")
        word = recognize(client, word_wav("high", tmp_path / "h.wav").read_bytes())
        assert word["label"] == "high" and "warning" not in word
        assert 0 < word["probabilities"]["_silence_"] < 0.5


def test_an_ordinary_clip_has_no_warning(server, tmp_path):
    r = post(server, word_wav("low", tmp_path / "l.wav").read_bytes())
    assert r.status_code == 200 and "warning" not in r.json()


def test_malformed_requests_the_app_sees_get_json(server):
    url = f"{server.url}/v1/recognize"
    for headers, body in (({"content-type": "multipart/form-data"}, b"x"),  # no boundary
                          ({"content-type": "multipart/form-data; boundary=x"}, b"\xff" * 50),
                          ({"content-type": "application/x-www-form-urlencoded"}, b"%zz=%"),
                          ({"content-type": "application/json"}, b"{"),
                          ({}, b"")):
        r = httpx.post(url, content=body, headers=headers, timeout=30)
        assert 400 <= r.status_code < 500 and r.json()["status"] == r.status_code, r.text


def raw_exchange(server, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as bytes on a fresh socket; the status, headers and body that come back
    (the server closes the connection after a parse error, so read to the end)."""
    import socket
    from urllib.parse import urlsplit

    where = urlsplit(server.url)
    with socket.create_connection((where.hostname, where.port), timeout=30) as s:
        s.sendall(request)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize("request_bytes", [
    b"GARBAGE\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nthis header has no colon\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: many\r\n\r\n",
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(40),  # TLS to a plain HTTP port
], ids=["garbage", "header-without-colon", "bad-content-length", "tls-hello"])
def test_requests_uvicorn_cannot_parse_get_json(server, request_bytes):
    status, headers, body = raw_exchange(server, request_bytes)
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    reply = json.loads(body)
    assert reply["status"] == 400 and "malformed HTTP request" in reply["error"]
    assert httpx.get(f"{server.url}/healthz").json()["model_loaded"] is True  # still serving


HANDSHAKE = ("GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Version: 13\r\n{key}\r\n")
KEY = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"


@pytest.mark.parametrize("path,key,status,error", [
    ("/v1/stream", "", 400, "missing Sec-WebSocket-Key header"),
    ("/nope", KEY, 404, "no WebSocket at /nope; the stream is at /v1/stream"),
], ids=["no-key", "unknown-path"])
def test_refused_websocket_handshakes_get_json(server, path, key, status, error):
    got, headers, body = raw_exchange(server, HANDSHAKE.format(path=path, key=key).encode())
    assert got == status
    assert headers["content-type"] == "application/json"
    reply = json.loads(body)
    assert reply["status"] == status and error in reply["error"] and "\n" not in reply["error"]
    assert "without completing handshake" not in server.log.read_text()  # no 500 after it

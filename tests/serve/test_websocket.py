"""WebSocket /v1/stream: 16-bit PCM in, one JSON message per word out, and its bad inputs.

The model (``wake_export``) hears tones: "low" and "high" are its words, "mid" its _unknown_,
quiet noise its _silence_; :func:`serve_audio.stream` puts one 0.5 s tone at 2.0-2.5 s.
"""

from __future__ import annotations

import numpy as np
import pytest
from serve_audio import WORD_AT, stream
from starlette.websockets import WebSocketDisconnect

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx`")


@pytest.fixture(scope="module")
def client(wake_export):
    from fastapi.testclient import TestClient

    from kwslab.serve import create_app

    with TestClient(create_app(wake_export)) as c:
        yield c


def pcm(x: np.ndarray) -> bytes:
    return np.clip(np.round(x * 32767), -32768, 32767).astype("<i2").tobytes()


def run_stream(client, data: bytes, sizes: list[int] | int, query: str = "") -> tuple[list, int]:
    """Send ``data`` in messages of ``sizes`` bytes (cycled), then the empty end message;
    every JSON message that came back, and the close code."""
    sizes = [sizes] if isinstance(sizes, int) else sizes
    with client.websocket_connect(f"/v1/stream{query}") as ws:
        pos, k = 0, 0
        while pos < len(data):
            ws.send_bytes(data[pos : pos + sizes[k % len(sizes)]])
            pos, k = pos + sizes[k % len(sizes)], k + 1
        ws.send_bytes(b"")
        messages = []
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                messages.append(ws.receive_json())
    return messages, closed.value.code


def assert_one_word(messages: list, word: str) -> None:
    assert len(messages) == 1, messages
    (m,) = messages
    assert set(m) == {"word", "time_s", "score"} and m["word"] == word
    assert WORD_AT[0] - 0.5 <= m["time_s"] <= WORD_AT[1] + 0.5, m  # the window ends after it
    assert 0.8 <= m["score"] <= 1.0  # the default threshold: this export saved none


@pytest.mark.parametrize("word", ["low", "high"])
def test_a_word_in_100_ms_chunks_is_detected_once_at_its_time(client, word):
    messages, code = run_stream(client, pcm(stream(word)), 3200)  # 100 ms at 16 kHz
    assert_one_word(messages, word)
    assert code == 1000


def test_noise_and_the_unknown_word_say_nothing(client):
    for word in (None, "mid"):
        assert run_stream(client, pcm(stream(word, seed=3)), 3200) == ([], 1000)


def test_other_rates_and_odd_message_sizes(client):
    """48 kHz is resampled; odd-sized messages split samples, whose bytes are carried over."""
    data = pcm(stream("high", rate=48000, seed=6))
    messages, code = run_stream(client, data, [9601, 1, 4799, 3], "?rate=48000")
    assert_one_word(messages, "high")
    assert code == 1000
    whole, _ = run_stream(client, data, len(data), "?rate=48000")  # one 480 KB message
    assert whole == messages


def test_the_exports_saved_thresholds_apply(wake_export, tmp_path):
    import shutil

    from fastapi.testclient import TestClient

    from kwslab.artifacts import update_json
    from kwslab.serve import create_app

    export = tmp_path / "export"
    shutil.copytree(wake_export, export)
    update_json(export, "export", "config.json", {"thresholds": {"low": 0.3}})
    with TestClient(create_app(export)) as c:
        (m,), _ = run_stream(c, pcm(stream("low")), 3200)
    # it fires on the hop its smoothed score (a 3-hop mean) first reaches 0.3: below 0.8
    assert m["word"] == "low" and 0.3 <= m["score"] < 0.7


def refused(client, query: str, send) -> tuple[dict, int]:
    with client.websocket_connect(f"/v1/stream{query}") as ws:
        send(ws)
        error = ws.receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    return error, closed.value.code


@pytest.mark.parametrize("rate", ["abc", "0", "100", "16000.5", "-16000", "10000000", "", "²"])
def test_a_bad_rate_gets_a_json_error_and_a_policy_close(client, rate):
    error, code = refused(client, f"?rate={rate}", lambda ws: None)
    assert code == 1008 and error["status"] == 1008
    assert error["error"].startswith(f"rate={rate!r}: give the audio's sample rate in whole Hz")
    assert "\n" not in error["error"]


def test_a_text_message_gets_a_json_error_and_a_policy_close(client):
    def send(ws):
        ws.send_bytes(pcm(stream("low"))[:32000])
        ws.send_text('{"rate": 16000}')

    error, code = refused(client, "", send)
    assert code == 1008 and error["status"] == 1008
    assert error["error"].startswith("text message: send audio as binary messages")
    # the connection is gone, the service is not
    assert_one_word(run_stream(client, pcm(stream("low")), 3200)[0], "low")


def test_the_stream_endpoint_is_on_the_docs_page(client):
    page = client.get("/docs").text
    assert "/v1/stream?rate=16000" in page and '{"word", "time_s", "score"}' in page


def test_a_websocket_elsewhere_gets_a_json_404(client):
    from starlette.testclient import WebSocketDenialResponse

    with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect("/v1/nope"):
        pass
    assert denied.value.status_code == 404
    assert denied.value.json() == {"error": "no WebSocket at /v1/nope; the stream is at "
                                            "/v1/stream", "status": 404}


def test_the_real_server_streams_over_websockets(wake_export, tmp_path):
    """`kwslab serve` (uvicorn with the websockets package), driven by websockets' client."""
    import json

    from serve_process import serving
    from websockets.exceptions import ConnectionClosedOK
    from websockets.sync.client import connect

    data = pcm(stream("high", rate=8000, seed=12))
    with serving(wake_export, tmp_path / "server.log") as (url, _), \
            connect(url.replace("http://", "ws://") + "/v1/stream?rate=8000") as ws:
        for start in range(0, len(data), 1601):
            ws.send(data[start : start + 1601])
        ws.send(b"")
        messages = []
        with pytest.raises(ConnectionClosedOK):
            while True:
                messages.append(json.loads(ws.recv(timeout=30)))
    assert_one_word(messages, "high")
    assert ws.close_code == 1000


class RecordingHead:
    """Duck-typed Recognizer on the real speech_embedding front end: keeps the features of
    every window it scores, and hears only silence."""

    labels = ["go", "_silence_"]
    sample_rate = clip_samples = 16000
    thresholds: dict[str, float] = {}
    meta = {"loaded": "fake"}

    def __init__(self):
        from kwslab.config import DEFAULT

        self.features, self.front_end, self.seen = DEFAULT.features, None, []

    def compute(self, samples):
        from kwslab.features import compute_features

        return compute_features(samples, self.features)

    def run(self, feats):
        self.seen.append(np.array(feats))
        return np.tile(np.float32([0.0, 1.0]), (len(feats), 1))


def test_speech_embedding_models_stream_through_the_incremental_front_end(wake_export):
    """Odd-sized messages of PCM reach the model as exactly the features the incremental
    front end makes of the whole signal, one window per 80 ms."""
    from fastapi.testclient import TestClient

    from kwslab.features import embedding
    from kwslab.runtime.frontend import EmbeddingStream
    from kwslab.serve import create_app

    embedding.fetch(progress=False)
    data = pcm(stream("low", seed=13))
    heard = np.frombuffer(data, "<i2").astype(np.float32) / 32768  # what the server decodes
    head = RecordingHead()
    with TestClient(create_app(wake_export)) as c:
        c.app.state.recognizer = head
        assert run_stream(c, data, [3201, 2999, 1]) == ([], 1000)
    _, want = EmbeddingStream(head.features).feed(heard)
    got = np.concatenate(head.seen)
    assert abs(len(want) - len(heard) / 1280) <= 1  # one window per 80 ms
    assert len(got) > len(want)  # then the flushed tail
    np.testing.assert_allclose(got[: len(want)], want, rtol=1e-4, atol=1e-3)  # chunked float32

"""Property-based: whatever is uploaded to POST /v1/recognize, the answer is JSON and never 5xx."""

from __future__ import annotations

import pytest
from audio_strategies import wav_headers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx`")
FUZZ = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def client(tone_export):
    from fastapi.testclient import TestClient

    from kwslab.serve import create_app

    with TestClient(create_app(tone_export), raise_server_exceptions=False) as c:
        yield c


def assert_clean(r) -> None:
    assert r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/json"), r.text
    body = r.json()
    if r.status_code == 200:
        assert set(body["probabilities"]) == {"low", "mid", "high"}
    else:
        assert body["status"] == r.status_code and "\n" not in body["error"]


@FUZZ
@given(data=st.binary(max_size=4000), name=st.text(max_size=40),
       mime=st.sampled_from(["audio/wav", "application/octet-stream", "text/plain", ""]))
def test_random_bytes(client, data, name, mime):
    assert_clean(client.post("/v1/recognize", files={"file": (name or "x", data, mime)}))


@FUZZ
@given(wav_headers())
def test_random_wav_headers(client, data):
    assert_clean(client.post("/v1/recognize", files={"file": ("x.wav", data, "audio/wav")}))


@FUZZ
@given(body=st.binary(max_size=600), boundary=st.sampled_from(["x", "", "a" * 80, "--"]),
       prefix=st.sampled_from([b"", b"--x\r\n", b'--x\r\nContent-Disposition: form-data; '
                               b'name="file"; filename="a.wav"\r\n\r\n']))
def test_random_multipart_bodies(client, body, boundary, prefix):
    r = client.post("/v1/recognize", content=prefix + body,
                    headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert_clean(r)

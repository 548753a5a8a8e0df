"""Found by the property tests: one sample at 44.1 kHz resamples to no sample at 16 kHz, and the
empty array reached the model (a 500 from the service). Now it is one AudioError (a 400)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from kwslab.audio import load_audio
from kwslab.errors import AudioError


def one_sample_wav(rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.full(1, 0.5, np.float32), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def test_loader_says_so():
    with pytest.raises(AudioError, match="1 samples at 44100 Hz are less than one sample at "
                                         "16000 Hz"):
        load_audio(one_sample_wav(44100))
    assert load_audio(one_sample_wav(16000)).shape == (1,)


@pytest.mark.filterwarnings("ignore:Using `httpx`")
def test_service_answers_400(tone_export):
    from fastapi.testclient import TestClient

    from kwslab.serve import create_app

    with TestClient(create_app(tone_export), raise_server_exceptions=False) as client:
        r = client.post("/v1/recognize", files={"file": ("a.wav", one_sample_wav(44100))})
    assert r.status_code == 400 and "less than one sample" in r.json()["error"]

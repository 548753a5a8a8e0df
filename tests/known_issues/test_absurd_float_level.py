"""Found by the property tests: a float WAV holding a finite sample of 2.3e18 overflowed the
features to NaN and the service answered 500. Levels beyond 1e6 are not audio: one AudioError
(a 400); merely loud float audio is still accepted, with a warning."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from kwslab.audio import load_audio
from kwslab.errors import AudioError


def test_absurd_float_levels_are_refused_not_a_500(tone_export):
    from fastapi.testclient import TestClient

    from kwslab.serve import create_app

    buf = io.BytesIO()
    sf.write(buf, np.array([0.1, 2.3e18, -0.1], np.float32), 16000, format="WAV",
             subtype="FLOAT")
    with pytest.raises(AudioError, match="samples reach 2.3e[+]18, not an audio level"):
        load_audio(buf.getvalue())
    with TestClient(create_app(tone_export), raise_server_exceptions=False) as client:
        r = client.post("/v1/recognize", files={"file": ("a.wav", buf.getvalue())})
    assert r.status_code == 400 and "not an audio level" in r.json()["error"]

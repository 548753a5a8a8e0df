"""Audio loading accepts what users have and names the file when it cannot."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from audio_strategies import wav_headers
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _flac_of_zeros(rate: int, channels: int, seconds: int) -> bytes:
    import io

    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", samplerate=rate, channels=channels, format="FLAC",
                      subtype="PCM_16") as f:
        for _ in range(seconds):
            f.write(np.zeros((rate, channels), np.int16))
    return buf.getvalue()


def test_too_many_samples_to_decode_are_refused_from_the_header():
    bomb = _flac_of_zeros(655_350, 8, 3)  # 15.7 M samples in a few KB
    with pytest.raises(AudioError, match=r"^<upload>: 8 channels at 655350 Hz for 3\.0 s would "
                                         r"decode to 15\.7 M samples, over the 5\.8 M limit"):
        load_audio(bomb, max_seconds=30)


def test_a_big_file_within_limits_decodes_in_bounded_memory(tmp_path):
    import tracemalloc

    path = tmp_path / "six.wav"  # 6 channels, 48 kHz, 20 s: 23 MB as float32 in one piece
    with sf.SoundFile(path, "w", samplerate=48000, channels=6, subtype="PCM_16") as f:
        for _ in range(20):
            f.write(np.tile(_tone(48000)[:, None], (1, 6)).astype(np.float32))
    tracemalloc.start()
    try:
        x = load_audio(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert x.shape == (16000 * 20,) and 0.4 < np.abs(x).max() < 0.6
    assert peak < 8 * 2**20, peak  # one block and the 1.3 MB output, not 23 MB


def test_block_by_block_resampling_equals_one_shot(tmp_path):
    import soxr

    from kwslab import audio

    x = np.random.default_rng(0).uniform(-0.5, 0.5, 44100 * 8).astype(np.float32)
    path = tmp_path / "noise.wav"
    sf.write(path, x, 44100, subtype="FLOAT")
    one_shot = soxr.resample(x, 44100, 16000)
    np.testing.assert_array_equal(load_audio(path), one_shot)
    assert len(x) > audio.BLOCK_SAMPLES  # several blocks were needed


def test_a_header_that_declares_no_length_is_refused():
    data = bytearray(_flac_of_zeros(16000, 1, 1))
    data[8 + 13] &= 0xF0  # STREAMINFO's 36-bit total-samples field: 0 means "unknown"
    data[8 + 14 : 8 + 18] = bytes(4)
    with pytest.raises(AudioError, match="declares no length"):
        load_audio(bytes(data))


def test_symlink_loop_folder_and_broken_link_are_named(tmp_path):
    loop = tmp_path / "loop.wav"
    loop.symlink_to(loop)
    with pytest.raises(AudioError, match="loop.wav: symlink loop"):
        load_audio(loop)
    broken = tmp_path / "broken.wav"
    broken.symlink_to(tmp_path / "gone.wav")
    with pytest.raises(AudioError, match="broken.wav: broken symlink"):
        load_audio(broken)
    with pytest.raises(AudioError, match="is a folder"):
        load_audio(tmp_path)


def test_find_audio_reports_problems_and_keeps_going(tmp_path):
    from kwslab.audio import find_audio

    (tmp_path / "d").mkdir()
    sf.write(tmp_path / "d" / "a.wav", _tone(16000), 16000)
    sf.write(tmp_path / "d" / "b.mp3", _tone(16000), 16000)
    (tmp_path / "d" / "notes.txt").write_text("not audio")
    (tmp_path / "d" / "self.wav").symlink_to(tmp_path / "d" / "self.wav")
    found = dict(find_audio([tmp_path / "d", tmp_path / "missing.wav"]))
    assert set(found) == {tmp_path / "d" / n for n in ("a.wav", "b.mp3", "self.wav")} | {
        tmp_path / "missing.wav"}
    assert found[tmp_path / "d" / "a.wav"] is None and found[tmp_path / "d" / "b.mp3"] is None
    assert "symlink loop" in found[tmp_path / "d" / "self.wav"]
    assert "no such file" in found[tmp_path / "missing.wav"]
    assert load_audio(tmp_path / "d" / "b.mp3").shape[0] > 15000


# --- property-based: whatever the bytes, a clean answer or one AudioError ----------------------

def _clean_or_audio_error(data: bytes) -> None:
    import tracemalloc

    tracemalloc.start()
    try:
        x = load_audio(data, max_seconds=30)
    except AudioError as e:
        assert "\n" not in str(e) and str(e).startswith("<upload>: ")
    else:
        assert x.dtype == np.float32 and x.ndim == 1 and len(x) > 0
        assert np.isfinite(x).all() and len(x) <= 30 * 16000 + 16
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 16 * 2**20, peak  # 30 s of output and one block, whatever the header says


@settings(max_examples=60, deadline=None, database=None)
@given(st.binary(max_size=4000))
def test_random_bytes_give_samples_or_one_audio_error(data):
    _clean_or_audio_error(data)


@settings(max_examples=60, deadline=None, database=None)
@given(wav_headers())
def test_random_wav_headers_give_samples_or_one_audio_error(data):
    _clean_or_audio_error(data)


def test_level_warning_names_short_silent_and_loud_clips():
    from kwslab.audio import level_warning

    rng = np.random.default_rng(0)
    assert level_warning(rng.uniform(-0.5, 0.5, 16000).astype(np.float32)) is None
    assert "too short" in level_warning(np.full(100, 0.5, np.float32))
    assert "digital silence" in level_warning(np.zeros(16000, np.float32))
    assert "-100 dBFS" in level_warning(np.full(16000, 1e-5, np.float32))
    both = level_warning(np.full(10, 4.0, np.float32))
    assert "too short" in both and "reach 4" in both and "\n" not in both

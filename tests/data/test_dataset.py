"""Decoding clips: bad files are skipped and reported; callers decide when too few decoded."""

from __future__ import annotations

import numpy as np
import pytest

from kwslab.audio import write_wav
from kwslab.data.dataset import WaveSource, load_waves
from kwslab.data.manifest import Clip
from kwslab.errors import DataError


def _clip(path, label="w"):
    return Clip(str(path), label, path.stem, "train")


def test_load_waves_skips_bad_files_and_may_return_none(tmp_path):
    good = tmp_path / "good.wav"
    write_wav(good, np.full(8000, 0.1, np.float32))
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"junk")
    loaded = load_waves([_clip(bad), _clip(good)], 16000)
    assert loaded.clips == [_clip(good)] and loaded.waves.shape == (1, 16000)
    assert [p for p, _ in loaded.bad] == [str(bad)] and "bad.wav" in loaded.bad[0][1]
    nothing = load_waves([_clip(bad)], 16000)
    assert nothing.clips == [] and nothing.waves.shape == (0, 16000) and len(nothing.bad) == 1


def test_wave_source_needs_one_readable_clip(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"junk")
    with pytest.raises(DataError, match=r"none of the 1 clips could be read; first: .*bad\.wav"):
        WaveSource([_clip(bad)], 16000)


def test_streamed_batch_of_only_bad_clips_is_silence(tmp_path):
    good = tmp_path / "good.wav"
    write_wav(good, np.full(16000, 0.1, np.float32))
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"junk")
    source = WaveSource([_clip(good), _clip(bad)], 16000, limit=0)  # streamed from disk
    assert source.streaming
    np.testing.assert_array_equal(source.get(np.array([1])), np.zeros((1, 16000), np.float32))
    assert source.get(np.array([0, 1]))[0].max() > 0.05
    assert {p for p, _ in source.bad} == {str(bad)}


def test_context_of_a_cut_is_its_recordings_audio_and_of_a_lone_clip_silence(tmp_path):
    """A cut of a long recording comes with the audio around it (zeros only past the
    recording's ends, as a stream starts); a clip of its own with zeros; no context is the
    clip alone, as before."""
    from kwslab.data.dataset import load_clip

    ramp = np.linspace(-0.9, 0.9, 48000).astype(np.float32)
    write_wav(tmp_path / "long.wav", ramp)
    long = load_clip(Clip(str(tmp_path / "long.wav"), "w", "s", "train"), 48000)  # as decoded
    cut = Clip(str(tmp_path / "long.wav"), "w", "s", "train", 20000, 16000)
    np.testing.assert_array_equal(load_clip(cut, 16000), long[20000:36000])
    np.testing.assert_array_equal(load_clip(cut, 16000, 4000), long[16000:40000])
    wider = Clip(cut.path, "w", "s", "train", 20000, 18000)  # centre-cropped to 16000 first
    np.testing.assert_array_equal(load_clip(wider, 16000, 4000), long[17000:41000])
    early = Clip(cut.path, "w", "s", "train", 1000, 16000)  # starts 1000 samples in
    got = load_clip(early, 16000, 4000)
    np.testing.assert_array_equal(got[:3000], np.zeros(3000, np.float32))
    np.testing.assert_array_equal(got[3000:], long[:21000])
    before = Clip(cut.path, "w", "s", "train", -6000, 16000)  # a window starting before it
    np.testing.assert_array_equal(load_clip(before, 16000, 4000),
                                  np.concatenate([np.zeros(10000, np.float32), long[:14000]]))
    late = Clip(cut.path, "w", "s", "train", 30000, 16000)  # ends 2000 samples before the end
    np.testing.assert_array_equal(load_clip(late, 16000, 4000)[-2000:], np.zeros(2000))

    alone = tmp_path / "alone.wav"
    write_wav(alone, np.full(16000, 0.25, np.float32))
    got = load_clip(_clip(alone), 16000, 4000)
    assert got.shape == (24000,) and not got[:4000].any() and not got[-4000:].any()
    np.testing.assert_allclose(got[4000:20000], 0.25, atol=1e-4)

    both = [cut, _clip(alone)]
    in_memory = WaveSource(both, 16000, context=4000)
    streamed = WaveSource(both, 16000, context=4000, limit=0)
    assert streamed.streaming and in_memory.width == 24000
    np.testing.assert_array_equal(in_memory.get(np.array([0, 1])),
                                  streamed.get(np.array([0, 1])))
    assert load_waves(both, 16000, context=4000).waves.shape == (2, 24000)

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

"""Negative recordings: split by file, unreadable files named, cut into _unknown_ clips."""

from __future__ import annotations

import numpy as np
import pytest

from kwslab.audio import write_wav
from kwslab.config import UNKNOWN, DataConfig
from kwslab.data import load_clips
from kwslab.data.negatives import negative_clips, negative_files
from kwslab.errors import DataError


@pytest.fixture
def negatives(tmp_path):
    rng = np.random.default_rng(0)
    for sub in ("speech", "music"):
        for i in range(4):
            write_wav(tmp_path / "neg" / sub / f"{i:02d}.wav",
                      rng.normal(0, 0.05, 16000 * 5).astype(np.float32))
    (tmp_path / "neg" / "speech" / "zz-broken.wav").write_bytes(b"RIFF1234WAVEjunk")
    (tmp_path / "neg" / "notes.txt").write_text("not audio")
    return tmp_path / "neg"


def test_files_go_round_robin_per_folder_and_bad_ones_are_named(negatives):
    files, bad = negative_files(negatives)
    names = {k: sorted(f"{p.parent.name}/{p.name}" for p in v) for k, v in files.items()}
    assert names == {"train": ["music/00.wav", "speech/00.wav"],
                     "validation": ["music/01.wav", "speech/01.wav"],
                     "test": ["music/02.wav", "music/03.wav", "speech/02.wav", "speech/03.wav"]}
    assert [p for p, _ in bad] == [str(negatives / "speech" / "zz-broken.wav")]


def test_no_audio_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no readable audio") as err:
        negative_files(tmp_path / "empty")
    assert "\n" not in str(err.value)
    with pytest.raises(DataError, match="does not exist"):
        negative_files(tmp_path / "missing")


def test_clips_are_cut_inside_their_own_split(negatives):
    clips = negative_clips(negatives, {"train": 10, "validation": 4}, seed=3)
    assert {c.label for c in clips} == {UNKNOWN}
    train = [c for c in clips if c.split == "train"]
    assert len(train) == 10 and all(c.path.endswith("00.wav") for c in train)
    assert all(c.path.endswith("01.wav") for c in clips if c.split == "validation")
    assert all(0 <= c.offset <= 16000 * 4 and c.length == 16000 for c in clips)


def test_a_dataset_with_negatives_gains_an_unknown_class(tone_data, negatives):
    cfg = DataConfig(words=("low", "mid", "high"), negatives=str(negatives),
                     negatives_per_word=2.0)
    assert cfg.labels[-1] == UNKNOWN
    clips = load_clips(tone_data, cfg)
    neg = [c for c in clips if c.label == UNKNOWN]
    per_word = sum(c.label == "low" and c.split == "train" for c in clips)
    assert abs(sum(c.split == "train" for c in neg) - 2 * per_word) <= 2
    assert {c.split for c in neg} == {"train", "validation", "test"}

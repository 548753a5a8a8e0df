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


def test_off_centre_keywords_sit_at_the_windows_edge_as_unknown(tone_data):
    """Each is a keyword clip of its split and speaker shifted 0.4-0.6 s either way (its word
    centred within 0.1 s of the window's edge), labelled _unknown_; seeded."""
    from kwslab.data.negatives import OFF_CENTRE_S, off_centre_clips

    words = ("low", "mid", "high")
    keywords = load_clips(tone_data, DataConfig(words=words))
    got = off_centre_clips(keywords, {"train": 30, "validation": 6, "test": 0}, seed=1)
    assert [sum(c.split == s for c in got) for s in ("train", "validation", "test")] == [30, 6, 0]
    by_path = {c.path: c for c in keywords}
    for c in got:
        source = by_path[c.path]
        assert c.label == UNKNOWN and (c.speaker, c.split) == (source.speaker, source.split)
        assert OFF_CENTRE_S[0] * 16000 <= abs(c.offset) <= OFF_CENTRE_S[1] * 16000
        assert c.length == 16000
    assert {c.offset > 0 for c in got} == {True, False}  # the word leaves and enters
    assert got == off_centre_clips(keywords, {"train": 30, "validation": 6, "test": 0}, seed=1)
    assert got != off_centre_clips(keywords, {"train": 30, "validation": 6, "test": 0}, seed=2)


def test_a_dataset_with_off_centre_keywords_gains_an_unknown_class(tone_data):
    from kwslab.data.dataset import load_clip

    cfg = DataConfig(words=("low", "mid", "high"), off_centre_per_word=1.0)
    assert cfg.labels[-1] == UNKNOWN
    clips = load_clips(tone_data, cfg)
    off = [c for c in clips if c.label == UNKNOWN]
    for split in ("train", "validation", "test"):
        per_word = sum(c.label == "low" and c.split == split for c in clips)
        assert abs(sum(c.split == split for c in off) - per_word) <= 1
    c = next(c for c in off if c.offset < 0)  # the window starts before the clip: silence
    wave = load_clip(c, 16000)
    assert not wave[: -c.offset].any() and np.abs(wave[-c.offset :]).max() > 0.01
    assert DataConfig(words=("low", "mid")).labels == ("low", "mid")  # 0: none, no class


def test_off_centre_shifts_count_from_a_short_clips_centred_second(tmp_path):
    """A 0.6 s keyword is centred in its second (fix_length): its shifts count from there, so
    its word too lands at the window's edge, half in, half out."""
    from kwslab.data.dataset import load_clip
    from kwslab.data.manifest import Clip
    from kwslab.data.negatives import OFF_CENTRE_S, off_centre_clips

    write_wav(tmp_path / "short.wav", np.full(9600, 0.3, np.float32))
    keyword = Clip(str(tmp_path / "short.wav"), "go", "spk", "train")
    got = off_centre_clips([keyword], {"train": 40}, seed=0)
    centred = -3200  # the file starts 3200 samples into its centred second
    for c in got:
        assert OFF_CENTRE_S[0] * 16000 <= abs(c.offset - centred) <= OFF_CENTRE_S[1] * 16000
        wave = load_clip(c, 16000)
        word = np.flatnonzero(np.abs(wave) > 0.1)
        assert 0 < len(word) < 9600  # part of the word only
        assert word[0] == 0 or word[-1] == 15999  # cut at the window's edge

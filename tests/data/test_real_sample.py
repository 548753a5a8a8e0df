"""The shipped real clips: loadable, all 8 words, small, unmodified and from unseen speakers."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf

from kwslab.config import SEED_WORDS, DataConfig
from kwslab.data import load_clips
from kwslab.data.real_sample import WORDS, real_clips_dir


def test_the_folder_loads_as_a_test_set_of_all_8_words() -> None:
    clips = load_clips(real_clips_dir(), DataConfig(words=SEED_WORDS))
    assert WORDS == SEED_WORDS
    assert {c.label for c in clips} == set(SEED_WORDS)
    assert all(c.split == "test" for c in clips)
    per_word = {w: sum(c.label == w for c in clips) for w in SEED_WORDS}
    assert min(per_word.values()) >= 6
    listed = (real_clips_dir() / "testing_list.txt").read_text().split()
    assert len(listed) == len(clips) == len(set(listed))


def test_small_16_bit_and_attributed() -> None:
    folder = real_clips_dir()
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    assert size <= 3 * 1024 * 1024
    for f in folder.glob("*/*.wav"):
        info = sf.info(str(f))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    note = (folder / "ATTRIBUTION.md").read_text()
    assert "arXiv:1804.03209" in note and "CC BY 4.0" in note and "unmodified" in note


def test_speakers_never_trained_on_and_files_unmodified(mini_data: Path) -> None:
    shipped = load_clips(real_clips_dir(), DataConfig(words=SEED_WORDS))
    mini = load_clips(mini_data, DataConfig(words=SEED_WORDS))
    seen = {c.speaker for c in mini if c.split != "test"}
    test_speakers = {c.speaker for c in mini if c.split == "test"}
    assert {c.speaker for c in shipped} <= test_speakers
    assert not {c.speaker for c in shipped} & seen
    for c in shipped:
        original = mini_data / c.label / Path(c.path).name
        assert Path(c.path).read_bytes() == original.read_bytes()

"""The Speech Commands recipe: words, splits (lists or speaker hash), caps, extra classes."""

from __future__ import annotations

import shutil
from collections import defaultdict

import pytest

from kwslab.config import SEED_WORDS, SILENCE, UNKNOWN, DataConfig
from kwslab.data import counts, load_clips
from kwslab.data.manifest import read_manifest, which_set, write_manifest
from kwslab.data.speechcommands import NOISE_SPLIT_BOUNDS, SPLIT_GUARD, prepare_speech_commands
from kwslab.errors import DataError


def _speakers_by_split(clips):
    table = defaultdict(set)
    for c in clips:
        table[c.speaker].add(c.split)
    return table


def test_mini_dataset_uses_the_lists_and_is_speaker_disjoint(mini_data):
    clips = prepare_speech_commands(mini_data, DataConfig())
    table = counts(clips)
    assert sorted(table) == sorted(SEED_WORDS)
    for word, row in table.items():
        assert 170 <= row["train"] <= 210, (word, row)
        assert 40 <= row["validation"] <= 70 and 30 <= row["test"] <= 50
    assert all(len(s) == 1 for s in _speakers_by_split(clips).values())
    listed = set((mini_data / "testing_list.txt").read_text().split())
    test_names = {c.path.split("speech_commands_mini/")[1] for c in clips if c.split == "test"}
    assert test_names <= listed


def test_hash_split_when_lists_are_missing(tone_data, tmp_path):
    root = tmp_path / "nolists"
    shutil.copytree(tone_data, root)
    (root / "validation_list.txt").unlink()
    (root / "testing_list.txt").unlink()
    clips = prepare_speech_commands(root, DataConfig(words=("low", "mid", "high")))
    for c in clips:
        assert c.split == which_set(c.path)
    assert all(len(s) == 1 for s in _speakers_by_split(clips).values())


def test_which_set_follows_the_dataset_readme():
    # Same speaker, different utterances: same split. The hash ignores everything after _nohash_.
    assert which_set("a/0a7c2a8d_nohash_0.wav") == which_set("b/0a7c2a8d_nohash_4.wav")
    splits = {which_set(f"{i:08x}_nohash_0.wav") for i in range(300)}
    assert splits == {"train", "validation", "test"}
    share = sum(which_set(f"{i:08x}_nohash_0.wav") == "train" for i in range(3000)) / 3000
    assert 0.75 < share < 0.85


def test_cap_per_word_and_missing_word(mini_data):
    clips = prepare_speech_commands(mini_data, DataConfig(words=("up", "go"), max_per_word=50))
    table = counts(clips)
    assert table["up"]["train"] == 50 and table["go"]["train"] == 50
    assert table["up"]["test"] > 30  # held-out splits are not capped
    with pytest.raises(DataError, match="no folder for word.*zebra.*available: backward"):
        prepare_speech_commands(mini_data, DataConfig(words=("up", "zebra")))


def test_unknown_and_silence_classes(mini_data):
    cfg = DataConfig(unknown=True, silence=True)
    clips = prepare_speech_commands(mini_data, cfg)
    table = counts(clips)
    assert cfg.labels[-2:] == (SILENCE, UNKNOWN)
    mean_train = sum(table[w]["train"] for w in SEED_WORDS) / 8
    for extra in (SILENCE, UNKNOWN):
        assert abs(table[extra]["train"] - mean_train) <= 2
    unknown_words = {c.path.split("/")[-2] for c in clips if c.label == UNKNOWN}
    assert unknown_words.isdisjoint(SEED_WORDS) and len(unknown_words) > 5
    # Silence cuts, and the context a front end may read around them (up to 0.5 s), stay
    # inside their split's share of each noise file (its ends are silence, not another split).
    assert all(table[SILENCE][s] > 0 for s in ("train", "validation", "test"))
    import soundfile as sf

    for c in clips:
        if c.label == SILENCE:
            lo, hi = NOISE_SPLIT_BOUNDS[c.split]
            n = sf.info(c.path).frames
            first = c.offset - (SPLIT_GUARD if lo > 0 else 0)
            last = c.offset + c.length + (SPLIT_GUARD if hi < 1 else 0)
            assert lo * n <= first and last <= hi * n


def test_missing_folder_and_manifest_roundtrip(tmp_path, tone_data):
    with pytest.raises(DataError, match="does not exist"):
        load_clips(tmp_path / "nowhere", DataConfig())
    cfg = DataConfig(words=("low", "mid", "high"))
    clips = load_clips(tone_data, cfg)
    write_manifest(clips, tmp_path / "m.jsonl")
    assert read_manifest(tmp_path / "m.jsonl") == clips
    assert load_clips(tmp_path / "m.jsonl", DataConfig(words=("low",))) == [
        c for c in clips if c.label == "low"]
    (tmp_path / "bad.jsonl").write_text('{"path": 1}\n')
    with pytest.raises(DataError, match="bad.jsonl:1: not a clip record"):
        read_manifest(tmp_path / "bad.jsonl")

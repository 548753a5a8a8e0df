"""A clip in both the validation and test lists, list entries naming missing files and
byte-identical copies in train and test went unreported: the dataset trained and scored as if
nothing were wrong. `kwslab data info` and training now warn, one line per problem."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest
from cli_run import run
from tones import TONE_CONFIG, make_tone_dataset

from kwslab.config import DataConfig
from kwslab.data import load_clips
from kwslab.data.checks import dataset_problems
from kwslab.data.manifest import write_manifest


@pytest.fixture
def flawed(tmp_path):
    """Tones (speaker 4 validation, 5 test) with one of each problem."""
    root = make_tone_dataset(tmp_path / "data", per_speaker=2, speakers=6)
    shutil.copy(root / "low/00000000_nohash_0.wav", root / "low/0000000a_nohash_0.wav")
    with open(root / "testing_list.txt", "a") as f:
        f.write("low/0000000a_nohash_0.wav\nmid/00000004_nohash_1.wav\n")  # copy; in both
    with open(root / "validation_list.txt", "a") as f:
        f.write("high/gone_nohash_0.wav\nhigh/gone_nohash_1.wav\n")
    return root


def test_data_info_warns_once_per_problem(flawed, capsys):
    code, out, err = run(capsys, "data", "info", flawed, "--words", "low,mid,high", "--json")
    assert code == 0, err
    assert json.loads(out)["mid"] == {"train": 8, "validation": 1, "test": 3}
    lines = err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("warning: ") for line in lines), err
    both, missing, copies = lines
    assert "1 clip in both validation_list.txt and testing_list.txt (used as test" in both
    assert "mid/00000004_nohash_1.wav" in both
    assert "validation_list.txt: 2 entries name files that do not exist" in missing
    assert "high/gone_nohash_0.wav, high/gone_nohash_1.wav" in missing
    assert "1 recording copied byte for byte into another split (train/test: 1)" in copies
    assert "low/00000000_nohash_0.wav (train) = low/0000000a_nohash_0.wav (test)" in copies


def test_training_warns_at_start_with_the_same_lines(flawed, tmp_path):
    from kwslab.training import train

    notes: list[str] = []
    cfg = replace(TONE_CONFIG, train=replace(TONE_CONFIG.train, epochs=1))
    train(cfg, flawed, tmp_path / "run", progress=False, log=notes.append)
    problems = dataset_problems(flawed, load_clips(flawed, cfg.data))
    assert [p.kind for p in problems] == [
        "in_both_lists", "missing_list_entry", "duplicate_across_splits"]
    assert notes[:3] == [f"warning: {p}" for p in problems]


def test_problems_are_data_with_the_paths(flawed):
    clips = load_clips(flawed, DataConfig(words=("low", "mid", "high")))
    by_kind = {p.kind: p for p in dataset_problems(flawed, clips)}
    assert by_kind["duplicate_across_splits"].paths == tuple(sorted(
        str(flawed / f"low/{n}_nohash_0.wav") for n in ("00000000", "0000000a")))
    assert by_kind["missing_list_entry"].paths == tuple(
        str(flawed / f"high/gone_nohash_{k}.wav") for k in (0, 1))


def test_a_manifest_is_checked_for_copies_only(flawed, tmp_path):
    clips = load_clips(flawed, DataConfig(words=("low", "mid", "high")))
    write_manifest(clips, tmp_path / "m.jsonl")
    assert [p.kind for p in dataset_problems(tmp_path / "m.jsonl", clips)] == [
        "duplicate_across_splits"]


def test_a_clean_dataset_has_no_problems(tone_data):
    clips = load_clips(tone_data, DataConfig(words=("low", "mid", "high"), silence=True))
    assert dataset_problems(tone_data, clips) == []

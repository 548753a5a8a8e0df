"""Speaker-grouped folds: no speaker in two folds, every clip tested once, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tones import TONE_CONFIG, TONE_WORDS, make_tone_dataset

from kwslab.audio import write_wav
from kwslab.crossval import cross_validate
from kwslab.data import load_clips
from kwslab.data.folds import assign_folds, check_folds, dataset_speakers, write_fold
from kwslab.errors import ConfigError, DataError

ROOT = Path(__file__).resolve().parents[2]


def test_folds_partition_speakers_and_clips(tone_data, tmp_path):
    speakers = dataset_speakers(tone_data)
    assert len(speakers) == 10
    fold = assign_folds(speakers, 3, seed=0)
    assert sorted(set(fold.values())) == [0, 1, 2]
    sizes = [sum(len(f) for s, f in speakers.items() if fold[s] == i) for i in range(3)]
    assert max(sizes) - min(sizes) <= 9  # one speaker's clips: balanced by clip count
    tested: list[str] = []
    for i in range(3):
        root = write_fold(tone_data, speakers, fold, 3, i, tmp_path / f"f{i}")
        clips = load_clips(root, TONE_CONFIG.data)
        by_split: dict[str, set[str]] = {}
        for c in clips:
            by_split.setdefault(c.split, set()).add(c.speaker)
        assert by_split["test"] == {s for s in speakers if fold[s] == i}
        assert 1 <= len(by_split["validation"]) <= 2  # a fifth of the 6-7 other speakers
        assert not (by_split["train"] & (by_split["test"] | by_split["validation"]))
        tested += [c.path for c in clips if c.split == "test"]
    assert len(tested) == len(set(tested)) == sum(len(f) for f in speakers.values())


@pytest.mark.parametrize("k,match", [(1, "at least 2"), (11, "only 10 speakers")])
def test_bad_fold_counts(tone_data, k, match):
    with pytest.raises(DataError, match=match):
        assign_folds(dataset_speakers(tone_data), k)


def test_unreadable_speaker_names_the_pattern(tmp_path):
    import numpy as np

    write_wav(tmp_path / "go" / "recording1.wav", np.zeros(1600, np.float32))
    with pytest.raises(DataError, match="SPEAKER_nohash_N.wav"):
        dataset_speakers(tmp_path)


def test_a_fold_without_a_word_is_an_error(tmp_path):
    root = make_tone_dataset(tmp_path / "d", per_speaker=1, speakers=4)
    for f in (root / "high").glob("0000000[0-2]_*.wav"):
        f.unlink()  # only speaker 3 still says "high"
    speakers = dataset_speakers(root)
    fold = assign_folds(speakers, 2)
    with pytest.raises(DataError, match="has no clip of 'high'"):
        check_folds(speakers, fold, 2, TONE_WORDS)


def test_cross_validate_scores_every_speaker_once_and_resumes(tone_data, tmp_path):
    lines: list[str] = []
    res = cross_validate(TONE_CONFIG, tone_data, 2, tmp_path, log=lines.append)
    assert [f["fold"] for f in res["folds"]] == [0, 1]
    assert sum(f["n"] for f in res["folds"]) == 90  # 10 speakers x 3 words x 3 clips
    assert res["accuracy"][0] > 0.8  # tones are easy; chance is 1/3
    assert res["n_speakers"] == 10 and 0.0 <= res["worst_decile"] <= 1.0
    again = cross_validate(TONE_CONFIG, tone_data, 2, tmp_path, log=lines.append)
    assert again["accuracy"] == res["accuracy"]
    assert sum("training" in line for line in lines) == 2  # the second call trained nothing


@pytest.mark.slow  # the benchmark script end to end, in its own process
def test_fold_benchmark_runs_on_tones(tone_data, tmp_path):
    out = tmp_path / "bench"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "accuracy.py"), "--data", str(tone_data),
           "--out", str(out), "--folds", "2", "--families", "mlp", "--seeds", "0",
           "--epochs", "3", "--words", *TONE_WORDS]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    rows = json.loads((out / "folds.json").read_text())["rows"]
    assert rows[0]["family"] == "mlp" and len(rows[0]["folds"]) == 2
    assert "| mlp | 2 x 1 |" in (out / "folds.md").read_text()
    bad = subprocess.run([*cmd, "--folds", "40"], capture_output=True, text=True,
                         timeout=600)
    assert bad.returncode != 0 and bad.stderr.strip().count("\n") == 0
    assert "only 10 speakers" in bad.stderr
    # Distilled from each fold's own run: one teacher export per fold, each run names its own.
    student = tmp_path / "student"
    cmd[cmd.index(str(out))] = str(student)
    alone = subprocess.run([*cmd[:2], "--teacher", "x", "--out", str(student)],
                           capture_output=True, text=True, timeout=600)
    assert alone.returncode != 0 and alone.stderr.strip() == "error: --teacher needs --folds"
    subprocess.run([*cmd, "--teacher", f"{out / 'mlp'}:0"], check=True, capture_output=True,
                   text=True, timeout=600)
    for k in (0, 1):
        assert (student / "teachers" / f"fold{k}" / "model.onnx").is_file()
        cfg = json.loads((student / "mlp" / f"seed0-fold{k}" / "config.json").read_text())
        assert cfg["config"]["train"]["teacher"] == str(student / "teachers" / f"fold{k}")


def test_cross_validate_gives_each_fold_its_teacher(tone_data, tone_export, tmp_path):
    with pytest.raises(ConfigError, match="1 teachers for 2 folds"):
        cross_validate(TONE_CONFIG, tone_data, 2, tmp_path, teachers=[tone_export])
    cross_validate(TONE_CONFIG, tone_data, 2, tmp_path, teachers=[tone_export, tone_export],
                   log=lambda m: None)
    for k in (0, 1):
        cfg = json.loads((tmp_path / f"seed0-fold{k}" / "config.json").read_text())
        assert cfg["config"]["train"]["teacher"] == str(tone_export)


def test_folds_can_be_shared_out_and_gathered(tone_data, tmp_path):
    lines: list[str] = []
    part = cross_validate(TONE_CONFIG, tone_data, 2, tmp_path, only=[1], log=lines.append)
    assert [f["fold"] for f in part["folds"]] == [1]
    every = cross_validate(TONE_CONFIG, tone_data, 2, tmp_path, log=lines.append)
    assert [f["fold"] for f in every["folds"]] == [0, 1]
    assert sum("training" in line for line in lines) == 2  # fold 1 was not trained again
    for bad in ([2], [], [1, 1]):
        with pytest.raises(ConfigError, match="distinct numbers from 0 to 1"):
            cross_validate(TONE_CONFIG, tone_data, 2, tmp_path, only=bad)

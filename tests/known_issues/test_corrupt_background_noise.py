"""An unreadable `_background_noise_` file aborted training with noise augmentation (the README
says unreadable files are skipped), and with the _silence_ class `sf.info` printed a traceback.
Now the file is skipped with a one-line warning naming it, and the other recordings are used."""

from __future__ import annotations

import json

import pytest
from cli_run import run
from tones import make_tone_dataset

from kwslab.config import SILENCE, DataConfig
from kwslab.data.speechcommands import noise_files, prepare_speech_commands


@pytest.fixture
def data(tmp_path):
    root = make_tone_dataset(tmp_path / "data", per_speaker=2, speakers=6)
    (root / "_background_noise_" / "white_noise.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVE")
    return root


def test_training_with_noise_and_silence_skips_the_bad_recording(data, tmp_path, capsys):
    cfg = tmp_path / "noisy.toml"
    cfg.write_text('base = "seed"\n[data]\nwords = ["low", "mid", "high"]\nsilence = true\n'
                   "[model]\nneurons = 32\n[train]\nepochs = 1\n[train.augment]\n"
                   "noise_prob = 0.5\n")
    code, out, err = run(capsys, "train", "--data", data, "--config", cfg, "--out",
                         tmp_path / "run", "--quiet", "--no-report")
    assert code == 0, err
    assert "Traceback" not in err
    note = err.replace("\n", "")  # the console wraps long lines
    assert "unreadable background-noise file" in note and "white_noise.wav" in note
    counts = json.loads((tmp_path / "run" / "metrics.json").read_text())["counts"]
    assert counts[SILENCE]["train"] > 0


def test_silence_clips_come_from_the_readable_recordings(data):
    assert [p.name for p in noise_files(data)] == ["brown_noise.wav"]
    clips = prepare_speech_commands(data, DataConfig(words=("low", "mid"), silence=True))
    silence = [c for c in clips if c.label == SILENCE]
    assert silence and all(c.path.endswith("brown_noise.wav") for c in silence)


def test_data_info_silence_warns_in_one_line(data, capsys):
    code, out, err = run(capsys, "data", "info", data, "--words", "low,mid,high", "--silence",
                         "--json")
    assert code == 0, err
    assert json.loads(out)[SILENCE]["train"] > 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: ")
    assert "white_noise.wav" in lines[0] and "unreadable background-noise file" in lines[0]


def test_no_readable_recording_is_one_line(data, capsys):
    (data / "_background_noise_" / "brown_noise.wav").write_bytes(b"")
    code, out, err = run(capsys, "data", "info", data, "--words", "low", "--silence")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: ") and "no readable noise recording" in err

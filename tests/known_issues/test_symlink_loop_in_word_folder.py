"""A symlink loop in a word folder printed a traceback (`Path.resolve` raises on a loop) from
every command that reads the dataset. Now the loop is a clip like any other file that does not
decode: reported by name and skipped; a looping folder is no word."""

from __future__ import annotations

import json
import shutil

import pytest
from cli_run import run


@pytest.fixture
def looped(tone_data, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tone_data, root)
    (root / "low" / "loop_nohash_0.wav").symlink_to(root / "low" / "loop_nohash_0.wav")
    (root / "mid" / "sub").symlink_to(root / "mid" / "sub")  # a looping folder in a word
    (root / "loopy").symlink_to(root / "loopy")  # a looping word folder
    (root / "_background_noise_" / "loop.wav").symlink_to(
        root / "_background_noise_" / "loop.wav")
    return root


def test_data_info_counts_the_loop_as_a_clip(looped, capsys):
    code, out, err = run(capsys, "data", "info", looped, "--words", "low,mid,high", "--silence",
                         "--json")
    assert code == 0, err
    assert json.loads(out)["low"]["train"] == 25  # 24 tones + the loop, skipped when read
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "loop.wav: symlink loop" in lines[0], err


def test_evaluate_skips_the_loop(tone_run, looped, capsys):
    code, out, err = run(capsys, "evaluate", tone_run, "--data", looped, "--split", "all",
                         "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["n"] == 90 and result["skipped"] == [str(looped / "low" / "loop_nohash_0.wav")]


def test_a_looping_word_folder_is_not_a_word(looped, capsys):
    code, out, err = run(capsys, "data", "info", looped, "--words", "loopy")
    assert code == 2 and err.count("\n") == 1, err
    assert "no folder for word(s) loopy; available: high, low, mid" in err

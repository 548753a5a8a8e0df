"""`kwslab predict` on a batch: one missing path aborted the whole batch, a symlink loop was
called "no such file", a folder's .mp3 files were skipped though an .mp3 path worked, and a model
with NaN weights printed `"probability": NaN` (not JSON) under --json."""

from __future__ import annotations

import json
import shutil

import pytest
import soundfile as sf
from cli_run import run


@pytest.fixture
def folder(tone_data, tmp_path):
    """Two tone clips, one of them as MP3, and a symlink that points to itself."""
    d = tmp_path / "clips"
    d.mkdir()
    wavs = sorted((tone_data / "high").glob("*.wav"))
    shutil.copy(wavs[0], d / "a.wav")
    x, sr = sf.read(wavs[1])
    sf.write(d / "b.mp3", x, sr)
    (d / "loop.wav").symlink_to(d / "loop.wav")
    return d


def test_missing_path_and_symlink_loop_are_reported_and_the_rest_predicted(
        tone_run, folder, tmp_path, capsys):
    status, out, err = run(capsys, "predict", tone_run, folder, tmp_path / "gone.wav", "--json")
    results = {r["file"]: r for r in map(json.loads, out.splitlines())}
    assert status == 1
    assert results[str(folder / "a.wav")]["label"] == "high"
    assert results[str(folder / "b.mp3")]["label"] == "high"  # found in the folder
    assert "symlink loop" in results[str(folder / "loop.wav")]["error"]
    assert "no such file" in results[str(tmp_path / "gone.wav")]["error"]


def test_table_output_puts_each_problem_on_one_stderr_line(tone_run, folder, tmp_path, capsys):
    status, out, err = run(capsys, "predict", tone_run, folder, tmp_path / "gone.wav")
    assert status == 1
    errors = err.strip().splitlines()
    assert len(errors) == 2 and all(line.startswith("error: ") for line in errors)
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert len(rows) == 2 and all("high" in row for row in rows)  # a.wav and b.mp3


def test_nan_outputs_are_one_line_not_invalid_json(tone_run, folder, capsys, monkeypatch):
    """A model whose weights went NaN (as `lr = inf` once trained) outputs NaN logits."""
    import torch

    import kwslab.evaluation.clips

    monkeypatch.setattr(kwslab.evaluation.clips, "predict_logits",
                        lambda model, x: torch.full((len(x), 3), float("nan")))
    status, out, err = run(capsys, "predict", tone_run, folder / "a.wav", "--json")
    assert status != 0 and out == ""
    assert len(err.strip().splitlines()) == 1 and "non-finite probabilities" in err

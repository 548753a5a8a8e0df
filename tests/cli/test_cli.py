"""The command line end to end, and its one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

KWSLAB = [sys.executable, "-m", "kwslab"]


def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    """Run the real ``python -m kwslab`` in a subprocess."""
    p = subprocess.run([*KWSLAB, *map(str, args)], capture_output=True, text=True, timeout=600,
                       env={**__import__("os").environ, "KWSLAB_PROGRESS": "0"})
    if ok:
        assert p.returncode == 0, p.stderr
    return p


def run_inproc(capsys, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    """Call ``kwslab.cli.main`` in this process (fast; same exit codes and output)."""
    from kwslab.cli import main

    code = 0
    try:
        main([str(a) for a in args])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    cap = capsys.readouterr()
    if ok:
        assert code == 0, cap.err
    return subprocess.CompletedProcess(args, code, cap.out, cap.err)


def assert_one_line_error(p: subprocess.CompletedProcess, text: str) -> None:
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], p.stderr
    assert "Traceback" not in p.stderr


def test_help_on_every_command(capsys):
    from kwslab.cli import _load_commands, app

    _load_commands()
    assert "train" in run_inproc(capsys, "--help").stdout
    names = [c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands]
    assert {"train", "evaluate", "predict"} <= set(names)
    for name in names:
        assert "Usage" in run_inproc(capsys, name, "--help").stdout
    for group in app.registered_groups:
        for cmd in group.typer_instance.registered_commands:
            sub = cmd.name or cmd.callback.__name__.replace("_", "-")
            assert "Usage" in run_inproc(capsys, group.name, sub, "--help").stdout


def test_train_evaluate_predict(tone_data, tmp_path):
    cfg = tmp_path / "tone.toml"
    cfg.write_text('base = "seed"\n[data]\nwords = ["low", "mid", "high"]\n'
                   "[model]\nneurons = 64\n[train]\nepochs = 5\n")
    out = tmp_path / "run"
    p = run("train", "--data", tone_data, "--config", cfg, "--out", out, "--seed", "3")
    assert "validation accuracy" in p.stdout and str(out) in p.stdout
    r = json.loads(run("evaluate", out, "--data", tone_data, "--json").stdout)
    assert {"accuracy", "loss", "n", "per_class", "confusion"} <= set(r) and r["n"] == 9
    assert (out / "eval_test.json").is_file()
    lines = run("predict", out, tone_data / "mid", "--top", "2", "--json").stdout.splitlines()
    assert len(lines) == 30 and len(json.loads(lines[0])["top"]) == 2
    assert "precision" in run("evaluate", out, "--data", tone_data, "--split", "all").stdout


@pytest.mark.parametrize("args,text", [
    (["train", "--data", "/nonexistent", "--out", "x"], "does not exist"),
    (["train", "--data", "{tone}", "--out", "x", "--config", "nope.toml"], "neither a preset"),
    (["train", "--data", "{tone}", "--out", "x", "--words", "low,zebra"], "zebra"),
    (["evaluate", "{tmp}", "--data", "{tone}"], "not a kwslab run folder"),
    (["data", "info", "/nonexistent"], "does not exist"),
    (["fetch-model", "--dest", "{tmp}/m", "--url", "http://127.0.0.1:9/ow.whl"],
     "cannot download"),
])
def test_bad_input_is_one_line(tone_data, tmp_path, args, text, capsys):
    args = [a.replace("{tone}", str(tone_data)).replace("{tmp}", str(tmp_path)) for a in args]
    assert_one_line_error(run_inproc(capsys, *args, ok=False), text)


def test_bad_input_in_a_real_process(tmp_path):
    assert_one_line_error(run("evaluate", tmp_path, "--data", tmp_path, ok=False),
                          "not a kwslab run folder")


def test_data_info_counts(tone_data, capsys):
    table = json.loads(run_inproc(capsys, "data", "info", tone_data, "--words", "low,mid,high",
                                  "--json").stdout)
    assert table["low"] == {"train": 24, "validation": 3, "test": 3}


def test_module_entry_point_exists():
    assert (Path(__file__).parents[2] / "src" / "kwslab" / "__main__.py").is_file()

"""The command line end to end, and its one-line errors for bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kwslab import artifacts as A

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


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` with its size and mtime (ns)."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


@pytest.mark.slow  # train, evaluate, predict and export, each in its own process
def test_train_evaluate_predict(tone_data, tmp_path):
    cfg = tmp_path / "tone.toml"
    cfg.write_text('base = "seed"\n[data]\nwords = ["low", "mid", "high"]\n'
                   "[model]\nneurons = 64\n[train]\nepochs = 5\n")
    out = tmp_path / "run"
    p = run("train", "--data", tone_data, "--config", cfg, "--out", out, "--seed", "3")
    assert "validation accuracy" in p.stdout and str(out) in p.stdout
    assert "test accuracy" not in p.stdout and not (out / A.EVAL_TEST).exists()  # not asked
    assert A.is_run(out) and (out / A.REPORT).is_file()
    assert "no test evaluation" in (out / A.REPORT).read_text()

    # evaluate writes nothing into the run folder, which may be read-only
    before = snapshot(out)
    os.chmod(out, 0o555)
    try:
        r = json.loads(run("evaluate", out, "--data", tone_data, "--json",
                           "--out", tmp_path / "eval.json").stdout)
    finally:
        os.chmod(out, 0o755)
    assert snapshot(out) == before
    assert json.loads((tmp_path / "eval.json").read_text()) == r
    assert {"accuracy", "loss", "n", "per_class", "confusion"} <= set(r) and r["n"] == 9
    assert r["accuracy"] >= 0.6 and sum(map(sum, r["confusion"])) == 9  # chance: 0.33
    lines = run("predict", out, tone_data / "mid", "--top", "2", "--json").stdout.splitlines()
    top = [json.loads(line) for line in lines]
    assert len(top) == 30 and all(len(t["top"]) == 2 for t in top)
    assert sum(t["label"] == "mid" for t in top) >= 20  # most mid tones are recognised
    assert "precision" in run("evaluate", out, "--data", tone_data, "--split", "all").stdout
    assert snapshot(out) == before

    # a finished run is replaced only with --overwrite, and then as a whole
    p = run("train", "--data", tone_data, "--config", cfg, "--out", out, ok=False)
    assert_one_line_error(p, "already holds a finished run; pass --overwrite")
    assert snapshot(out) == before
    p = run("train", "--data", tone_data, "--config", cfg, "--out", out, "--overwrite",
            "--eval-test", "--epochs", "2", "--no-report")
    ev = json.loads((out / A.EVAL_TEST).read_text())
    assert f"test accuracy {ev['accuracy']:.4f} (n=9)" in p.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [A.CARD, A.CONFIG, A.METRICS, A.WEIGHTS, A.MANIFEST, A.EVAL_TEST])  # old report gone
    assert json.loads((out / A.METRICS).read_text())["epochs_run"] == 2


@pytest.mark.parametrize("args,text", [
    (["train", "--data", "/nonexistent", "--out", "x"], "does not exist"),
    (["train", "--data", "{tone}", "--out", "x", "--config", "nope.toml"], "neither a preset"),
    (["train", "--data", "{tone}", "--out", "x", "--words", "low,zebra"], "zebra"),
    (["evaluate", "{tmp}", "--data", "{tone}"], "not a kwslab run folder"),
    (["train", "--data", "{tone}", "--out", "{tone}"], "holds other files"),  # the dataset!
    (["train", "--data", "{tone}", "--out", "x", "--teacher", "{tmp}/no"],
     "no such export folder"),
    (["train", "--data", "{tone}", "--out", "x", "--teacher", "{tone}"],
     "is not a kwslab export folder"),
    (["train", "--data", "{tone}", "--out", "x", "--config", "tcresnet-distill"],
     "add --teacher EXPORT"),
    (["train", "--data", "{tone}", "--out", "x", "--off-centre", "-1"],
     "data.off_centre_per_word must be >= 0 (0 = none), got -1.0"),
    (["data", "info", "/nonexistent"], "does not exist"),
    (["fetch-model", "--dest", "{tmp}/m", "--url", "http://127.0.0.1:9/ow.whl"],
     "cannot download"),
])
def test_bad_input_is_one_line(tone_data, tmp_path, args, text, capsys):
    args = [a.replace("{tone}", str(tone_data)).replace("{tmp}", str(tmp_path)) for a in args]
    assert_one_line_error(run_inproc(capsys, *args, ok=False), text)


def test_off_centre_keywords_train_as_unknown(tone_data, tmp_path, capsys):
    """--off-centre adds an _unknown_ class of keywords shifted to the window's edge, and the
    run's config says how many."""
    cfg = tmp_path / "tone.toml"
    cfg.write_text('base = "seed"\n[data]\nwords = ["low", "mid", "high"]\n'
                   "[model]\nneurons = 16\n[train]\nepochs = 1\n")
    out = tmp_path / "run"
    run_inproc(capsys, "train", "--data", str(tone_data), "--config", str(cfg), "--out",
               str(out), "--off-centre", "1", "--quiet", "--no-report")
    saved = json.loads((out / A.CONFIG).read_text())
    assert saved["config"]["data"]["off_centre_per_word"] == 1.0
    assert saved["labels"] == ["low", "mid", "high", "_unknown_"]


def test_bad_input_in_a_real_process(tmp_path):
    assert_one_line_error(run("evaluate", tmp_path, "--data", tmp_path, ok=False),
                          "not a kwslab run folder")


def test_data_info_counts(tone_data, capsys):
    table = json.loads(run_inproc(capsys, "data", "info", tone_data, "--words", "low,mid,high",
                                  "--json").stdout)
    assert table["low"] == {"train": 24, "validation": 3, "test": 3}


def test_module_entry_point_runs_the_cli():
    p = run("--help")
    for command in ("train", "evaluate", "predict", "export", "serve", "report"):
        assert command in p.stdout, command


@pytest.mark.parametrize("command", ["predict", "evaluate", "export", "serve"])
def test_edited_config_is_one_line_before_any_work(command, tone_run, tone_export, tone_data,
                                                   tmp_path, capsys):
    """An edited input_shape (run) or label count (export) is caught when the model loads."""
    run_dir, export = tmp_path / "run", tmp_path / "export"
    shutil.copytree(tone_run, run_dir)
    shutil.copytree(tone_export, export)
    for folder, key, value in ((run_dir, "input_shape", [40, 99]),
                               (export, "labels", ["low", "mid", "high", "x"])):
        meta = json.loads((folder / A.CONFIG).read_text())
        (folder / A.CONFIG).write_text(json.dumps({**meta, key: value}))
    args = {"predict": ["predict", run_dir, tone_data / "low"],
            "evaluate": ["evaluate", run_dir, "--data", tone_data],
            "export": ["export", run_dir, "--out", tmp_path / "e"],
            "serve": ["serve", export, "--port", "9"]}[command]
    assert_one_line_error(run_inproc(capsys, *args, ok=False),
                          "config.json changed since it was written")
    for folder in (run_dir, export):  # the same edit behind a rewritten manifest
        A.write_manifest(folder, A.read_manifest(folder).kind)
    text = "outputs 3 probabilities but config.json names 4 labels" if command == "serve" \
        else "input_shape [40, 99] is not the shape its features make"
    assert_one_line_error(run_inproc(capsys, *args, ok=False), text)
    assert not (tmp_path / "e").exists()


def test_file_system_errors_name_the_output_asked_for():
    """kwslab writes beside an output under a temporary name first; a refusal names the
    output the user gave, not that temporary name."""
    import errno

    from kwslab.cli import os_error

    def refused(path: str) -> str:
        return os_error(PermissionError(errno.EACCES, "Permission denied", path))

    assert refused("/runs/.export.tmp-24883") == "/runs/export: Permission denied"  # staged
    assert refused("/runs/.ev.json.25991.tmp") == "/runs/ev.json: Permission denied"  # atomic
    assert refused("/runs/.x.npy.7.tmp.npy") == "/runs/x.npy: Permission denied"
    assert refused("/runs/ro/.write-test.77") == "/runs/ro: Permission denied"  # a probe
    assert refused("/runs/model.json") == "/runs/model.json: Permission denied"
    assert refused("/runs/.export.tmp-24883/model.onnx") == \
        "/runs/export/model.onnx: Permission denied"  # inside a staged folder
    assert refused("/runs/.manifest.json.tmp") == "/runs/manifest.json: Permission denied"
    assert os_error(OSError(errno.ENOSPC, "No space left on device")) == \
        "No space left on device"

"""kwslab.artifacts: the manifest, writing a folder as one unit, and models checked on load."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from kwslab import artifacts as A
from kwslab.errors import ModelError


def test_manifest_lists_every_file_and_catches_changes(tmp_path):
    folder = tmp_path / "x"
    with A.staged(folder, A.RUN) as tmp:
        (tmp / "a.json").write_text("{}")
        (tmp / "b.bin").write_bytes(b"\0" * 10)
    m = A.verify(folder, A.RUN)
    assert sorted(m.files) == ["a.json", "b.bin"] and m.format_version == A.RUN_FORMAT
    assert m.files["b.bin"].size == 10 and len(m.files["b.bin"].sha256) == 64
    assert A.is_run(folder) and not A.is_export(folder) and not A.is_run(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["x"]  # no staging folder left

    (folder / "a.json").write_text("[]")  # same size, other bytes
    with pytest.raises(ModelError, match=r"a\.json changed since it was written"):
        A.verify(folder, A.RUN)
    (folder / "a.json").unlink()
    with pytest.raises(ModelError, match=r"a\.json is missing"):
        A.verify(folder, A.RUN)
    with pytest.raises(ModelError, match="is a run folder, not an export folder"):
        A.verify(folder, A.EXPORT)
    (folder / A.MANIFEST).write_text(json.dumps({"kind": "run", "format_version": 1,
                                                 "files": {}}))
    with pytest.raises(ModelError, match="run format 1 is not the format this kwslab reads"):
        A.verify(folder, A.RUN)
    (folder / A.MANIFEST).write_text("{not json")
    with pytest.raises(ModelError, match="unreadable manifest"):
        A.verify(folder, A.RUN)
    assert not A.is_run(folder)


def test_staged_keeps_the_old_folder_on_error_and_replaces_it_whole(tmp_path):
    out = tmp_path / "run"
    with A.staged(out, A.RUN) as tmp:
        (tmp / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), A.staged(out, A.RUN, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
        raise RuntimeError("killed halfway")
    assert sorted(p.name for p in out.iterdir()) == [A.MANIFEST, "old.txt"]
    with pytest.raises(ModelError, match="already holds a finished run; pass --overwrite"):
        A.staged(out, A.RUN).__enter__()
    with A.staged(out, A.RUN, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == [A.MANIFEST, "new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_staged_never_replaces_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ModelError, match="holds other files"):
        A.staged(tmp_path, A.EXPORT, overwrite=True).__enter__()
    assert (tmp_path / "notes.txt").read_text() == "mine"
    run = tmp_path / "run"
    with A.staged(run, A.RUN) as tmp:
        (tmp / "w").write_text("w")
    with pytest.raises(ModelError, match="holds a run folder"):
        A.staged(run, A.EXPORT, overwrite=True).__enter__()


def test_stale_staging_of_a_dead_writer_is_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".run.tmp-{dead.pid}"
    stale.mkdir()
    (stale / "half").write_text("x")
    with A.staged(tmp_path / "run", A.RUN) as tmp:
        (tmp / "w").write_text("w")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


# --- a model checked against its config -----------------------------------------------------

def _edit(folder: Path, forge: bool, **changes) -> None:
    """Change config.json; with ``forge`` also rewrite the manifest (a consistent-looking lie)."""
    path = folder / A.CONFIG
    meta = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    path.write_text(json.dumps(meta))
    if forge:
        A.write_manifest(folder, json.loads((folder / A.MANIFEST).read_text())["kind"])


def _one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_edited_run_config_is_one_line(tone_run, tmp_path):
    from kwslab.models.io import load_model

    run = tmp_path / "run"
    shutil.copytree(tone_run, run)
    _edit(run, False, input_shape=[40, 99])
    with pytest.raises(ModelError, match=r"config\.json changed since it was written") as e:
        load_model(run)
    _one_line(e)
    _edit(run, True)  # manifest rewritten: the shape check itself must catch it
    with pytest.raises(ModelError, match=r"input_shape \[40, 99\] is not the shape its "
                                         r"features make \(\[40, 101\]\)") as e:
        load_model(run)
    _one_line(e)
    _edit(run, True, input_shape=[40, 101], labels=["low", "mid", "high", "extra"])
    with pytest.raises(ModelError, match=r"has shape \(3, 64\) but config\.json \(4 labels") as e:
        load_model(run)
    _one_line(e)
    for key, text in (("labels", "'labels' must be a non-empty list"),
                      ("input_shape", "'input_shape' must be a list of positive integers")):
        shutil.rmtree(run)
        shutil.copytree(tone_run, run)
        _edit(run, True, **{key: None})
        with pytest.raises(ModelError, match=text) as e:
            load_model(run)
        _one_line(e)
    shutil.rmtree(run)
    shutil.copytree(tone_run, run)
    meta = json.loads((run / A.CONFIG).read_text())
    del meta["config"]["features"]
    _edit(run, True, config=meta["config"])
    with pytest.raises(ModelError, match=r"missing 'config\.features'") as e:
        load_model(run)
    _one_line(e)
    (run / A.CONFIG).write_bytes(b"\xff\xfe garbage")
    A.write_manifest(run, A.RUN)
    with pytest.raises(ModelError, match="unreadable") as e:
        load_model(run)
    _one_line(e)


def test_edited_export_config_is_one_line(tone_export, tmp_path):
    from kwslab.runtime import Recognizer

    export = tmp_path / "export"
    shutil.copytree(tone_export, export)
    _edit(export, True, labels=["low", "mid", "high", "extra"])
    with pytest.raises(ModelError, match="outputs 3 probabilities but config.json names 4") as e:
        Recognizer.load(export)
    _one_line(e)
    meta = json.loads((tone_export / A.CONFIG).read_text())
    _edit(export, True, labels=meta["labels"],
          features={**meta["features"], "n_mels": 32})
    with pytest.raises(ModelError, match=r"takes features of shape \[40, 101\] but config.json's "
                                         r"features make \[32, 101\]") as e:
        Recognizer.load(export)
    _one_line(e)
    _edit(export, True, features=meta["features"],
          input={**meta["input"], "shape": ["batch", 40, 99]})
    with pytest.raises(ModelError, match="input shape .* does not match its features") as e:
        Recognizer.load(export)
    _one_line(e)


# --- kill -9 while an export replaces another -------------------------------------------------

# The swap follows the manifest within microseconds; to kill in that window the child
# pauses just before it (``hold``), as a slow disk would.
HOLD = """
import sys, time
from kwslab import artifacts
if sys.argv[-1] == "hold":
    swap = artifacts._replace_dir
    artifacts._replace_dir = lambda new, out: (time.sleep(120), swap(new, out))
"""
EXPORT_SCRIPT = HOLD + """
from kwslab.export import export_onnx
export_onnx(sys.argv[1], sys.argv[2], int8=True)
"""
TRAIN_SCRIPT = HOLD + """
from dataclasses import replace
sys.path.insert(0, sys.argv[3])
from tones import TONE_CONFIG
from kwslab.training import train
cfg = replace(TONE_CONFIG, train=replace(TONE_CONFIG.train, epochs=1))
train(cfg, sys.argv[1], sys.argv[2], progress=False, overwrite=True)
"""


@pytest.fixture(scope="module")
def two_word_run(tone_data, tmp_path_factory):
    """A run with other labels than ``tone_run``: its export must never meet the other's."""
    from tones import TONE_CONFIG

    from kwslab.training import train

    cfg = replace(TONE_CONFIG, data=replace(TONE_CONFIG.data, words=("low", "high")),
                  train=replace(TONE_CONFIG.train, epochs=2))
    out = tmp_path_factory.mktemp("runs2") / "two"
    train(cfg, tone_data, out, progress=False)
    return out


def _check_whole(out: Path, choices: list[list[str]], int8: bool = True) -> list[str]:
    """``out`` is a complete export with one of the label sets; return its labels."""
    from kwslab.runtime import Recognizer

    A.verify(out, A.EXPORT)
    rec = Recognizer.load(out)  # checks labels against the graph's output size
    assert rec.labels in choices
    assert rec.session.get_outputs()[0].shape[-1] == len(rec.labels)
    if int8:
        assert Recognizer.load(out, int8=True).labels == rec.labels
    return rec.labels


def _staging(out: Path) -> Path | None:
    return next(out.parent.glob(f".{out.name}.tmp-*"), None)


def _kill_at(args: list[str], out: Path, moment: str) -> bool:
    """Run ``python -c ARGS`` and SIGKILL it once ``moment`` (a file in its staging folder,
    or "staging" for the folder itself) appears; False if it finished first."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "KWSLAB_PROGRESS": "0"}
    proc = subprocess.Popen([sys.executable, "-c", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    killed = False
    while time.monotonic() < deadline and proc.poll() is None:
        tmp = _staging(out)
        if tmp is not None and (moment == "staging" or (tmp / moment).exists()):
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.001)
    proc.wait(timeout=60)
    assert killed or proc.returncode == 0, proc.stderr.read().decode()[-2000:]
    return killed


@pytest.mark.parametrize("moment", ["staging", A.FP32, A.INT8, A.CONFIG, A.MANIFEST])
def test_killed_export_leaves_the_old_or_the_new(tone_export, two_word_run, tmp_path, moment):
    old = ["low", "mid", "high"]
    new = ["low", "high"]
    out = tmp_path / "export"
    shutil.copytree(tone_export, out)
    hold = "hold" if moment == A.MANIFEST else "run"
    killed = _kill_at([EXPORT_SCRIPT, str(two_word_run), str(out), hold], out, moment)
    labels = _check_whole(out, [old, new])
    if killed and moment != A.CONFIG:  # before the swap: the old export, untouched
        assert labels == old
    assert killed or moment == A.CONFIG  # (config.json to swap is short: it may finish)
    files = {p.name for p in out.iterdir()}
    assert files == set(A.verify(out, A.EXPORT).files) | {A.MANIFEST}  # nothing extra
    # the next export cleans up after the killed one and succeeds
    from kwslab.export import export_onnx

    export_onnx(two_word_run, out)
    assert _check_whole(out, [new], int8=False) == new
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]
    assert A.INT8 not in {p.name for p in out.iterdir()}  # no stale int8 from before


@pytest.mark.parametrize("moment", ["staging", A.MANIFEST])
def test_killed_training_leaves_the_old_run(tone_run, tone_data, tmp_path, moment):
    from kwslab.models.io import load_model

    out = tmp_path / "run"
    shutil.copytree(tone_run, out)
    (out / A.EVAL_TEST).write_text("{}")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    hold = "hold" if moment == A.MANIFEST else "run"
    conftest_dir = str(Path(__file__).parent)
    assert _kill_at([TRAIN_SCRIPT, str(tone_data), str(out), conftest_dir, hold], out, moment)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    load_model(out)

"""A sub-folder of the dataset that cannot be listed (permissions), or a split list that cannot
be read, printed a traceback. Now it is one line naming the folder or file and the fix.

Root reads everything whatever the mode bits say, so under root the real check runs the CLI as
``nobody`` (``setpriv``); the monkeypatched test covers the same code path everywhere."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from cli_run import run
from tones import make_tone_dataset

from kwslab.config import DataConfig
from kwslab.data import load_clips
from kwslab.data.checks import dataset_problems


def deny(monkeypatch, folder: Path) -> None:
    """Make listing ``folder`` fail as a folder without read permission does."""
    real = Path.iterdir

    def iterdir(self):
        if self == folder:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)


@pytest.fixture
def data(tmp_path):
    root = make_tone_dataset(tmp_path / "data", per_speaker=1, speakers=4)
    (root / "other").mkdir()
    return root


@pytest.mark.parametrize("folder", ["other", "low"])
def test_a_word_folder_that_cannot_be_listed(data, monkeypatch, capsys, folder):
    deny(monkeypatch, data / folder)
    code, out, err = run(capsys, "data", "info", data, "--words", "low,mid")
    assert code == 2 and "Traceback" not in err, err
    assert err == (f"error: {data / folder}: cannot list this folder (Permission denied); fix "
                   "its permissions or move it out of the dataset\n")


def test_unlistable_noise_folder_is_a_warning_unless_silence_needs_it(data, monkeypatch, capsys):
    deny(monkeypatch, data / "_background_noise_")
    code, out, err = run(capsys, "data", "info", data, "--words", "low,mid")
    assert code == 0, err
    assert err.startswith("warning: background noise unusable: ") and err.count("\n") == 1
    code, out, err = run(capsys, "data", "info", data, "--words", "low,mid", "--silence")
    assert code == 2 and err.count("\n") == 1 and "cannot list this folder" in err, err


def test_a_list_file_that_is_not_text(data, capsys):
    (data / "testing_list.txt").write_bytes(b"\xff\xfe\x00\x01")
    code, out, err = run(capsys, "data", "info", data, "--words", "low")
    assert err == (f"error: {data / 'testing_list.txt'}: cannot be read (not UTF-8 text); it "
                   "should list one word/file.wav per line\n") and code == 2


def test_clean_data_has_no_noise_problem(data):
    clips = load_clips(data, DataConfig(words=("low", "mid")))
    assert dataset_problems(data, clips) == []


@pytest.fixture
def shared_data():
    """A dataset in a folder other users can enter (pytest's tmp folders are root-only)."""
    top = Path(tempfile.mkdtemp(prefix="kwslab-perm-"))
    top.chmod(0o755)
    yield make_tone_dataset(top / "data", per_speaker=1, speakers=4)
    shutil.rmtree(top)


def as_other_user(*args) -> subprocess.CompletedProcess:
    prefix = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: no way to drop read rights")
        prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    return subprocess.run([*prefix, sys.executable, "-m", "kwslab", *map(str, args)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "KWSLAB_PROGRESS": "0", "HOME": "/tmp"})


def test_real_permissions(shared_data):
    (shared_data / "high").chmod(0o000)
    (shared_data / "validation_list.txt").chmod(0o000)
    p = as_other_user("data", "info", shared_data, "--words", "low,mid")
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert p.stderr == (f"error: {shared_data / 'high'}: cannot list this folder (Permission "
                        "denied); fix its permissions or move it out of the dataset\n")
    (shared_data / "high").chmod(0o755)
    p = as_other_user("data", "info", shared_data, "--words", "low,mid")
    assert p.returncode == 2 and p.stderr == (
        f"error: {shared_data / 'validation_list.txt'}: cannot be read (Permission denied); it "
        "should list one word/file.wav per line\n"), p.stderr

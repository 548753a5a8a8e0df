"""Running for real: kill -9 and resume, two workers on PostgreSQL, unreachable storage."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from optuna.trial import TrialState

from kwslab.search.storage import load_study, open_storage


def _study(url: str, name: str):
    return load_study(url, name)


@pytest.mark.parametrize("storage", ["sqlite", "journal"])
def test_kill_9_then_rerun_continues_and_fails_the_stale_trial(tone_data, tone_files, kwslab,
                                                               tmp_path, storage):
    space, cfg = tone_files(epochs=20)  # long enough to be caught mid-trial
    out = tmp_path / "tune"
    url = f"sqlite:///{(out / 'study.db').resolve()}" if storage == "sqlite" else \
        f"journal://{tmp_path / 'study.log'}"
    cmd = kwslab("tune", "--data", str(tone_data), "--method", "random", "--space", str(space),
                 "--config", str(cfg), "--trials", "1", "--heartbeat", "1", "--seed", "1",
                 "--out", str(out), "--quiet", *(["--storage", url] if storage == "journal"
                                                 else []))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killed, study = None, None
    deadline = time.time() + 120
    while killed is None and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
        if study is None:
            if not (out / "search.json").exists():
                continue
            study = _study(url, "random")
        running = [t for t in study.get_trials(states=(TrialState.RUNNING,))
                   if t.user_attrs.get("epochs_run", 0) >= 1]
        if running:
            os.kill(proc.pid, signal.SIGKILL)
            killed = running[0].number
    proc.wait()
    assert killed is not None, proc.stderr.read().decode()
    state = {t.number: t.state for t in _study(url, "random").get_trials()}
    assert state[killed] == TrialState.RUNNING  # dead, but nobody knows yet

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    trials = _study(url, "random").get_trials()
    by_number = {t.number: t for t in trials}
    assert by_number[killed].state == TrialState.FAIL
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    finished = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(finished) == 1  # the budget, not counting the lost trial
    retry = [t for t in trials if t.user_attrs.get("retry_of") == killed]
    assert retry and retry[0].params == by_number[killed].params
    assert (out / "best" / "model.safetensors").is_file()
    assert "trials" in done.stdout


@pytest.mark.postgres
def test_two_workers_share_a_postgresql_study(tone_data, tone_files, kwslab, postgres_url,
                                              tmp_path):
    space, cfg = tone_files(epochs=2)
    cmd = kwslab("tune", "--data", str(tone_data), "--method", "bayesian", "--space", str(space),
                 "--config", str(cfg), "--trials", "6", "--workers", "2",
                 "--storage", postgres_url, "--study", "shared", "--out", str(tmp_path / "t"),
                 "--quiet")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    trials = _study(postgres_url, "shared").get_trials()
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)) == len(trials)
    assert sorted(numbers) == list(range(len(trials)))
    ran = [t for t in trials if t.user_attrs.get("budget") == "run"]
    assert len(ran) == 6 and all(t.state == TrialState.COMPLETE for t in ran)
    over = [t for t in trials if t.user_attrs.get("budget") == "over"]
    assert len(over) + len(ran) == len(trials)  # extra trials closed at once, none lost
    assert len({t.user_attrs["worker"] for t in ran}) == 2  # both processes trained
    assert (tmp_path / "t" / "trials.csv").read_text().count("\n") == 7


def test_unreachable_storage_fails_fast_with_one_line(tone_data, tone_files, kwslab, tmp_path):
    space, cfg = tone_files(epochs=1)
    done = subprocess.run(kwslab("tune", "--data", str(tone_data), "--method", "random",
                                 "--space", str(space), "--config", str(cfg), "--trials", "1",
                                 "--storage", "postgresql://kw@127.0.0.1:1/x",
                                 "--out", str(tmp_path / "t")),
                          capture_output=True, text=True, timeout=120)  # a hang fails here
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot open storage postgresql://")
    assert "127.0.0.1:1" in lines[0]
    assert not (tmp_path / "t").exists()  # a refused search leaves no folder behind


def test_storage_error_in_the_library():
    import pytest

    from kwslab.search import SearchError

    with pytest.raises(SearchError, match="cannot open storage"):
        open_storage("notadb://x")

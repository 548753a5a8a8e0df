"""Storage files: Optuna's journal (two workers, a read-only path) and SQLite's mode."""

from __future__ import annotations

import json
import subprocess

from optuna.trial import TrialState

from kwslab.search.storage import load_study, storage_url


def test_two_workers_share_a_journal_file(tone_data, tone_files, kwslab, tmp_path):
    space, cfg = tone_files(epochs=2)
    journal = tmp_path / "shared" / "study.log"
    url = f"journal://{journal}"
    assert url.startswith("journal:///")
    cmd = kwslab("tune", "--data", str(tone_data), "--method", "random", "--space", str(space),
                 "--config", str(cfg), "--trials", "6", "--workers", "2", "--storage", url,
                 "--study", "shared", "--out", str(tmp_path / "t"), "--quiet")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert journal.stat().st_size > 0 and not (tmp_path / "t" / "study.db").exists()
    trials = load_study(url, "shared").get_trials()
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials)))
    ran = [t for t in trials if t.user_attrs.get("budget") == "run"]
    assert len(ran) == 6 and all(t.state == TrialState.COMPLETE for t in ran)
    over = [t for t in trials if t.user_attrs.get("budget") == "over"]
    assert len(over) + len(ran) == len(trials)  # extra trials closed at once, none lost
    assert len({t.user_attrs["worker"] for t in ran}) == 2  # both processes trained
    assert json.loads((tmp_path / "t" / "search.json").read_text())["storage"] == url
    assert (tmp_path / "t" / "best" / "model.safetensors").is_file()


def test_a_relative_journal_path_is_stored_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert storage_url("journal://runs/s.log", "out") == f"journal://{tmp_path}/runs/s.log"


def test_a_journal_on_a_read_only_path_is_one_line(tone_data, tone_files, kwslab, tmp_path):
    space, cfg = tone_files(epochs=1)
    done = subprocess.run(kwslab("tune", "--data", str(tone_data), "--method", "random",
                                 "--space", str(space), "--config", str(cfg), "--trials", "1",
                                 "--storage", "journal:///proc/kwslab/s.log",
                                 "--out", str(tmp_path)),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: cannot open storage journal:///proc/kwslab/s.log")
    assert "not writable" in lines[0]


def test_a_sqlite_study_commits_without_waiting_for_the_disk(tmp_path):
    import sqlite3

    import optuna

    from kwslab.search.storage import open_storage

    db = tmp_path / "study.db"
    storage = open_storage(f"sqlite:///{db}")
    study = optuna.create_study(storage=storage, study_name="s")
    study.add_trial(optuna.trial.create_trial(value=0.5, intermediate_values={1: 0.5}))
    with sqlite3.connect(db) as con:  # the write-ahead log is a property of the file
        assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    with storage.engine.connect() as con:  # each connection syncs at checkpoints only
        assert con.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    assert len(study.trials) == 1

"""A storage password is used but never written to disk."""

from __future__ import annotations

import json

import pytest

from kwslab.search.storage import PASSWORD_ENV, config_from_trial, with_password, without_password
from kwslab.search.study import Budget, run_search


def test_the_password_is_taken_out_and_put_back(monkeypatch):
    url = "postgresql://kw:s3cr%40t@db.example:5433/kws"
    assert without_password(url) == "postgresql://kw@db.example:5433/kws"
    assert without_password("sqlite:////tmp/a.db") == "sqlite:////tmp/a.db"
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    assert with_password("postgresql://kw@db.example/kws") == "postgresql://kw@db.example/kws"
    monkeypatch.setenv(PASSWORD_ENV, "p@ss")
    assert with_password("postgresql://kw@db.example/kws") == "postgresql://kw:p%40ss@db.example/kws"
    assert with_password(url) == url  # a password given in the URL wins
    assert with_password("sqlite:////tmp/a.db") == "sqlite:////tmp/a.db"


@pytest.mark.postgres
def test_search_json_and_outputs_hold_no_password(tone_data, tone_space, postgres_url, tmp_path):
    secret = "s3cretPW"
    url = postgres_url.replace("postgres@", f"postgres:{secret}@")  # trust auth ignores it
    out = tmp_path / "t"
    run_search(tone_data, out, method="random", budget=Budget(trials=1),
               space=tone_space(epochs=1), storage=url, study_name="secret", workers=1,
               progress=False)
    saved = json.loads((out / "search.json").read_text())
    assert saved["storage"] == postgres_url
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) > 5
    assert not [p for p in files if secret.encode() in p.read_bytes()]
    # resuming from the folder works without the password on disk
    assert config_from_trial(f"{out}:0").train.epochs == 1

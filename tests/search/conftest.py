"""Search fixtures: tone-data search spaces and a throwaway PostgreSQL cluster."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from kwslab.search.space import SearchSpace, parse_space

TONE_SPACE = """
base = "seed"
repeats = 2
order = ["train.lr"]

[fixed]
"train.epochs" = {epochs}
"train.patience" = 0

[params]
"train.lr" = {{ choices = [1e-7, 3e-3] }}
"model.neurons" = {{ choices = [8, 16, 32, 64] }}
"""


@pytest.fixture
def tone_space(tone_config):
    """Make a small space over the tone config: a useless and a good learning rate, 4 widths."""
    from dataclasses import replace

    def make(epochs: int = 2) -> SearchSpace:
        base = replace(tone_config, train=replace(tone_config.train, threads=1))
        return parse_space(TONE_SPACE.format(epochs=epochs), "tone.toml", base=base)

    return make


@pytest.fixture
def tone_files(tone_config, tmp_path):
    """(space file, config file) of the tone space, for the command line."""
    import json

    from kwslab.config import to_dict

    def make(epochs: int = 2) -> tuple[Path, Path]:
        space, cfg = tmp_path / "tone.toml", tmp_path / "tone.json"
        space.write_text(TONE_SPACE.format(epochs=epochs))
        data = to_dict(tone_config)
        data["train"]["threads"] = 1
        cfg.write_text(json.dumps({"config": data}))
        return space, cfg

    return make


def kwslab_cmd(*args: str) -> list[str]:
    """The kwslab command line of this interpreter."""
    return [sys.executable, "-c", "from kwslab.cli import main; main()", *args]


@pytest.fixture
def kwslab():
    """Build a ``kwslab ...`` command line for subprocess (this interpreter)."""
    return kwslab_cmd


@pytest.fixture
def cli(capsys):
    """Run ``kwslab ARGS`` in this process; return (exit status, stdout, stderr)."""
    from kwslab.cli import main

    def run(*args) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as done:
            main([str(a) for a in args])
        got = capsys.readouterr()
        return done.value.code or 0, got.out, got.err

    return run


def _pg_bindir() -> Path:
    candidates = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for d in candidates:
        if d and (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists():
            return Path(d)
    pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) not found: .ci/run installs the "
                "Debian package `postgresql` (apt-get install -y postgresql)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL cluster on a free port; yields a SQLAlchemy URL to a fresh DB."""
    bindir = _pg_bindir()
    # Not under pytest's tmp folder: the server's user must be able to reach its folder.
    root = Path(tempfile.mkdtemp(prefix="kwslab-pg-"))
    data = root / "data"
    port = _free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(root, "postgres")
        os.chmod(root, 0o700)
        as_user = ["runuser", "-u", "postgres", "--"]
    _run([*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
          "--no-sync"])
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    _run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-w",
          "-l", str(root / "log"), "start"])
    try:
        import psycopg2

        for _ in range(50):
            try:
                conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres",
                                        dbname="postgres")
                break
            except psycopg2.OperationalError:
                time.sleep(0.2)
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE kwslab")
        conn.close()
        yield f"postgresql://postgres@127.0.0.1:{port}/kwslab"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        pytest.fail(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr or done.stdout}")

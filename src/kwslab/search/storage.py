"""Where studies live: a SQLite file by default, any SQLAlchemy URL (PostgreSQL first) to share.

A password in a URL is used but never written to disk: ``search.json`` keeps the URL without
it. Later commands (``--from-trial``, a re-run) take it from ``$KWSLAB_STORAGE_PASSWORD``, or
let the PostgreSQL client find it in ``$PGPASSWORD`` or ``~/.pgpass``.

Every trial sends a heartbeat while it runs. A worker that starts (or waits) marks the trials
whose heartbeat stopped as failed and queues their parameters again, so a study killed with
``kill -9`` continues when the same command runs again.
"""

from __future__ import annotations

import contextlib
import functools
import time
import warnings
from pathlib import Path

from kwslab.artifacts import SEARCH_JSON
from kwslab.config import RunConfig, run_config_from_dict
from kwslab.errors import SearchError

HEARTBEAT = 10  # seconds between a running trial's heartbeats
GRACE = 3  # heartbeats missed before a running trial counts as dead
CONNECT_TIMEOUT = 5  # seconds to reach a database server
PASSWORD_ENV = "KWSLAB_STORAGE_PASSWORD"  # password for a storage URL written without one
JOURNAL = "journal://"  # journal:///ABS/PATH.log: Optuna's journal file, no server needed


def storage_url(storage: str | None, out: str | Path) -> str:
    """``storage`` as given (a journal path made absolute), or the SQLite file ``OUT/study.db``."""
    if storage and storage.startswith(JOURNAL):
        return JOURNAL + str(Path(storage.removeprefix(JOURNAL)).resolve())
    if storage:
        return storage
    return f"sqlite:///{(Path(out) / 'study.db').resolve()}"


def redact(url: str) -> str:
    """The URL with any password hidden (for messages)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL sqlalchemy understands: say so later, show it as given
        return url


def without_password(url: str) -> str:
    """The URL with any password removed (what may be written to disk)."""
    try:
        from sqlalchemy.engine import URL, make_url

        parsed = make_url(url)
    except Exception:  # not a URL sqlalchemy understands: it holds no password it could read
        return url
    if parsed.password is None:
        return url
    bare = URL.create(parsed.drivername, username=parsed.username, host=parsed.host,
                      port=parsed.port, database=parsed.database, query=parsed.query)
    return bare.render_as_string(hide_password=False)


def with_password(url: str) -> str:
    """The URL with ``$KWSLAB_STORAGE_PASSWORD`` filled in, if it has a user and no password."""
    import os

    secret = os.environ.get(PASSWORD_ENV)
    if not secret or not url.startswith(("postgresql", "mysql")):
        return url
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.password is not None or not parsed.username:
        return url
    return parsed.set(password=secret).render_as_string(hide_password=False)


def open_journal(url: str, heartbeat: int = HEARTBEAT):
    """Optuna's JournalStorage on the file of ``journal://PATH`` (any shared file system).

    Workers take turns through a lock file beside it. Running trials write a heartbeat (a
    timestamp in the journal) every ``heartbeat`` seconds, as they do in SQLite and PostgreSQL,
    so a trial whose worker was killed is failed and its parameters queued again by the next
    run. The workers' clocks must agree to within a few heartbeats.
    """
    import os

    from optuna.storages.journal import JournalFileBackend

    path = Path(url.removeprefix(JOURNAL))
    if not path.name or path.is_dir():
        raise SearchError(f"--storage {url}: give a file, e.g. journal:///shared/study.log")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab"):
            pass
        if not os.access(path.parent, os.W_OK):  # the lock file goes beside the journal
            raise PermissionError(13, "Permission denied", str(path.parent))
    except OSError as e:
        raise SearchError(f"cannot open storage {url}: {e.filename or path} is not writable "
                          f"({e.strerror}); give a journal file in a writable folder") from e
    _check_journal(path, url)
    return _heartbeat_journal()(JournalFileBackend(str(path)), heartbeat)


JOURNAL_LINES_CHECKED = 100


def _check_journal(path: Path, url: str) -> None:
    """Refuse a file that is not an Optuna journal before Optuna appends to it (it would read
    it only when a study is created, and fail there with a traceback). Each finished line is
    one JSON object; an unfinished last line is a write cut short, which Optuna skips. The
    first lines decide (a long study's journal is not read twice)."""
    import json
    from itertools import islice

    with open(path, "rb") as f:
        for number, line in enumerate(islice(f, JOURNAL_LINES_CHECKED), 1):
            if not line.endswith(b"\n"):
                break
            try:
                ok = isinstance(json.loads(line), dict)
            except ValueError:
                ok = False
            if not ok:
                raise SearchError(f"cannot open storage {url}: {path} is not an Optuna journal "
                                  f"(line {number} is not a journal entry); give another file")


BEAT_ATTR = "kwslab:heartbeat"  # a running trial's last heartbeat (Unix time) in a journal


@functools.cache
def _heartbeat_journal():
    # Optuna runs heartbeats for storages that implement BaseHeartbeat (its documented way to
    # add them to a backend); the class is not exported, hence the private module.
    from optuna.storages._heartbeat import BaseHeartbeat
    from optuna.storages.journal import JournalStorage
    from optuna.trial import TrialState

    class HeartbeatJournal(JournalStorage, BaseHeartbeat):
        """A journal whose running trials beat; silent ones are stale after ``GRACE`` beats."""

        def __init__(self, backend, interval: int) -> None:
            super().__init__(backend)
            self.interval = interval

        def record_heartbeat(self, trial_id: int) -> None:
            from optuna.exceptions import UpdateFinishedTrialError

            # another worker may have failed it as stale meanwhile: nothing left to beat for
            with contextlib.suppress(UpdateFinishedTrialError):
                self.set_trial_system_attr(trial_id, BEAT_ATTR, time.time())

        def _get_stale_trial_ids(self, study_id: int) -> list[int]:
            now = time.time()
            stale = []
            for t in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
                start = t.datetime_start.timestamp() if t.datetime_start else now
                if now - float(t.system_attrs.get(BEAT_ATTR, start)) > self.interval * GRACE:
                    stale.append(t._trial_id)
            return stale

        def get_heartbeat_interval(self) -> int | None:
            return self.interval

        def get_heartbeat_stale_trial_callback(self):
            return requeue_stale

    return HeartbeatJournal


def open_storage(url: str, *, heartbeat: int = HEARTBEAT):
    """An Optuna storage for ``url``, failing within seconds if it is unreachable.

    ``journal://PATH`` is a journal file; anything else an RDBStorage with heartbeats.
    """
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    if url.startswith(JOURNAL):
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        return open_journal(url, heartbeat)

    engine: dict = {}
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///"):
            folder = Path(url.removeprefix("sqlite:///")).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise SearchError(f"cannot open storage {url}: cannot create {folder} "
                                  f"({e.strerror}); give a writable path") from e
        engine = {"connect_args": {"timeout": 60}}  # several workers queue for the file lock
    elif url.startswith(("postgresql", "mysql")):
        engine = {"connect_args": {"connect_timeout": CONNECT_TIMEOUT}, "pool_pre_ping": True}
    given, url = url, _with_driver(with_password(url))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    try:
        storage = optuna.storages.RDBStorage(
            url, engine_kwargs=engine, heartbeat_interval=heartbeat,
            grace_period=heartbeat * GRACE, heartbeat_stale_trial_callback=requeue_stale)
    except (SQLAlchemyError, ImportError, ValueError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "password" in first.lower():
            first += f" (give the password in ${PASSWORD_ENV}, $PGPASSWORD or ~/.pgpass)"
        raise SearchError(f"cannot open storage {redact(given)}: {first}") from e
    if url.startswith("sqlite"):
        _write_ahead(storage.engine)
    return storage


def _write_ahead(engine) -> None:
    """SQLite in write-ahead-log mode, synced to disk at checkpoints rather than each commit.

    A trial commits a few dozen small rows (parameters, attributes, a value per epoch); in the
    default mode each commit waits for the disk, about as long as a short epoch (15-30 ms
    measured on a loaded 2-core box, 4 ms in this mode). A crash may lose the last commits,
    never the file (a lost trial is failed and retried like a killed one).
    """
    from sqlalchemy import event

    def pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(engine, "connect", pragmas)
    engine.dispose()  # connections opened before the hook: closed, reopened with it


def _with_driver(url: str) -> str:
    """``postgresql://`` with the driver that is installed (SQLAlchemy 2.1 assumes psycopg 3)."""
    import importlib.util

    if url.startswith("postgresql://") and importlib.util.find_spec("psycopg") is None:
        if importlib.util.find_spec("psycopg2") is not None:
            return "postgresql+psycopg2://" + url.removeprefix("postgresql://")
        raise SearchError("PostgreSQL storage needs a driver: pip install 'kwslab[postgres]'")
    return url


def requeue_stale(study, trial) -> None:
    """Heartbeat-stale trial callback: queue the dead trial's parameters again (not manual's)."""
    if "manual_key" in trial.user_attrs or trial.user_attrs.get("budget") != "run":
        return
    study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})


def load_study(storage: str, name: str):
    """An existing study, or a SearchError listing the study names the storage holds."""
    import optuna

    store = open_storage(storage)
    try:
        return optuna.load_study(study_name=name, storage=store)
    except KeyError as e:
        names = [s.study_name for s in optuna.get_all_study_summaries(store)]
        raise SearchError(f"no study {name!r} in {redact(storage)}; studies: "
                          f"{', '.join(names) or 'none'}") from e


def resolve_study(spec: str) -> tuple[str, str]:
    """(storage URL, study name) of ``OUT_DIR`` (a tune --out folder) or ``URL#STUDY``."""
    if "#" in spec:
        url, name = spec.rsplit("#", 1)
        return url, name
    info = read_search_info(Path(spec))
    if info is None:
        raise SearchError(f"{spec}: not a tune output folder (no {SEARCH_JSON}); "
                          f"give STORAGE_URL#STUDY_NAME instead")
    return info["storage"], info["study"]


def read_search_info(folder: Path, advice: str = "run tune again or give STORAGE_URL#STUDY_NAME"
                     ) -> dict | None:
    """A tune folder's ``search.json`` (storage URL, study name, method, ...), its ``storage``
    and ``study`` checked to be strings; None where the folder has none. ``advice`` ends the
    one-line error for a broken file."""
    from kwslab.utils.io import read_json

    info = folder / SEARCH_JSON
    if not info.is_file():
        return None
    try:
        data = read_json(info)
        url, name = data["storage"], data["study"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SearchError(f"{info}: unreadable or not written by tune ({type(e).__name__}: "
                          f"{e}); {advice}") from e
    if not isinstance(url, str) or not isinstance(name, str):
        raise SearchError(f"{info}: storage and study must be strings; {advice}")
    return data


def config_from_trial(spec: str) -> RunConfig:
    """The full RunConfig of a trial, from ``STUDY:N``.

    ``STUDY`` is a ``kwslab tune --out`` folder or ``STORAGE_URL#STUDY_NAME``; ``N`` is the
    trial number. ``kwslab train --from-trial`` uses this to retrain any trial alone.
    """
    study_spec, sep, number = spec.rpartition(":")
    if not sep or not number.isdigit():
        raise SearchError(f"--from-trial {spec!r}: expected STUDY:N (N a trial number), where "
                          f"STUDY is a tune --out folder or STORAGE_URL#STUDY_NAME")
    url, name = resolve_study(study_spec)
    study = load_study(url, name)
    trials = [t for t in study.get_trials(deepcopy=False) if t.number == int(number)]
    if not trials:
        raise SearchError(f"study {name!r} has no trial {number} (it has "
                          f"{len(study.get_trials(deepcopy=False))})")
    trial = trials[0]
    if trial.state.name == "FAIL":
        why = trial.user_attrs.get("error") or {"over": "closed: the budget was spent"}.get(
            trial.user_attrs.get("budget", ""), "its worker stopped")
        raise SearchError(f"trial {number} of {name!r} failed ({why.splitlines()[0]}); give a "
                          f"completed or pruned trial (trials.csv lists them)")
    cfg = trial.user_attrs.get("config")
    if cfg is None:
        raise SearchError(f"trial {number} of {name!r} never started training (no config)")
    return run_config_from_dict(cfg)

"""``run_search()``: a fair, resumable Optuna study over a search space.

Budgets are counted the same way for every method: trials started and not lost, wall time of
this command, and training epochs actually run (a pruned trial counts the epochs it ran). Each
trial claims its share of the budget before training, in trial-number order, so N workers on
one storage never overshoot: the trials beyond the budget are closed at once as failed with
``budget = "over"``. A trial whose epoch share is smaller than its configured epochs, or that
is still training when the time is up, stops at an epoch boundary and is recorded as pruned.

Trials are seeded from the study seed and their number, and the sampler is re-seeded the
same way before each trial: a seeded random or Hyperband study replays with any number of
workers, even across restarts; a Bayesian one (whose draws depend on the trials finished
before) replays with one worker.

With costs among the objectives (``accuracy,latency``) the study is multi-objective: the costs
are measured once a trial has trained, and the answer is a Pareto front
(:mod:`kwslab.search.pareto`); ``best/`` is its most accurate point.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kwslab.artifacts import holds_results
from kwslab.config import RunConfig, to_dict
from kwslab.errors import ConfigError, SearchError
from kwslab.search.budget import Budget, OverBudget, budget_state, claim, describe, study_totals
from kwslab.search.objectives import (
    ACCURACY,
    accuracy_of,
    directions,
    measure_costs,
    resolve_objectives,
)
from kwslab.search.pruning import hyperband_pruner
from kwslab.search.space import SearchSpace, load_space
from kwslab.search.storage import (
    HEARTBEAT,
    SEARCH_JSON,
    config_from_trial,
    open_storage,
    read_search_info,
    redact,
    storage_url,
    without_password,
)
from kwslab.utils.io import cleaned_on_error, write_json

METHODS = ("manual", "grid", "random", "hyperband", "bayesian")
SAMPLERS = ("tpe", "gp", "nsga2")
BEST = "best"  # the best trial's run folder inside --out

__all__ = ["METHODS", "Budget", "SearchResult", "best_trial", "config_from_trial",
           "run_search", "study_totals"]


@dataclass(frozen=True)
class _Job:
    """Everything a worker process needs (picklable)."""

    data: str
    out: str
    method: str
    space: SearchSpace
    budget: Budget
    storage: str
    study: str
    seed: int
    sampler: str
    heartbeat: int
    deadline: float | None  # time.time() at which the time budget ends
    workers: int
    objectives: tuple[str, ...] = (ACCURACY,)  # accuracy, then any costs to minimise

    @property
    def multi(self) -> bool:
        return len(self.objectives) > 1


@dataclass
class SearchResult:
    """What a search found and what it cost."""

    study: str
    storage: str
    out: Path
    best_number: int | None
    best_value: float | None  # validation accuracy of the best trial
    best_val_loss: float | None
    best_dir: Path | None  # run folder of the best trial (evaluate/predict accept it)
    trials: int  # completed + pruned
    epochs: int  # training epochs run
    seconds: float  # wall time, summed over the runs of this command on this study
    files: list[Path]
    objectives: tuple[str, ...] = (ACCURACY,)
    pareto: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # multi-objective


def run_search(data: str | Path, out: str | Path, *, method: str,
               space: SearchSpace | None = None, budget: Budget = Budget(),
               storage: str | None = None, study_name: str | None = None,
               workers: int | None = None, seed: int = 0, sampler: str = "tpe",
               heartbeat: int = HEARTBEAT, objectives: str | Sequence[str] | None = None,
               progress: bool = True, log: Callable[[str], None] | None = None) -> SearchResult:
    """Search ``space`` with ``method`` until the budget is spent; write the results to ``out``.

    Args:
        data: dataset folder or manifest that every trial trains on.
        out: folder for ``best/`` (a run folder), ``trials.csv``/``trials.json``, plots and
            ``search.json``; the SQLite study ``study.db`` too unless ``storage`` is given.
        method: manual, grid, random, hyperband or bayesian.
        space: the search space (default: the shipped ``seed`` space).
        budget: trials, seconds and/or epochs; random, hyperband and bayesian need one.
        storage: SQLAlchemy URL shared by all workers (default ``sqlite:///OUT/study.db``).
        study_name: default: the method's name. An existing study is continued, over the same
            space only (:func:`space_key`).
        workers: processes on this machine (default :func:`default_workers`); more can join
            from elsewhere with the same storage.
        seed: study seed; trial ``n`` trains with seed ``seed + n``.
        sampler: bayesian only: ``tpe``, ``gp`` (Gaussian process) or ``nsga2`` (NSGA-II,
            multi-objective by design).
        heartbeat: seconds between heartbeats; a trial silent for 3 of them is failed.
        objectives: ``accuracy`` and any of ``latency``, ``macs``, ``params`` (default: the
            space's); with costs the study is multi-objective and writes ``pareto.json`` and
            ``pareto.png``. ``manual`` picks by accuracy alone.
    """
    log = log or (lambda msg: None)
    space = space or load_space(None)
    if method not in METHODS:
        raise ConfigError(f"method {method!r} is not one of {', '.join(METHODS)}")
    if sampler not in SAMPLERS:
        raise ConfigError(f"sampler {sampler!r} is not one of {', '.join(SAMPLERS)}")
    goals = resolve_objectives(objectives, space.objectives, method, log)
    cores = usable_cores()
    if workers is None:  # no more workers than trials to run
        workers = max(1, min(default_workers(method, space), budget.trials or cores))
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if method == "manual" and workers > 1:
        raise ConfigError("manual fixes one parameter after another: it runs with --workers 1")
    if workers > cores:
        log(f"warning: --workers {workers} is more than the {cores} cores this process may use; "
            f"trials will share cores")
    if method == "grid" and budget.trials is None:
        budget = dataclasses.replace(budget, trials=space.grid_size())
    if method in ("random", "hyperband", "bayesian") and budget.empty():
        raise ConfigError(f"{method} needs a budget: --trials, --timeout and/or --max-epochs")
    for name, value in (("trials", budget.trials), ("timeout", budget.timeout),
                        ("max-epochs", budget.epochs)):
        if value is not None and value <= 0:
            raise ConfigError(f"--{name} must be positive, got {value}")
    _check_data(data, space, seed)  # an environment error must not spend the budget
    out = Path(out)
    name = study_name or method
    _check_out(out, method, name)
    url = storage_url(storage, out)
    if not space.base.train.threads:
        space = space.with_base(dataclasses.replace(space.base, train=dataclasses.replace(
            space.base.train, threads=trial_threads(workers))))
    deadline = time.time() + budget.timeout if budget.timeout else None
    job = _Job(str(data), str(out), method, space, budget, url, name, seed, sampler, heartbeat,
               deadline, workers, goals)
    with cleaned_on_error(out):  # a search its storage refuses leaves nothing
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SearchError(f"--out {out}: cannot create it ({e.strerror}); give a writable "
                              f"folder") from e
        study = _open(job)  # fails fast on a bad URL, before any worker starts
    write_json(out / SEARCH_JSON, {"storage": without_password(url), "study": name,
                                   "method": method, "seed": seed, "space": space.source})
    log(f"study {name!r} in {redact(url)}: {method}, budget {describe(budget)}"
        + (f", objectives {','.join(goals)}" if job.multi else ""))
    start = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    ready = [ctx.Event() for _ in range(1, workers)]
    procs = [ctx.Process(target=_worker_main, args=(job, i, ready[i - 1]), daemon=True)
             for i in range(1, workers)]
    for p in procs:
        p.start()
    for p, event in zip(procs, ready, strict=True):  # start together (imports take seconds)
        while p.is_alive() and not event.wait(0.5) and time.perf_counter() - start < 60:
            pass
    try:
        _work(job, 0, study, progress=progress)
    finally:
        for p in procs:
            p.join()
    bad = [p.exitcode for p in procs if p.exitcode]
    if bad:
        log(f"{len(bad)} worker process(es) exited with status {bad}")
    seconds = study.user_attrs.get("seconds", 0.0) + time.perf_counter() - start
    study.set_user_attr("seconds", seconds)
    return _finish(job, study, seconds, log)


def _check_out(out: Path, method: str, name: str) -> None:
    """A search goes on in its own folder only: never over another study's results, a run or
    an export (they would be mixed or replaced)."""
    if out.exists() and not out.is_dir():
        raise SearchError(f"--out {out} is a file; give a folder")
    prev = read_search_info(out, advice="give another --out")
    if prev is not None:
        prev_study, prev_method = prev["study"], prev.get("method", method)
        if (prev_study, prev_method) != (name, method):
            raise SearchError(f"--out {out} holds the {prev_method} search {prev_study!r}; a "
                              f"search continues there only with the same method and study: "
                              "give another --out")
    elif holds_results(out):
        raise SearchError(f"--out {out} holds a run or an export, not a search; give another "
                          "--out")


def _check_data(data: str | Path, space: SearchSpace, seed: int) -> None:
    """Raise DataError now, before any study or trial exists, if no trial could train."""
    from kwslab.data import load_clips
    from kwslab.data.speechcommands import select_split
    from kwslab.errors import DataError

    if not Path(data).exists():
        raise DataError(f"--data {data}: no such folder or manifest; check the path")
    clips = load_clips(data, space.base.data, seed=seed)
    for split in ("train", "validation"):
        if not select_split(clips, split):
            raise DataError(f"--data {data}: no {split} clips for "
                            f"{', '.join(space.base.data.words)}")


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def trial_threads(workers: int) -> int:
    """Torch threads of each trial when the space leaves them open: the cores shared out."""
    return max(1, usable_cores() // workers)


def default_workers(method: str, space: SearchSpace | None = None) -> int:
    """Workers on this machine: one per usable core when trials train on features computed
    once (one torch thread each beats two threads on one trial's small matrices), one per two
    cores when trials compute augmented features per batch (a batch thread beside torch).

    ``manual`` fixes one parameter after another, so it runs one worker.
    """
    if method == "manual":
        return 1
    if space is not None and not augments_per_batch(space):
        return usable_cores()
    return max(1, usable_cores() // 2)


def augments_per_batch(space: SearchSpace) -> bool:
    """Whether a trial of ``space`` may compute features of augmented audio for every batch
    (waveform augmentation without precomputed ``copies``), in a thread beside training."""
    a = space.base.train.augment
    searched = any(p.name.startswith("train.augment.") for p in space.params)
    active = bool(a.time_shift_ms or a.noise_prob or a.speed or a.gain_db or a.freq_masks
                  or a.time_masks or a.freq_warp)  # as Augmenter.active
    return searched or (active and not a.copies)


def _open(job: _Job):
    import optuna

    storage = open_storage(job.storage, heartbeat=job.heartbeat)
    study = optuna.create_study(storage=storage, study_name=job.study,
                                directions=directions(job.objectives),
                                load_if_exists=True, pruner=_pruner(job))
    if study.user_attrs.get("method", job.method) != job.method:
        raise SearchError(f"study {job.study!r} was run with method "
                          f"{study.user_attrs['method']!r}, not {job.method!r}; "
                          f"give another --study name")
    had = tuple(study.user_attrs.get("objectives", [ACCURACY]))
    if "method" in study.user_attrs and had != job.objectives:
        raise SearchError(f"study {job.study!r} was run with objectives {','.join(had)}, not "
                          f"{','.join(job.objectives)}; give another --study name")
    key = space_key(job.space)
    had_key = study.user_attrs.get("space_key")
    if "method" in study.user_attrs and had_key not in (None, key):
        raise SearchError(f"study {job.study!r} searched another space "
                          f"({study.user_attrs.get('space', 'unknown')}), not "
                          f"{job.space.source}; its trials and these cannot share one study: "
                          f"give another --out, or another --study name where the storage "
                          f"is shared")
    if "method" not in study.user_attrs:
        study.set_user_attr("method", job.method)
        study.set_user_attr("seed", job.seed)
        study.set_user_attr("objectives", list(job.objectives))
    if had_key is None:
        study.set_user_attr("space_key", key)
        study.set_user_attr("space", job.space.source)
    return study


def space_key(space: SearchSpace) -> str:
    """What makes two searches one: the parameters and their ranges, and the fixed base
    (its torch threads aside, which follow the workers). A study continues only over it."""
    base = dataclasses.replace(space.base, train=dataclasses.replace(space.base.train,
                                                                     threads=0))
    text = json.dumps({"params": [dataclasses.asdict(p) for p in space.params],
                       "base": to_dict(base)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _pruner(job: _Job):
    import optuna

    if job.method != "hyperband" or job.multi:  # Optuna prunes single-objective studies only
        return optuna.pruners.NopPruner()
    return hyperband_pruner(job.space)


def _sampler(job: _Job, number: int, worker: int):
    """A fresh sampler seeded by the study seed, the next trial number and the worker."""
    import optuna

    seed = job.seed * 100_003 + number + 7919 * worker
    if job.method == "grid":  # the seed fixes the grid's order: it must not change per trial
        return _GridSampler(job.space.grid(), seed=job.seed)
    if job.method == "bayesian":
        startup = _startup_trials(job)
        if job.sampler == "gp":
            return optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup)
        if job.sampler == "nsga2":  # generations as large as TPE's random start, at least 4
            return optuna.samplers.NSGAIISampler(seed=seed, population_size=max(4, startup))
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)
    # random, hyperband, manual (fixed params): a trial's draw depends on its number only, so a
    # seeded study replays with any number of workers
    return _random_sampler_class()(job.seed * 100_003)


@functools.cache
def _random_sampler_class():
    import optuna

    class TrialSeeded(optuna.samplers.RandomSampler):
        """Random sampling re-seeded from the study seed and the trial's own number once the
        trial exists (the number a worker guesses beforehand may be taken by another)."""

        def __init__(self, seed: int) -> None:
            super().__init__(seed=seed % 2**32)
            self.base = seed

        def before_trial(self, study, trial) -> None:
            self._rng.rng.seed((self.base + trial.number) % 2**32)

    return TrialSeeded


def _startup_trials(job: _Job) -> int:
    """Random trials before the model takes over: a third of the expected trials, 2 to 10."""
    expected = job.budget.trials or (job.budget.epochs or 0) // job.space.base.train.epochs
    return max(2, min(10, (expected or 30) // 3))


def _grid_sampler_class():
    import optuna

    class GridSampler(optuna.samplers.GridSampler):
        """Optuna's grid; the budget (not the sampler) decides when the study stops."""

        def after_trial(self, study, trial, state, values) -> None:
            pass

    return GridSampler


def _GridSampler(grid: dict[str, list[Any]], seed: int):  # noqa: N802 (a class factory)
    return _grid_sampler_class()(grid, seed=seed)


def _worker_main(job: _Job, worker: int, ready) -> None:
    """Entry point of a spawned worker process."""
    os.environ["KWSLAB_PROGRESS"] = "0"
    import kwslab.training  # noqa: F401  (the slow imports, before saying ready)

    study = _open(job)
    ready.set()
    _work(job, worker, study, progress=False)


class _Stop(Exception):
    """Raised from the epoch callback when a trial must stop (its epoch share, or time)."""


def _work(job: _Job, worker: int, study, *, progress: bool) -> None:
    """One worker's loop: claim budget, train a trial, repeat until the budget is spent."""
    import optuna

    from kwslab.search import manual
    from kwslab.search.shared import share_data
    from kwslab.utils.progress import make_progress

    with share_data(), make_progress(transient=False) as bar:
        total = job.budget.trials or job.budget.epochs
        task = bar.add_task("search", total=total, visible=progress)
        while True:
            optuna.storages.fail_stale_trials(study)
            totals = study_totals(study)
            _show(bar, task, job, totals)
            state = budget_state(job.budget, job.deadline, totals)
            if state == "spent":
                break
            if state == "wait":  # the rest of the budget is held by running trials
                time.sleep(min(2.0, job.heartbeat / 2))
                continue
            proposal = None
            if job.method == "manual":
                proposal = manual.next_trial(study, job.space, job.seed)
                if proposal is None:
                    break
                study.enqueue_trial(proposal.params, user_attrs=proposal.attrs)
            number = len(study.get_trials(deepcopy=False))
            study.sampler = _sampler(job, number, worker)
            over: list[bool] = []
            errors: list[Exception] = []
            study.optimize(functools.partial(_objective, job, study, over=over, errors=errors),
                           n_trials=1,
                           catch=(Exception,), gc_after_trial=False)
            if errors:  # bad data or configuration: every trial would fail the same way
                raise errors[0]
            if over:
                break
        _show(bar, task, job, study_totals(study))


def _show(bar, task, job: _Job, totals: dict[str, Any]) -> None:
    best = f"{totals['best']:.4f}" if totals["best"] is not None else "-"
    left = ""
    if job.deadline:
        left = f"  {max(0.0, job.deadline - time.time()):.0f} s left"
    done = totals["trials"] if job.budget.trials or not job.budget.epochs else totals["epochs"]
    bar.update(task, completed=done, description=(
        f"{job.method}: {totals['trials']} trials, {totals['epochs']} epochs, best {best}{left}"))


def _objective(job: _Job, study, trial, *, over: list[bool], errors: list[Exception]
               ) -> float | list[float]:
    import optuna

    from kwslab.errors import KwslabError
    from kwslab.training import train

    try:
        reserved = claim(job.budget, job.deadline, study, trial)
    except OverBudget:
        over.append(True)
        raise
    if "manual_key" in trial.user_attrs:
        names = list(trial.user_attrs["manual_params"])
        values = {n: job.space.param(n).suggest(trial) for n in names}
        seed = job.seed + int(trial.user_attrs["manual_repeat"])
    else:
        values = job.space.suggest(trial)
        seed = job.seed + trial.number
    cfg: RunConfig = job.space.config(values, seed=seed)
    trial.set_user_attr("config", to_dict(cfg))
    trial.set_user_attr("seed", cfg.train.seed)
    history: list[dict[str, float]] = []
    prune = job.method == "hyperband" and not job.multi

    def report(epoch: int, row: dict[str, float]) -> None:
        history.append({k: round(float(v), 6) for k, v in row.items()})
        trial.set_user_attr("epochs_run", epoch)
        if not job.multi:  # Optuna keeps intermediate values of single-objective studies only
            trial.report(row["val_accuracy"], epoch)
        if prune and epoch < cfg.train.epochs and trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch}")
        if reserved is not None and epoch >= reserved and epoch < cfg.train.epochs:
            raise _Stop("epochs")
        if job.deadline and time.time() >= job.deadline and epoch < cfg.train.epochs:
            raise _Stop("time")

    tmp = Path(job.out) / ".trials" / f"{trial.number}-{os.getpid()}"
    try:
        result = train(cfg, job.data, tmp, report=report, progress=False)
        costs = measure_costs(tmp, job.objectives[1:])
    except _Stop as e:
        trial.set_user_attr("stopped", f"budget ({e})")
        raise optuna.TrialPruned(f"stopped by the {e} budget") from e
    except optuna.TrialPruned:
        raise
    except Exception as e:  # the trial is failed and counts as run; bad input stops the search
        trial.set_user_attr("error", f"{type(e).__name__}: {e}")
        if isinstance(e, KwslabError):  # the input's fault, not the trial's: costs no budget
            trial.set_user_attr("budget", "input")
            errors.append(e)
        raise
    finally:
        trial.set_user_attr("history", history)
    m = result.metrics
    for key in ("val_loss", "train_accuracy", "train_loss", "best_epoch", "seconds"):
        trial.set_user_attr(key, m[key])
    if not job.multi:
        _keep_if_best(job, study, trial.number, (m["val_accuracy"], -m["val_loss"]), tmp)
        return float(m["val_accuracy"])
    from kwslab.search.pareto import keep_front

    trial.set_user_attr("costs", costs)
    scores = [float(m["val_accuracy"]), *(costs[n] for n in job.objectives[1:])]
    keep_front(study, job.out, trial.number, scores, job.objectives, tmp)
    return scores


def _key(t) -> tuple[float, float]:
    """Sort key of a completed trial: accuracy, then lower loss."""
    accuracy = accuracy_of(t)
    return (-math.inf if accuracy is None else accuracy,
            -float(t.user_attrs.get("val_loss", math.inf)))


def best_trial(study):
    """The completed trial with the best validation accuracy (ties: lower loss), or None.

    In a multi-objective study: the most accurate point of the Pareto front.
    """
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.values]
    if len(study.directions) > 1:
        from kwslab.search.pareto import front

        dirs = [d.name.lower() for d in study.directions]
        done = [done[i] for i in front([t.values for t in done], dirs)]
    return max(done, key=_key, default=None)


def _keep_if_best(job: _Job, study, number: int, key: tuple[float, float], tmp: Path) -> None:
    """Keep the trial's run folder in OUT/trials/N if it beats every completed trial so far."""
    best = best_trial(study)
    if best is None or key > _key(best):
        dest = Path(job.out) / "trials" / str(number)
        shutil.rmtree(dest, ignore_errors=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def _finish(job: _Job, study, seconds: float, log: Callable[[str], None]) -> SearchResult:
    """Write the best run folder, the trial table and the plots."""
    from kwslab.search import plots

    out = Path(job.out)
    shutil.rmtree(out / ".trials", ignore_errors=True)
    totals = study_totals(study)
    files = plots.write_trials(study, out)
    files += plots.study_plots(study, out, log=log)
    if job.method == "manual":
        from kwslab.search import manual

        files += manual.write_summary(study, job.space, out, job.seed)
    pareto: list[dict[str, Any]] = []
    if job.multi:
        from kwslab.search.pareto import pareto_points, write_pareto

        files += write_pareto(study, job.objectives, out, log=log)
        pareto = pareto_points(study, job.objectives, out)
    best = best_trial(study)
    best_dir = None
    if best is not None:
        best_dir = out / BEST
        kept = out / "trials" / str(best.number)
        tmp = out / f".{BEST}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        if kept.is_dir():
            shutil.copytree(kept, tmp)
        else:  # found by a worker on another machine: retrain it here
            from kwslab.training import train

            log(f"retraining trial {best.number} (trained elsewhere) into {best_dir}")
            train(config_from_trial(f"{job.storage}#{job.study}:{best.number}"), job.data, tmp,
                  progress=False)
        shutil.rmtree(best_dir, ignore_errors=True)
        os.replace(tmp, best_dir)
        write_json(out / "best.json", {
            "study": job.study, "trial": best.number, "val_accuracy": accuracy_of(best),
            "val_loss": best.user_attrs.get("val_loss"), "params": best.params,
            "costs": best.user_attrs.get("costs"), "config": best.user_attrs.get("config")})
        files.append(out / "best.json")
    else:
        log("no trial completed: there is no best model")
    return SearchResult(
        study=job.study, storage=job.storage, out=out,
        best_number=None if best is None else best.number,
        best_value=None if best is None else accuracy_of(best),
        best_val_loss=None if best is None else best.user_attrs.get("val_loss"),
        best_dir=best_dir, trials=totals["trials"], epochs=totals["epochs"], seconds=seconds,
        files=files, objectives=job.objectives, pareto=pareto)

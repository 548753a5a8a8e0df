"""Budget accounting, identical for every method.

A budget counts trials run (completed, pruned, or failed with an error; trials lost to a dead
worker are retried and do not count), seconds of this command, and training epochs actually
run, all trials together (a pruned trial counts the epochs it ran). Each trial claims its share
before training, in trial-number order, so workers sharing a study never overshoot.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Budget:
    """When to stop; any limit reached stops the search. ``None`` means no limit."""

    trials: int | None = None  # trials run (completed or pruned) in the study
    timeout: float | None = None  # seconds of wall time of this command
    epochs: int | None = None  # training epochs run in the study, all trials together

    def empty(self) -> bool:
        return self.trials is None and self.timeout is None and self.epochs is None


def describe(b: Budget) -> str:
    parts = [f"{b.trials} trials" if b.trials else "", f"{b.timeout:g} s" if b.timeout else "",
             f"{b.epochs} epochs" if b.epochs else ""]
    return ", ".join(p for p in parts if p) or "the whole procedure"


class OverBudget(Exception):
    """Raised by a trial created after the budget was spent; it is closed as failed."""


def budget_state(b: Budget, deadline: float | None, totals: dict[str, Any]) -> str:
    """``spent``, ``wait`` (the rest is held by running trials) or ``go``."""
    if deadline and time.time() >= deadline:
        return "spent"
    if b.trials and totals["trials"] >= b.trials:
        return "spent"
    if b.epochs and totals["epochs"] >= b.epochs:
        return "spent"
    if b.trials and totals["trials"] + totals["running"] >= b.trials:
        return "wait"
    if b.epochs and totals["epochs"] + totals["held"] >= b.epochs:
        return "wait"
    return "go"


def _epochs(t) -> int:
    return int(t.user_attrs.get("epochs_run", 0))


def study_totals(study) -> dict[str, Any]:
    """Trials done (completed or pruned), running, epochs run and held, best value so far."""
    from optuna.trial import TrialState

    trials = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("budget") == "run"]
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
            or (t.state == TrialState.FAIL and "error" in t.user_attrs)]
    running = [t for t in trials if t.state == TrialState.RUNNING]
    complete = [t for t in done if t.state == TrialState.COMPLETE]
    return {
        "trials": len(done), "running": len(running),
        "epochs": sum(_epochs(t) for t in trials),
        "held": sum(max(0, int(t.user_attrs.get("reserved") or 0) - _epochs(t))
                    for t in running),
        "best": max((t.values[0] for t in complete if t.values), default=None),  # accuracy
    }


def claim(b: Budget, deadline: float | None, study, trial) -> int | None:
    """Claim this trial's share of the budget (epochs it may run), or raise OverBudget.

    Trials decide in number order: this one waits for lower-numbered running trials to
    decide, then counts what they hold, so concurrent workers never overshoot.
    """
    from optuna.trial import TrialState

    waited = time.time()
    while True:
        trials = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number]
        undecided = [t for t in trials if t.state == TrialState.RUNNING
                     and "budget" not in t.user_attrs]
        if not undecided:
            break
        if time.time() - waited > 1:
            import optuna

            optuna.storages.fail_stale_trials(study)
            waited = time.time()
        time.sleep(0.1)
    counted = [t for t in trials if t.user_attrs.get("budget") == "run"]
    held = sum(max(_epochs(t), int(t.user_attrs.get("reserved") or 0))
               if t.state == TrialState.RUNNING else _epochs(t) for t in counted)
    n = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
            or "error" in t.user_attrs for t in counted)
    left = None if b.epochs is None else b.epochs - held
    if ((b.trials and n >= b.trials) or (left is not None and left < 1)
            or (deadline and time.time() >= deadline)):
        trial.set_user_attr("budget", "over")
        raise OverBudget(f"trial {trial.number}: budget spent")
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    trial.set_user_attr("reserved", left)
    trial.set_user_attr("epochs_run", 0)
    trial.set_user_attr("budget", "run")
    return left

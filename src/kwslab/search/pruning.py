"""Hyperband whose early rungs are really short: a trial never trains on for lack of rivals.

Hyperband runs successive halving in several brackets; a bracket's rungs are epoch counts
(the most aggressive bracket's first rung is ``first_rung()`` epochs, ``max/27``), and at each
rung only the best third of the trials go on. Optuna's ``HyperbandPruner`` cannot pause a
trial, so it lets the first trial to reach a rung go on (it has no rivals yet): every bracket
then trains its first trial in full before it prunes anything, and a short search prunes
nothing. Keras Tuner runs a rung's trials to the end of the rung and resumes the winners from a
checkpoint; kwslab cannot resume a trial either, so here a trial goes past a rung only once at
least ``REDUCTION`` trials of its bracket have reached that rung and it is in the best
``1/REDUCTION`` of them. The first trials to reach a rung stop there and are recorded as
pruned, like the trials that lose. That costs a long search a few trials per rung, and buys a
short one many short trials instead of one long one.

Trials fill the most aggressive bracket first, then the next, by consecutive trial numbers
(as Hyperband's paper and Keras Tuner order them); bracket sizes are Hyperband's, with one
bracket per rung of the most aggressive one plus one that trains in full (Keras Tuner's too).
Everything is decided from the trials' reported values, so workers sharing a study agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

REDUCTION = 3  # rungs grow threefold; a third of the trials reaching a rung go on
SHORT_RUNGS = 3  # rungs below full training in the most aggressive bracket (3**3 = 27x shorter)


def first_rung(max_epochs: int) -> int:
    """Epochs of the first rung: ``max_epochs / 27``, at least 1 (50 epochs -> 2)."""
    return max(1, math.ceil(max_epochs / REDUCTION**SHORT_RUNGS))


def max_epochs(space) -> int:
    """The longest training a trial of ``space`` can run (its base or a searched value)."""
    values = [space.base.train.epochs]
    for p in space.params:
        if p.name == "train.epochs":
            values += [int(v) for v in (p.values() if p.kind == "categorical" else (p.high,))]
    return max(values)


@dataclass(frozen=True)
class Brackets:
    """Hyperband's brackets over epochs: which bracket a trial is in, and its rungs.

    Bracket ``b`` has rungs at ``first * eta**(b + k)`` epochs below ``top`` (a rung at ``top``
    would be the end of training); the last bracket may have none (it trains in full).
    """

    first: int  # epochs of the first rung of bracket 0
    top: int  # the longest training (epochs)
    eta: int = REDUCTION

    @property
    def count(self) -> int:
        """Brackets: bracket 0's rungs plus one (50 epochs from 2: rungs 2, 6, 18; 4 brackets,
        the last training in full), as Keras Tuner's 4 brackets of 2, 6, 17 and 50 epochs."""
        return len(self.rungs(0)) + 1

    def sizes(self) -> list[int]:
        """Trials per bracket in one round, Hyperband's ``ceil(B * eta**s / (s + 1))`` for the
        bracket with ``s`` rungs (27, 12, 6, 4 for 4 brackets, as Keras Tuner)."""
        n = self.count
        return [math.ceil(n * self.eta ** (n - 1 - b) / (n - b)) for b in range(n)]

    def bracket(self, number: int) -> int:
        """The bracket of trial ``number``: consecutive numbers, bracket 0 first."""
        n = number % sum(self.sizes())
        for b, size in enumerate(self.sizes()):
            if n < size:
                return b
            n -= size
        raise AssertionError("unreachable: n < sum(sizes)")

    def rungs(self, bracket: int) -> list[int]:
        """Epochs at which trials of ``bracket`` are compared."""
        out, epochs = [], self.first * self.eta**bracket
        while epochs < self.top:
            out.append(epochs)
            epochs *= self.eta
        return out


def goes_on(value: float, rivals: Sequence[float], eta: int = REDUCTION) -> bool:
    """Whether a trial with ``value`` at a rung trains on past it (higher is better).

    ``rivals`` are the values at this rung of the other trials of its bracket that reached it.
    Only once ``eta`` trials (this one included) have reached the rung is there a best
    ``1/eta`` to be in; before that the trial stops. Ties go on; NaN loses.
    """
    if math.isnan(value) or len(rivals) + 1 < eta:
        return False
    ranked = sorted((v for v in (*rivals, value) if not math.isnan(v)), reverse=True)
    return value >= ranked[(len(rivals) + 1) // eta - 1]


def rung_value(values: Mapping[int, float], step: int) -> float:
    """A trial's value at a rung: its best reported value up to ``step`` (training keeps its
    best epoch, so that is the model it would hand back if stopped here)."""
    seen = [v for s, v in values.items() if s <= step and not math.isnan(v)]
    return max(seen) if seen else math.nan


def hyperband_pruner(space):
    """Hyperband over epochs for ``space``: first rung ``first_rung()``, reduction factor 3."""
    import optuna

    top = max_epochs(space)
    brackets = Brackets(first=min(first_rung(top), top), top=top)

    class Hyperband(optuna.pruners.BasePruner):
        """Prunes at a rung unless the trial is in the best third of at least three there."""

        def __init__(self) -> None:
            self.brackets = brackets

        def prune(self, study, trial) -> bool:
            step = trial.last_step
            bracket = brackets.bracket(trial.number)
            if step is None or step not in brackets.rungs(bracket):
                return False
            rivals = [rung_value(t.intermediate_values, step)
                      for t in study.get_trials(deepcopy=False)
                      if t.number != trial.number and step in t.intermediate_values
                      and brackets.bracket(t.number) == bracket]
            return not goes_on(rung_value(trial.intermediate_values, step), rivals)

    return Hyperband()

"""Hyperband that starts short: a first rung of a few epochs, brackets filled in order.

Optuna's ``HyperbandPruner`` runs successive halving in several brackets; the first trial to
reach a rung of its bracket always goes on (Optuna cannot pause a trial and resume it later),
so every bracket costs one full training before it prunes anything. Optuna spreads trials over
the brackets by a hash of their number, so a search of a few trials pays that price once per
bracket and prunes nothing. Here trials fill the most aggressive bracket first (first rung
``first_rung()`` epochs), then the next, as Hyperband's paper and Keras Tuner do; a search of a
few trials therefore compares them after a few epochs, and a long one still hedges over
brackets.
"""

from __future__ import annotations

import math

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


def hyperband_pruner(space):
    """Hyperband over epochs for ``space``: first rung ``first_rung()``, reduction factor 3."""
    import optuna

    top = max_epochs(space)

    class OrderedHyperband(optuna.pruners.HyperbandPruner):
        """Brackets take consecutive trial numbers, the most aggressive bracket first."""

        def _get_bracket_id(self, study, trial) -> int:
            if not self._pruners:
                return 0
            n = trial.number % self._total_trial_allocation_budget
            for bracket, size in enumerate(self._trial_allocation_budgets):
                n -= size
                if n < 0:
                    return bracket
            return len(self._trial_allocation_budgets) - 1

    return OrderedHyperband(min_resource=min(first_rung(top), top), max_resource=top,
                            reduction_factor=REDUCTION)

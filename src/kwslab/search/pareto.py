"""The Pareto front of a multi-objective search: the trials no other trial beats everywhere.

Trial A dominates trial B when A is at least as good on every objective (accuracy as high or
higher, each cost as low or lower) and strictly better on one. The front is every completed
trial that no completed trial dominates. ``pareto.json`` lists it, ``pareto.png`` draws
accuracy against each cost, and the run folder of each point is kept in ``OUT/trials/N``
(``kwslab train --from-trial OUT:N`` retrains any of them alone).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kwslab.search.objectives import UNITS, directions
from kwslab.utils.io import write_json

PARETO_JSON = "pareto.json"
PARETO_PNG = "pareto.png"


def dominates(a: Sequence[float], b: Sequence[float], dirs: Sequence[str]) -> bool:
    """True if objective values ``a`` dominate ``b`` under ``dirs`` (maximize/minimize)."""
    sign = [1.0 if d == "maximize" else -1.0 for d in dirs]
    better = [s * x for s, x in zip(sign, a, strict=True)]
    worse = [s * y for s, y in zip(sign, b, strict=True)]
    return (all(x >= y for x, y in zip(better, worse, strict=True))
            and any(x > y for x, y in zip(better, worse, strict=True)))


def front(values: Sequence[Sequence[float]], dirs: Sequence[str]) -> list[int]:
    """Indices of the non-dominated rows of ``values`` (ties: both stay)."""
    return [i for i, v in enumerate(values)
            if not any(dominates(w, v, dirs) for j, w in enumerate(values) if j != i)]


def _complete(study) -> list:
    from optuna.trial import TrialState

    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.values]


def points(study, objectives: Sequence[str], out: str | Path | None = None
           ) -> list[dict[str, Any]]:
    """Every completed trial as a plain dict: number, accuracy, costs, params, run folder."""
    rows = []
    for t in _complete(study):
        kept = Path(out) / "trials" / str(t.number) if out is not None else None
        rows.append({
            "trial": t.number, "accuracy": float(t.values[0]),
            "costs": {n: float(v) for n, v in zip(objectives[1:], t.values[1:], strict=True)},
            "val_loss": t.user_attrs.get("val_loss"), "params": dict(t.params),
            "run_dir": f"trials/{t.number}" if kept is not None and kept.is_dir() else None})
    return rows


def pareto_points(study, objectives: Sequence[str], out: str | Path | None = None
                  ) -> list[dict[str, Any]]:
    """The Pareto front of ``study``, most accurate first."""
    rows = points(study, objectives, out)
    dirs = directions(objectives)
    keep = front([_values(r, objectives) for r in rows], dirs)
    return sorted((rows[i] for i in keep), key=lambda r: (-r["accuracy"], r["trial"]))


def _values(row: dict[str, Any], objectives: Sequence[str]) -> list[float]:
    return [row["accuracy"], *(row["costs"][n] for n in objectives[1:])]


def keep_front(study, out: str | Path, number: int, values: Sequence[float],
               objectives: Sequence[str], run: Path) -> None:
    """Keep ``run`` as ``OUT/trials/N`` if trial ``number`` is on the front; drop folders of
    trials it (or any other) now dominates. Dominance never ends, so concurrent workers can
    only ever remove folders that are off the front for good."""
    dirs = directions(objectives)
    others = [(t.number, list(t.values)) for t in _complete(study) if t.number != number]
    folder = Path(out) / "trials"
    if any(dominates(v, values, dirs) for _, v in others):
        shutil.rmtree(run, ignore_errors=True)
    else:
        dest = folder / str(number)
        shutil.rmtree(dest, ignore_errors=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(run, dest)
    everyone = [*others, (number, list(values))]
    for n, v in others:
        if (folder / str(n)).is_dir() and any(dominates(w, v, dirs) for _, w in everyone):
            shutil.rmtree(folder / str(n), ignore_errors=True)


def _drop_off_front(out: Path, keep: set[int], study) -> None:
    """Remove kept run folders of completed trials off the front (workers that finished at
    once could each keep theirs before seeing the other's)."""
    done = {t.number for t in _complete(study)}
    for d in (out / "trials").glob("*"):
        if d.name.isdigit() and int(d.name) in done and int(d.name) not in keep:
            shutil.rmtree(d, ignore_errors=True)


def write_pareto(study, objectives: Sequence[str], out: str | Path, *,
                 log: Callable[[str], None] | None = None) -> list[Path]:
    """``OUT/pareto.json`` (the front, with every trial's count) and ``OUT/pareto.png``."""
    out = Path(out)
    log = log or (lambda msg: None)
    front_rows = pareto_points(study, objectives, out)
    _drop_off_front(out, {r["trial"] for r in front_rows}, study)
    rows = points(study, objectives, out)
    write_json(out / PARETO_JSON, {
        "objectives": list(objectives), "directions": directions(objectives),
        "units": {n: UNITS[n] for n in objectives}, "trials": len(rows),
        "points": front_rows})
    files = [out / PARETO_JSON]
    if rows:
        plot(rows, front_rows, objectives, out / PARETO_PNG)
        files.append(out / PARETO_PNG)
    else:
        log("pareto.png skipped: no trial completed")
    return files


def plot(rows: list[dict[str, Any]], front_rows: list[dict[str, Any]],
         objectives: Sequence[str], path: Path) -> None:
    """Accuracy against each cost: every completed trial, the front labelled by number."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kwslab.search.plots import save_figure

    costs = list(objectives[1:])
    fig, axes = plt.subplots(1, len(costs), figsize=(5.5 * len(costs), 4.2), squeeze=False)
    on_front = {r["trial"] for r in front_rows}
    for ax, cost in zip(axes[0], costs, strict=True):
        rest = [r for r in rows if r["trial"] not in on_front]
        ax.scatter([r["costs"][cost] for r in rest], [r["accuracy"] for r in rest],
                   s=18, color="0.65", label="dominated trials")
        xs = [r["costs"][cost] for r in front_rows]
        ys = [r["accuracy"] for r in front_rows]
        ax.scatter(xs, ys, s=36, color="tab:red", zorder=3, label="Pareto front")
        if len(costs) == 1 and front_rows:  # in two dimensions the front is a staircase
            pts = sorted(zip(xs, ys, strict=True))
            ax.step([p[0] for p in pts], [p[1] for p in pts], where="post", color="tab:red",
                    alpha=0.5)
        for r, x, y in zip(front_rows, xs, ys, strict=True):
            ax.annotate(str(r["trial"]), (x, y), textcoords="offset points", xytext=(4, 4),
                        fontsize=8)
        values = [r["costs"][cost] for r in rows]
        if min(values) > 0 and max(values) / min(values) > 20:
            ax.set_xscale("log")
        ax.set_xlabel(f"{cost} ({UNITS[cost]})")
        ax.set_ylabel("validation accuracy")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"Pareto front: {len(front_rows)} of {len(rows)} completed trials "
                 f"(numbers: kwslab train --from-trial OUT:N)")
    save_figure(fig, path)
    plt.close(fig)

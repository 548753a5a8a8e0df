"""Search outputs: the trial table (CSV and JSON) and PNG plots, each written atomically."""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from kwslab.utils.io import replacing, write_json, write_text_atomic

COLUMNS = ("number", "state", "value", "val_loss", "train_accuracy", "train_loss",
           "epochs_run", "best_epoch", "seed", "seconds", "stopped", "error")


def save_figure(fig, path: str | Path, dpi: int = 110) -> None:
    """Save a matplotlib figure as PNG through a temporary file."""
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")


def trial_rows(study) -> list[dict[str, Any]]:
    """One plain dict per trial that ran (trials closed for lack of budget are left out)."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("budget") == "over":
            continue
        a = t.user_attrs
        row = {"number": t.number, "state": t.state.name,
               "value": float(t.values[0]) if t.values else None,  # validation accuracy
               **{k: a.get(k) for k in COLUMNS[3:] if k != "state"}}
        if a.get("costs"):
            row["costs"] = dict(a["costs"])
        row["duration_s"] = t.duration.total_seconds() if t.duration else None
        row["params"] = dict(t.params)
        rows.append(row)
    return rows


def write_trials(study, out: str | Path) -> list[Path]:
    """``trials.csv`` (one column per parameter) and ``trials.json`` in ``out``."""
    out = Path(out)
    rows = trial_rows(study)
    names = sorted({k for r in rows for k in r["params"]})
    costs = sorted({k for r in rows for k in r.get("costs") or {}})
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([*COLUMNS, *(f"cost.{c}" for c in costs), "duration_s", *names])
    for r in rows:
        writer.writerow([r[c] for c in COLUMNS] + [(r.get("costs") or {}).get(c) for c in costs]
                        + [r["duration_s"]] + [r["params"].get(n) for n in names])
    write_text_atomic(out / "trials.csv", buf.getvalue())
    write_json(out / "trials.json", rows)
    return [out / "trials.csv", out / "trials.json"]


def study_plots(study, out: str | Path, *,
                log: Callable[[str], None] | None = None) -> list[Path]:
    """Optimisation history, parameter importances, parallel coordinates, intermediate values.

    A plot that does not apply (e.g. importances with fewer than two completed trials whose
    parameters vary, intermediate values with no pruned trial) is skipped with a note.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as vis

    log = log or (lambda msg: None)
    out = Path(out) / "plots"
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    varying = {k for t in complete for k in t.params
               if len({repr(u.params.get(k)) for u in complete}) > 1}
    pruned = study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
    multi = len(study.directions) > 1
    target: dict = {}
    if multi:  # these plots take one value: validation accuracy (pareto.png shows the costs)
        target = {"target": lambda t: t.values[0], "target_name": "validation accuracy"}
    # file -> (draw: study -> Axes or an array of them, whether there is enough to draw)
    plots: dict[str, tuple[Callable[[optuna.Study], Any], bool]] = {
        "history.png": (partial(vis.plot_optimization_history, **target), len(complete) >= 1)}
    plots["importances.png"] = (partial(vis.plot_param_importances, **target),
                                len(complete) >= 2 and bool(varying))
    plots["parallel.png"] = (partial(vis.plot_parallel_coordinate, **target),
                             len(complete) >= 2 and bool(varying))
    plots["intermediate.png"] = (vis.plot_intermediate_values, bool(pruned) and not multi)
    files = []
    for name, (draw, possible) in plots.items():
        if not possible:
            log(f"plot {name} skipped: not enough trials for it")
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ax = draw(study)
            fig = (ax.flat[0] if hasattr(ax, "flat") else ax).figure
            save_figure(fig, out / name)
            plt.close(fig)
            files.append(out / name)
        except (ValueError, RuntimeError, ZeroDivisionError, optuna.exceptions.OptunaError) as e:
            log(f"plot {name} skipped: {e}")
    return files

"""``compare()``: several search methods under the same budget, in one table (the seed's).

Each method runs in its own study (named after it, or ``METHOD-sSEED`` when repeated over
seeds) in ``OUT/study.db`` and writes its outputs to ``OUT/METHOD``; the chosen configuration
of each is scored on the test split. The budget is counted the same way for every method (see
:mod:`kwslab.search.study`), which the seed's comparison did not do. With several seeds the
table says which differences are more than luck (:mod:`kwslab.search.significance`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kwslab.artifacts import holds_results
from kwslab.errors import ConfigError, SearchError
from kwslab.search.significance import significance
from kwslab.search.space import SearchSpace
from kwslab.search.storage import storage_url
from kwslab.search.study import METHODS, Budget, run_search
from kwslab.utils.io import write_json, write_text_atomic

KEYS = ("val_loss", "val_accuracy", "test_accuracy", "seconds", "trials", "epochs")


def compare(data: str | Path, out: str | Path, *, methods: list[str], budget: Budget,
            space: SearchSpace | None = None, seeds: list[int] | None = None,
            sampler: str = "tpe", workers: int | None = None, progress: bool = True,
            log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Run each method (per seed) under ``budget``; write ``comparison.{json,md,png}``.

    Returns:
        One row per method: ``method``, ``val_loss``, ``val_accuracy`` (best trial),
        ``test_accuracy`` with ``test_ci95`` (Wilson) of its model, ``seconds``, ``trials``,
        ``epochs``; with several seeds each is the mean, with ``*_std`` beside it and the
        single runs under ``runs``.
    """
    from kwslab.evaluation import evaluate

    if not methods:
        raise ConfigError("no methods to compare; give e.g. --methods random,hyperband")
    unknown = [m for m in methods if m not in METHODS]  # before any method spends its budget
    if unknown:
        raise ConfigError(f"method {', '.join(map(repr, unknown))} is not one of "
                          f"{', '.join(METHODS)}")
    if len(set(methods)) < len(methods):
        raise ConfigError(f"methods {', '.join(methods)} repeat one")
    log = log or (lambda msg: None)
    out = Path(out)
    what = holds_results(out)
    if what:
        raise SearchError(f"--out {out} holds {what}; compare keeps its own studies: give "
                          "another --out")
    seeds = seeds or [0]
    url = storage_url(None, out)
    rows = []
    for method in methods:
        runs = []
        for seed in seeds:
            name = method if len(seeds) == 1 else f"{method}-s{seed}"
            log(f"== {name}")
            res = run_search(data, out / name, method=method, space=space, budget=budget,
                             storage=url, study_name=name, workers=workers, seed=seed,
                             sampler=sampler, objectives=("accuracy",),  # the table ranks by it
                             progress=progress, log=log)
            run: dict[str, Any] = {"method": method, "seed": seed, "best_trial": res.best_number,
                                   "val_loss": res.best_val_loss, "val_accuracy": res.best_value,
                                   "test_accuracy": None, "test_ci95": None,
                                   "seconds": round(res.seconds, 1), "trials": res.trials,
                                   "epochs": res.epochs}
            if res.best_dir is not None:
                ev = evaluate(res.best_dir, data, "test")
                run["test_accuracy"], run["test_ci95"] = ev["accuracy"], ev["accuracy_ci95"]
                run["test_n"] = ev["n"]
            runs.append(run)
        rows.append(runs[0] if len(runs) == 1 else _mean_row(method, runs))
    sig = judge(rows)
    write_json(out / "comparison.json", {"methods": rows, "significance": sig})
    write_text_atomic(out / "comparison.md", markdown(rows, budget, sig))
    _plot(rows, out / "comparison.png")
    return rows


def judge(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Which methods differ beyond luck, on test accuracy (validation where a run has none)."""
    runs = {r["method"]: r.get("runs", [r]) for r in rows}
    key = "test_accuracy"
    if any(run.get(key) is None for rs in runs.values() for run in rs):
        key = "val_accuracy"
    scores = {m: {run["seed"]: run[key] for run in rs if run.get(key) is not None}
              for m, rs in runs.items()}
    return significance(scores, key.replace("_", " ").replace("val ", "validation "))


def _mean_row(method: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    row: dict[str, Any] = {"method": method, "seeds": [r["seed"] for r in runs]}
    for key in KEYS:
        vals = [r[key] for r in runs if r[key] is not None]
        row[key] = float(np.mean(vals)) if vals else None
        row[f"{key}_std"] = float(np.std(vals)) if vals else None
    row["runs"] = runs
    return row


def _fmt(row: dict[str, Any], key: str, digits: int) -> str:
    v = row.get(key)
    if v is None:
        return "-"
    text = f"{v:.{digits}f}"
    if row.get(f"{key}_std") is not None:
        text += f" ± {row[f'{key}_std']:.{digits}f}"
    return text


def markdown(rows: list[dict[str, Any]], budget: Budget,
             sig: dict[str, Any] | None = None) -> str:
    """The comparison table in Markdown, then what it shows (``sig``: :func:`judge`)."""
    b = [f"{budget.trials} trials" if budget.trials else "",
         f"{budget.timeout:g} s" if budget.timeout else "",
         f"{budget.epochs} epochs" if budget.epochs else ""]
    seeds = any("runs" in r for r in rows)  # cells are mean +- std over seeds
    test_head = "test accuracy (mean ± std over seeds)" if seeds else "test accuracy (95 % CI)"
    lines = [f"Budget per method: {', '.join(x for x in b if x) or 'none'}", "",
             f"| method | val loss | val accuracy | {test_head} | seconds | trials "
             "| epochs |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        test = _fmt(r, "test_accuracy", 3)
        if r.get("test_ci95"):
            lo, hi = r["test_ci95"]
            test += f" [{lo:.3f}, {hi:.3f}]"
        lines.append(f"| {r['method']} | {_fmt(r, 'val_loss', 3)} | "
                     f"{_fmt(r, 'val_accuracy', 3)} | {test} | {_fmt(r, 'seconds', 0)} | "
                     f"{_fmt(r, 'trials', 0)} | {_fmt(r, 'epochs', 0)} |")
    if sig is not None:
        lines += ["", f"**Significance** ({sig['metric']}, paired over seeds): "
                  f"{sig['statement']}"]
    return "\n".join(lines) + "\n"


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Validation and test accuracy per method as bars (test with its interval)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kwslab.search.plots import save_figure

    names = [r["method"] for r in rows]
    x = np.arange(len(rows))
    val = [r["val_accuracy"] or 0 for r in rows]
    test = [r["test_accuracy"] or 0 for r in rows]
    fig, ax = plt.subplots(figsize=(1.6 * len(rows) + 3, 4))
    ax.bar(x - 0.2, val, 0.4, label="validation (best trial)")
    err = None
    if all(r.get("test_ci95") for r in rows):
        err = np.array([[t - r["test_ci95"][0], r["test_ci95"][1] - t]
                        for t, r in zip(test, rows, strict=True)]).T
    ax.bar(x + 0.2, test, 0.4, yerr=err, capsize=4,
           label="test (95 % CI)" if err is not None else
           "test (mean over seeds)" if any("runs" in r for r in rows) else "test")
    ax.set_xticks(x, [f"{n}\n{r['trials']:.0f} trials, {r['epochs']:.0f} ep"
                      for n, r in zip(names, rows, strict=True)])
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, path)
    plt.close(fig)

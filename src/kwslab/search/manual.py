"""The seed's manual procedure, automated: one factor at a time.

Start from the base configuration. For each parameter in the space's ``order``, train each of
its values ``repeats`` times (seeds ``seed + r``), keep the value with the best mean validation
accuracy (ties: the smaller mean train/validation accuracy gap, i.e. less overfitting), fix
it, and move on. A run whose configuration was already trained (the value just fixed, met
again as the base of the next stage) is reused, not repeated. Every run is an Optuna trial in
the study, so the procedure resumes where it stopped: runs already recorded are not redone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kwslab.config import to_dict
from kwslab.search.space import SearchSpace
from kwslab.utils.io import write_json


@dataclass(frozen=True)
class Proposal:
    """The next run: its parameter values and the user attributes that identify it."""

    params: dict[str, Any]
    attrs: dict[str, Any]


def _runs(study) -> dict[str, Any]:
    """Finished manual runs by key (completed, pruned, or failed with an error)."""
    from optuna.trial import TrialState

    runs: dict[str, Any] = {}
    for t in study.get_trials(deepcopy=False):
        key = t.user_attrs.get("manual_key")
        if key is None or t.user_attrs.get("budget") != "run":
            continue
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
                t.state == TrialState.FAIL and "error" in t.user_attrs):
            runs.setdefault(key, t)
    return runs


def _walk(study, space: SearchSpace, seed: int):
    """Replay the procedure over the recorded runs.

    Returns (stages, next proposal or None); a stage is a dict with the parameter, each value's
    trials and scores, and the chosen value once all its runs exist.
    """
    runs = _runs(study)
    fixed: dict[str, Any] = {}
    stages = []
    for name in space.order:
        stage: dict[str, Any] = {"param": name, "values": [], "chosen": None}
        stages.append(stage)
        for value in space.param(name).values():
            trials = []
            for r in range(space.repeats):
                params = {**fixed, name: value}
                key = _key(space, params, seed + r)
                if key not in runs:
                    return stages, Proposal(params, {
                        "manual_key": key, "manual_param": name, "manual_repeat": r,
                        "manual_params": list(params)})
                trials.append(runs[key])
            stage["values"].append(_score(value, trials))
        best = max(stage["values"], key=lambda v: (v["val_accuracy"], -v["gap"]))
        stage["chosen"] = best["value"]
        fixed[name] = best["value"]
    return stages, None


def _key(space: SearchSpace, params: dict[str, Any], seed: int) -> str:
    """A run's identity: its full configuration, so a stage reuses an identical earlier run
    (the value an earlier stage fixed, tried again as the next parameter's base value)."""
    cfg = to_dict(space.config(params, seed=seed))
    cfg["train"]["threads"] = 0  # how many cores trained it does not matter
    return json.dumps(cfg, sort_keys=True)


def _score(value: Any, trials: list) -> dict[str, Any]:
    acc = [t.value if t.value is not None else _last(t) for t in trials]
    gap = [float(t.user_attrs.get("train_accuracy", _last(t, "train_accuracy")) - a)
           for t, a in zip(trials, acc, strict=True)]
    return {"value": value, "val_accuracy": float(np.mean(acc)), "val_accuracy_std":
            float(np.std(acc)), "gap": float(np.mean(gap)),
            "val_loss": float(np.mean([t.user_attrs.get("val_loss", _last(t, "val_loss"))
                                       for t in trials])),
            "trials": [t.number for t in trials]}


def _last(t, key: str = "val_accuracy") -> float:
    """A metric at the best epoch of a trial that stopped early (from its history)."""
    hist = t.user_attrs.get("history") or []
    if not hist:
        return 0.0 if key.endswith("accuracy") else float("inf")
    return float(max(hist, key=lambda r: r["val_accuracy"])[key])


def next_trial(study, space: SearchSpace, seed: int) -> Proposal | None:
    """The next run of the procedure, or None when every parameter is fixed."""
    return _walk(study, space, seed)[1]


def summary(study, space: SearchSpace, seed: int = 0) -> list[dict[str, Any]]:
    """Per parameter: each value's mean validation accuracy, gap and trials; the chosen one."""
    return _walk(study, space, seed)[0]


def write_summary(study, space: SearchSpace, out: str | Path, seed: int = 0) -> list[Path]:
    """``manual.json`` and, per parameter, the seed's figure of curves (``manual/PARAM.png``)."""
    out = Path(out)
    stages = summary(study, space, seed)
    write_json(out / "manual.json", stages)
    by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
    files = [out / "manual.json"]
    for stage in stages:
        if not stage["values"]:
            continue
        curves = {str(v["value"]): [by_number[n].user_attrs.get("history") or []
                                    for n in v["trials"]] for v in stage["values"]}
        path = out / "manual" / f"{stage['param']}.png"
        plot_curves(stage["param"], curves, stage["chosen"], path)
        files.append(path)
    return files


def plot_curves(param: str, curves: dict[str, list[list[dict]]], chosen: Any,
                path: Path) -> None:
    """Train/validation accuracy and loss per epoch, one line per value (mean over repeats)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kwslab.search.plots import save_figure

    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    panels = [("train_accuracy", "train accuracy"), ("val_accuracy", "validation accuracy"),
              ("train_loss", "train loss"), ("val_loss", "validation loss")]
    for ax, (key, title) in zip(axes.flat, panels, strict=True):
        for label, runs in curves.items():
            n = max((len(h) for h in runs), default=0)
            if not n:
                continue
            mean = [np.mean([h[i][key] for h in runs if len(h) > i]) for i in range(n)]
            style = "-" if label == str(chosen) else "--"
            ax.plot(range(1, n + 1), mean, style, label=label)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0, 1].legend(title=param, fontsize=8)
    fig.suptitle(f"{param}: mean of repeats per value (chosen: {chosen}, solid)")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)

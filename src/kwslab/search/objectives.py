"""What a search optimises: validation accuracy alone, or accuracy against a deployment cost.

A multi-objective study maximises validation accuracy and minimises each cost, so its answer
is a Pareto front (:mod:`kwslab.search.pareto`), not one best trial. Costs are measured on the
trial's run folder once it has trained:

- ``latency``: median milliseconds per 1 s clip of the model exported to ONNX and run by
  :class:`kwslab.runtime.Recognizer` on one thread, features included (what a device pays).
- ``macs``: multiply-accumulates per clip from the model card (``total_macs`` where a
  pretrained front end runs before the model, else ``macs``).
- ``params``: trainable parameters from the model card.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from kwslab.errors import ConfigError, SearchError

ACCURACY = "accuracy"
COSTS = ("latency", "macs", "params")
OBJECTIVES = (ACCURACY, *COSTS)
UNITS = {"accuracy": "validation accuracy", "latency": "ms per clip (median, 1 thread)",
         "macs": "MACs per clip", "params": "trainable parameters"}
LATENCY_WARMUP = 5  # untimed predictions first (lazy allocations, caches)
LATENCY_REPEATS = 30  # timed predictions; their median is the latency


def parse_objectives(spec: str | Sequence[str], where: str = "--objectives") -> tuple[str, ...]:
    """Check an objective list (``"accuracy,latency"`` or a list) and return it as a tuple.

    Raises:
        ConfigError: an unknown or repeated name, or a list without ``accuracy`` (one line,
            prefixed by ``where``).
    """
    given = spec.split(",") if isinstance(spec, str) else list(spec)
    if not all(isinstance(n, str) for n in given):
        raise ConfigError(f"{where}: objectives must be names ({', '.join(OBJECTIVES)}), "
                          f"got {spec!r}")
    names = [n.strip() for n in given if n.strip()]
    shown = ",".join(names)
    for n in names:
        if n not in OBJECTIVES:
            raise ConfigError(f"{where} {shown}: unknown objective {n!r}; choose from "
                              f"{', '.join(OBJECTIVES)}")
    for n in names:
        if names.count(n) > 1:
            raise ConfigError(f"{where} {shown}: {n!r} is repeated; give each objective once")
    if ACCURACY not in names:
        raise ConfigError(f"{where} {shown or '(empty)'}: the list must include accuracy, "
                          f"e.g. accuracy,latency")
    return (ACCURACY, *(n for n in names if n != ACCURACY))


def resolve_objectives(given: str | Sequence[str] | None, space_default: Sequence[str],
                       method: str, log: Callable[[str], None]) -> tuple[str, ...]:
    """The objectives a search runs with: ``given`` (checked), else the space's default.

    ``manual`` fixes parameters by accuracy alone: it ignores a space's costs and refuses
    given ones. Hyperband cannot prune a multi-objective study (Optuna's pruners compare one
    value), so it says so and runs its trials in full.
    """
    if given is None:
        goals = tuple(space_default)
        if method == "manual" and len(goals) > 1:
            log(f"manual fixes parameters by accuracy alone: the space's objectives "
                f"({','.join(goals)}) are not used")
            return (ACCURACY,)
    else:
        goals = parse_objectives(given)
        if method == "manual" and len(goals) > 1:
            raise ConfigError(f"--objectives {','.join(goals)}: manual fixes parameters by "
                              f"accuracy alone; use random, grid or bayesian for a Pareto front")
    if method == "hyperband" and len(goals) > 1:
        log("hyperband: Optuna cannot prune a multi-objective study; trials run in full "
            "(random sampling, no pruning)")
    return goals


def directions(objectives: Sequence[str]) -> list[Literal["maximize", "minimize"]]:
    """Optuna directions: accuracy is maximised, every cost minimised."""
    return ["maximize" if n == ACCURACY else "minimize" for n in objectives]


def accuracy_of(trial) -> float | None:
    """Validation accuracy of a finished trial (the first objective), or None."""
    values = trial.values
    return None if not values else float(values[0])


def measure_costs(run_dir: str | Path, costs: Sequence[str]) -> dict[str, float]:
    """Each cost in ``costs`` of the model in ``run_dir`` (a training run folder)."""
    out: dict[str, float] = {}
    card = _card(run_dir) if {"macs", "params"} & set(costs) else {}
    for name in costs:
        if name == "latency":
            out[name] = measure_latency(run_dir)
        elif name == "macs":
            out[name] = float(card.get("total_macs") or card["macs"])
        elif name == "params":
            out[name] = float(card["params"])
        else:
            raise ConfigError(f"unknown cost {name!r}; choose from {', '.join(COSTS)}")
    return out


def _card(run_dir: str | Path) -> dict[str, Any]:
    from kwslab.artifacts import CARD
    from kwslab.utils.io import read_json

    path = Path(run_dir) / CARD
    try:
        card = read_json(path)
        int(card["macs"]), int(card["params"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SearchError(f"{path}: no model card with macs and params ({type(e).__name__}); "
                          f"retrain it (kwslab train writes one)") from e
    return card


def measure_latency(run_dir: str | Path, *, warmup: int = LATENCY_WARMUP,
                    repeats: int = LATENCY_REPEATS) -> float:
    """Median ms per 1 s clip: export ``run_dir`` to ONNX, then features + model on one thread.

    The clip is fixed noise (latency does not depend on the content). Other processes on the
    machine, other search workers included, slow it down: compare latencies measured alike.
    """
    import contextlib
    import tempfile
    import time

    import numpy as np

    from kwslab.export import export_onnx
    from kwslab.runtime import Recognizer

    try:
        from threadpoolctl import threadpool_limits

        one_thread: Any = threadpool_limits(limits=1)
    except ImportError:  # optional: without it NumPy keeps its default
        one_thread = contextlib.nullcontext()
    with tempfile.TemporaryDirectory(prefix="kwslab-latency-") as tmp, one_thread:
        export_onnx(run_dir, Path(tmp) / "export")
        rec = Recognizer.load(Path(tmp) / "export", threads=1)
        x = (0.1 * np.random.default_rng(0).standard_normal(rec.clip_samples)).astype(np.float32)
        for _ in range(warmup):
            rec.predict(x)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            rec.predict(x)
            times.append(time.perf_counter() - start)
    ms = 1e3 * float(np.median(times))
    if not math.isfinite(ms) or ms <= 0:
        raise SearchError(f"latency of {run_dir} measured as {ms} ms; the clock is not usable")
    return ms

"""Speaker-grouped K-fold cross-validation of a recipe: the accuracy figure nobody tuned to.

Each fold trains the recipe on the other folds' speakers (the best epoch chosen on one
held-out fold of them), then scores the fold's own speakers. Every clip of the dataset is
scored once per seed, by a model that never heard its speaker. See :mod:`kwslab.data.folds`.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from kwslab.config import RunConfig, with_teacher
from kwslab.data.folds import assign_folds, check_folds, dataset_speakers, write_fold
from kwslab.errors import ConfigError
from kwslab.utils.io import write_text_atomic

MIN_SPEAKER_CLIPS = 4  # keyword clips a speaker needs to count in the per-speaker spread


def cross_validate(cfg: RunConfig, data: str | Path, k: int, out: str | Path, *,
                   seeds: Sequence[int] = (0,), log: Callable[[str], None] = print,
                   teachers: Sequence[str | Path] | None = None,
                   only: Sequence[int] | None = None) -> dict[str, Any]:
    """Train and score ``cfg`` on ``k`` speaker folds of ``data`` for each seed.

    Resumable: a fold whose ``result.json`` exists is not trained again. ``teachers``: one
    export per fold to distill from (``train.teacher``), each trained on that fold's
    training speakers only (a teacher that heard a fold's test speakers would leak them).
    ``only``: train and score these folds alone (in this order), e.g. to share the folds out
    between processes or machines writing to one ``out``; a later call without it gathers all.

    Returns:
        ``folds`` (one dict per seed and fold: keyword accuracy, n, minutes), ``accuracy``
        (mean, std over folds and seeds; keyword clips), ``all_accuracy`` (the same over every
        class, _unknown_ and _silence_ included), ``speakers`` ({speaker: accuracy} of speakers with
        >= ``MIN_SPEAKER_CLIPS`` keyword clips, averaged over seeds) and ``worst_decile``
        (10th percentile of those per-speaker accuracies).

    Raises:
        DataError: bad ``k``, unreadable speaker names, or a fold without some word.
        ConfigError: not one teacher per fold, or bad ``only`` fold numbers.
    """
    from kwslab.training import train

    out = Path(out)
    speakers = dataset_speakers(data)
    fold = assign_folds(speakers, k)
    check_folds(speakers, fold, k, cfg.data.words)
    if teachers is not None and len(teachers) != k:
        raise ConfigError(f"{len(teachers)} teachers for {k} folds; give one per fold")
    order = range(k) if only is None else list(only)
    if not order or len(set(order)) != len(order) or any(not 0 <= i < k for i in order):
        raise ConfigError(f"folds to train: distinct numbers from 0 to {k - 1}, "
                          f"got {list(order)}")
    results = []
    for seed in seeds:
        run_cfg = replace(cfg, train=replace(cfg.train, seed=seed))
        for i in order:
            run_dir = out / f"seed{seed}-fold{i}"
            done = run_dir.parent / f"{run_dir.name}.result.json"
            fold_dir = write_fold(data, speakers, fold, k, i, out / "folds" / f"fold{i}")
            if done.is_file():
                result = json.loads(done.read_text())
                if "all_accuracy" not in result:  # written before that figure existed
                    result.update(score_speakers(run_dir, fold_dir))
                    write_text_atomic(done, json.dumps(result, indent=1))
                results.append(result)
                continue
            log(f"seed {seed}, fold {i + 1}/{k}: training")
            t0 = time.perf_counter()
            fold_cfg = run_cfg if teachers is None else with_teacher(run_cfg, teachers[i])
            train(fold_cfg, fold_dir, run_dir, progress=False, overwrite=True)
            minutes = (time.perf_counter() - t0) / 60
            result = {"seed": seed, "fold": i, "train_minutes": minutes,
                      **score_speakers(run_dir, fold_dir)}
            write_text_atomic(done, json.dumps(result, indent=1))
            log(f"seed {seed}, fold {i + 1}/{k}: keyword accuracy "
                f"{100 * result['accuracy']:.2f} % (n = {result['n']}, {minutes:.1f} min)")
            results.append(result)
    return summarise(results)


def score_speakers(run_dir: Path, data: Path) -> dict[str, Any]:
    """Keyword accuracy of a run on the test split of ``data``, overall and per speaker."""
    from kwslab.evaluation import clip_predictions

    pred = clip_predictions(run_dir, data, "test")
    words = [p for p in pred["clips"] if p["is_keyword"]]
    per: dict[str, list[bool]] = defaultdict(list)
    for p in words:
        per[p["speaker"]].append(p["predicted"] == p["label"])
    correct = sum(p["predicted"] == p["label"] for p in words)
    every = pred["clips"]  # with _unknown_/_silence_ classes: the standard 12-class figure
    return {"accuracy": correct / max(1, len(words)), "n": len(words),
            "all_accuracy": sum(p["predicted"] == p["label"] for p in every) / len(every),
            "all_n": len(every),
            "speakers": {s: [int(sum(v)), len(v)] for s, v in per.items()},
            "errors": [p for p in words if p["predicted"] != p["label"]]}


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and spread over folds and seeds, and the per-speaker spread."""
    acc = [r["accuracy"] for r in results]
    every = [r["all_accuracy"] for r in results]
    per: dict[str, list[float]] = defaultdict(list)
    for r in results:
        for s, (correct, n) in r["speakers"].items():
            if n >= MIN_SPEAKER_CLIPS:
                per[s].append(correct / n)
    speakers = {s: float(np.mean(v)) for s, v in per.items()}
    values = np.array(sorted(speakers.values()))
    return {
        "folds": [{k: r[k] for k in ("seed", "fold", "accuracy", "n", "all_accuracy", "all_n",
                                     "train_minutes")} for r in results],
        "accuracy": [float(np.mean(acc)), float(np.std(acc, ddof=1)) if len(acc) > 1 else 0.0],
        "all_accuracy": [float(np.mean(every)),
                         float(np.std(every, ddof=1)) if len(every) > 1 else 0.0],
        "train_minutes": float(np.mean([r["train_minutes"] for r in results])),
        "speakers": speakers,
        "worst_decile": float(np.percentile(values, 10)) if len(values) else float("nan"),
        "n_speakers": len(speakers),
        "errors": [e for r in results for e in r["errors"]],
    }

"""Hyperband starts short; trials of one process read their data once."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from kwslab.search.pruning import first_rung, hyperband_pruner, max_epochs
from kwslab.search.shared import share_data
from kwslab.search.storage import load_study
from kwslab.search.study import Budget, run_search


def test_first_rung_is_a_few_epochs():
    assert [first_rung(n) for n in (1, 3, 27, 28, 50, 100)] == [1, 1, 1, 2, 2, 4]


def test_brackets_take_consecutive_trials_most_aggressive_first(tone_space):
    space = tone_space(epochs=27)  # rungs 1, 3, 9 (and full); 4 brackets
    assert max_epochs(space) == 27
    pruner = hyperband_pruner(space)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    pruner._try_initialization(study)
    sizes = pruner._trial_allocation_budgets
    assert len(sizes) == 4 and sizes[0] == max(sizes)
    frozen = [replace_number(n) for n in range(sum(sizes) + 1)]
    got = [pruner._get_bracket_id(study, t) for t in frozen]
    expected = [b for b, size in enumerate(sizes) for _ in range(size)] + [0]
    assert got == expected


def replace_number(n: int):
    trial = optuna.trial.create_trial(value=0.0, state=TrialState.COMPLETE)
    trial.number = n
    return trial


def test_hyperband_prunes_within_a_few_trials(tone_data, tone_space, tmp_path):
    res = run_search(tone_data, tmp_path, method="hyperband", budget=Budget(trials=4),
                     space=tone_space(epochs=9), seed=0, workers=1, progress=False)
    study = load_study(res.storage, res.study)
    trials = [t for t in study.get_trials() if t.user_attrs.get("budget") == "run"]
    info = [(t.number, t.state.name, t.params, t.intermediate_values) for t in trials]
    assert len(trials) == 4, info
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned, info
    # stopped at a rung of the first bracket (1 or 3 epochs of 9), never later
    assert all(max(t.intermediate_values) in (1, 3) for t in pruned), info
    assert all(t.user_attrs["epochs_run"] in (1, 3) for t in pruned), info
    assert res.epochs < 4 * 9 and res.best_number is not None


def test_trials_share_waves_and_features(tone_data, tone_config, tmp_path):
    from kwslab.training import train

    cfg = replace(tone_config, train=replace(tone_config.train, epochs=1, threads=1))
    alone = train(cfg, tone_data, tmp_path / "alone", progress=False).metrics
    with share_data() as memos:
        first = train(cfg, tone_data, tmp_path / "a", progress=False).metrics
        read = {k: m.misses for k, m in memos.items()}
        again = train(replace(cfg, train=replace(cfg.train, seed=cfg.train.seed + 1)),
                      tone_data, tmp_path / "b", progress=False).metrics
        assert {k: m.misses for k, m in memos.items()} == read  # nothing read twice
    assert read["features"] == first["n_train"] + first["n_val"]
    assert read["waves"] == 0  # no augmentation: training reads features, never waveforms
    assert first["val_accuracy"] == pytest.approx(alone["val_accuracy"])
    assert first["history"][0]["train_loss"] == pytest.approx(alone["history"][0]["train_loss"])
    assert again["n_train"] == first["n_train"]


def test_augmented_trials_share_waves(tone_data, tone_config, tmp_path):
    from kwslab.training import train

    aug = replace(tone_config.train.augment, time_shift_ms=100.0)
    cfg = replace(tone_config, train=replace(tone_config.train, epochs=1, threads=1, augment=aug))
    with share_data() as memos:
        first = train(cfg, tone_data, tmp_path / "a", progress=False).metrics
        read = memos["waves"].misses
        train(replace(cfg, train=replace(cfg.train, seed=1)), tone_data, tmp_path / "b",
              progress=False)
        assert memos["waves"].misses == read == first["n_train"]


def test_past_the_limit_clips_are_read_but_not_kept():
    from types import SimpleNamespace

    from kwslab.search.shared import _Memo

    clips = [SimpleNamespace(path=f"c{i}", offset=0, length=0) for i in range(4)]

    def load(some):
        return np.ones((len(some), 2), np.float32), list(some), []

    memo = _Memo(limit=16)  # two rows of 8 bytes
    rows, ok, bad = memo.get(clips[:2], ("k",), load)
    assert rows.shape == (2, 2) and memo.bytes == 16 and not bad
    rows, ok, _ = memo.get(clips, ("k",), load)  # two new clips: over the limit
    assert rows.shape == (4, 2) and ok == clips and len(memo.rows) == 2
    assert memo.misses == 4

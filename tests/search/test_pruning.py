"""Hyperband starts short; trials of one process read their data once."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from optuna.trial import TrialState

from kwslab.search.pruning import (
    Brackets,
    first_rung,
    goes_on,
    hyperband_pruner,
    max_epochs,
    rung_value,
)
from kwslab.search.shared import share_data
from kwslab.search.storage import load_study
from kwslab.search.study import Budget, run_search


def test_first_rung_is_a_few_epochs():
    assert [first_rung(n) for n in (1, 3, 27, 28, 50, 100)] == [1, 1, 1, 2, 2, 4]


def test_brackets_take_consecutive_trials_most_aggressive_first(tone_space):
    space = tone_space(epochs=27)  # rungs 1, 3, 9 (and full); 4 brackets
    assert max_epochs(space) == 27
    brackets = hyperband_pruner(space).brackets
    sizes = brackets.sizes()
    assert len(sizes) == brackets.count == 4 and sizes[0] == max(sizes)
    assert sizes == [27, 12, 6, 4]  # Hyperband's (and Optuna's) ceil(B * 3**s / (s + 1))
    got = [brackets.bracket(n) for n in range(sum(sizes) + 1)]
    expected = [b for b, size in enumerate(sizes) for _ in range(size)] + [0]
    assert got == expected
    assert [brackets.rungs(b) for b in range(4)] == [[1, 3, 9], [3, 9], [9], []]
    seed = Brackets(first=2, top=50)  # the seed space: Keras Tuner's 2, 6, 17, 50 epochs
    assert [seed.rungs(b) for b in range(seed.count)] == [[2, 6, 18], [6, 18], [18], []]
    assert seed.sizes() == [27, 12, 6, 4]


def test_a_rung_passes_only_the_best_third_of_at_least_three():
    assert not goes_on(0.9, [])  # the first to reach a rung stops: no rivals to beat yet
    assert not goes_on(0.9, [0.1])
    assert goes_on(0.9, [0.1, 0.5]) and not goes_on(0.5, [0.1, 0.9])
    assert goes_on(0.5, [0.5, 0.1])  # ties go on
    assert goes_on(0.8, [0.9, 0.1, 0.2, 0.3, 0.4]) and not goes_on(0.7, [0.9, 0.8, 0.1, 0.2, 0.3])
    assert not goes_on(math.nan, [0.1, 0.2]) and goes_on(0.3, [math.nan, 0.2])
    assert rung_value({1: 0.5, 2: 0.4, 3: 0.9}, 2) == 0.5  # the best epoch up to the rung


def test_the_first_trial_of_a_bracket_stops_at_the_first_rung(tone_data, tone_space, tmp_path):
    # Optuna's Hyperband lets a trial with no rivals go on: trial 0 trained all 9 epochs.
    res = run_search(tone_data, tmp_path, method="hyperband", budget=Budget(trials=2),
                     space=tone_space(epochs=9), seed=0, workers=1, progress=False)
    study = load_study(res.storage, res.study)
    trials = [t for t in study.get_trials() if t.user_attrs.get("budget") == "run"]
    info = [(t.number, t.state.name, t.intermediate_values) for t in trials]
    assert [t.state for t in trials] == [TrialState.PRUNED] * 2, info
    assert [t.user_attrs["epochs_run"] for t in trials] == [first_rung(9)] * 2, info
    assert [max(t.intermediate_values) for t in trials] == [1, 1], info
    assert res.epochs == 2 and res.best_number is None


def test_hyperband_prunes_within_a_few_trials(tone_data, tone_space, tmp_path):
    res = run_search(tone_data, tmp_path, method="hyperband", budget=Budget(trials=9),
                     space=tone_space(epochs=9), seed=0, workers=1, progress=False)
    study = load_study(res.storage, res.study)
    trials = [t for t in study.get_trials() if t.user_attrs.get("budget") == "run"]
    info = [(t.number, t.state.name, t.params, t.intermediate_values) for t in trials]
    assert len(trials) == 9, info
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned, info
    # stopped at a rung of the first bracket (1 or 3 epochs of 9), never later
    assert all(max(t.intermediate_values) in (1, 3) for t in pruned), info
    assert all(t.user_attrs["epochs_run"] in (1, 3) for t in pruned), info
    assert all(t.user_attrs["epochs_run"] == 1 for t in trials if t.params["train.lr"] == 1e-7)
    assert res.epochs < 9 * 9 and res.best_number is not None


def test_trials_share_waves_and_features(tone_data, tone_config, tmp_path):
    from kwslab.training import train

    cfg = replace(tone_config, train=replace(tone_config.train, epochs=1, threads=1))
    alone = train(cfg, tone_data, tmp_path / "alone", progress=False).metrics
    with share_data() as memos:
        first = train(cfg, tone_data, tmp_path / "a", progress=False).metrics
        read = {k: m.misses for k, m in memos.items()}
        again = train(replace(cfg, train=replace(cfg.train, seed=cfg.train.seed + 1)),
                      tone_data, tmp_path / "b", progress=False).metrics
        # nothing read twice; the clips are listed again for a new seed (it draws a folder's
        # max_per_word clips), and the same clips are not checked again
        assert {k: m.misses for k, m in memos.items()} == {**read, "clips": 2}
    assert read["features"] == first["n_train"] + first["n_val"]
    assert read["waves"] == 0  # no augmentation: training reads features, never waveforms
    assert read["clips"] == read["checks"] == 1  # listed and checked once
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

"""The default recipe learns real speech, and the 12-class mode trains and evaluates.

Both use small slices of ``../shared/data/speech_commands_mini`` so they stay fast on CPU.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from kwslab.config import DEFAULT, SILENCE, UNKNOWN, DataConfig
from kwslab.evaluate import evaluate
from kwslab.train import train

FOUR = ("left", "right", "stop", "up")


def test_default_recipe_learns_on_a_small_slice(mini_data, tmp_path):
    cfg = replace(
        DEFAULT,
        data=DataConfig(words=FOUR, max_per_word=40),
        train=replace(DEFAULT.train, epochs=12, batch_size=32, seed=0),
    )
    m = train(cfg, mini_data, tmp_path / "run", progress=False).metrics
    hist = m["history"]
    assert hist[-1]["train_loss"] < 0.8 * hist[0]["train_loss"]
    assert m["val_accuracy"] >= 0.6  # chance is 0.25
    assert m["n_train"] == 160


def test_twelve_class_mode_trains_and_evaluates(mini_data, tmp_path):
    cfg = replace(
        DEFAULT,
        data=DataConfig(max_per_word=12, unknown=True, silence=True),
        train=replace(DEFAULT.train, epochs=2, seed=0),
    )
    run = train(cfg, mini_data, tmp_path / "run12", progress=False)
    assert run.metrics["counts"][UNKNOWN]["train"] > 0
    assert run.metrics["counts"][SILENCE]["train"] > 0
    report = evaluate(run.run_dir, mini_data, "test")
    assert report["labels"][-2:] == [SILENCE, UNKNOWN] and len(report["labels"]) == 10
    assert len(report["confusion"]) == 10 and report["n"] > 300
    conf = np.array(report["confusion"])
    keyword_correct = np.trace(conf[:8, :8])  # keyword rows; a keyword taken for an extra is wrong
    assert report["keyword_n"] == conf[:8].sum() < report["n"]
    assert report["keyword_accuracy"] == pytest.approx(keyword_correct / conf[:8].sum())

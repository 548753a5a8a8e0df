"""The default and tcresnet recipes learn real speech, the default export runs alone, and the
12-class mode trains and evaluates.

Both use small slices of ``../shared/data/speech_commands_mini`` so they stay fast on CPU.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from kwslab.config import DEFAULT, SILENCE, TCRESNET, UNKNOWN, DataConfig
from kwslab.errors import ModelError
from kwslab.evaluation import evaluate
from kwslab.training import train

pytestmark = pytest.mark.slow  # every test trains on real speech

FOUR = ("left", "right", "stop", "up")


@pytest.fixture(scope="module")
def default_slice_run(mini_data, tmp_path_factory) -> Path:
    """The default recipe (head on speech embeddings, 4 augmented copies) on 40 clips a word."""
    cfg = replace(
        DEFAULT,
        data=DataConfig(words=FOUR, max_per_word=40),
        train=replace(DEFAULT.train, epochs=12, batch_size=32, seed=0),
    )
    return train(cfg, mini_data, tmp_path_factory.mktemp("runs") / "default", progress=False
                 ).run_dir


def test_default_recipe_learns_on_a_small_slice(default_slice_run):
    m = json.loads((default_slice_run / "metrics.json").read_text())
    hist = m["history"]
    assert hist[-1]["train_loss"] < 0.8 * hist[0]["train_loss"]
    assert m["val_accuracy"] >= 0.8  # chance is 0.25
    assert m["n_train"] == 160
    card = json.loads((default_slice_run / "model_card.json").read_text())
    assert card["front_end"]["macs"] > 100 * card["macs"]  # the frozen front end dominates
    assert card["total_macs"] == card["macs"] + card["front_end"]["macs"]


def test_tcresnet_recipe_learns_on_a_small_slice(mini_data, tmp_path):
    cfg = replace(
        TCRESNET,
        data=DataConfig(words=FOUR, max_per_word=40),
        train=replace(TCRESNET.train, epochs=12, batch_size=32, seed=0),
    )
    m = train(cfg, mini_data, tmp_path / "run", progress=False).metrics
    hist = m["history"]
    assert hist[-1]["train_loss"] < 0.8 * hist[0]["train_loss"]
    assert m["val_accuracy"] >= 0.6  # chance is 0.25


def test_default_export_runs_from_its_folder_alone(default_slice_run, mini_data, tmp_path,
                                                   monkeypatch):
    """The export carries the front end: with no model anywhere else, the torch-free
    Recognizer gives torch's probabilities on real clips."""
    from kwslab.data import load_clips
    from kwslab.data.dataset import load_waves
    from kwslab.export import export_onnx
    from kwslab.features import compute_features
    from kwslab.models.inference import predict_logits
    from kwslab.models.io import load_model
    from kwslab.runtime import Recognizer

    out = tmp_path / "export"
    export_onnx(default_slice_run, out)
    assert {"melspectrogram.onnx", "embedding_model.onnx", "model.onnx"} <= {
        p.name for p in out.iterdir()}
    model, cfg, _ = load_model(default_slice_run)
    clips = [c for c in load_clips(mini_data, cfg.data) if c.split == "test"][::10]
    waves = load_waves(clips, 16000).waves
    expected = torch.softmax(predict_logits(model, compute_features(waves, cfg.features)), 1)
    monkeypatch.setenv("KWSLAB_MODELS", str(tmp_path / "nowhere"))
    rec = Recognizer.load(out)
    got = rec.probabilities(waves)
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-4)
    with pytest.raises(ModelError, match="fetch-model"):  # the default location is empty
        compute_features(waves[0], cfg.features)


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

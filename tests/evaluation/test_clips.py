"""Evaluation metrics and predictions."""

from __future__ import annotations

import numpy as np
import pytest

from kwslab.errors import DataError, ModelError
from kwslab.evaluation import classification_report, evaluate, predict, wilson_interval


def test_classification_report_by_hand():
    y = np.array([0, 0, 1, 1, 2])
    p = np.array([0, 1, 1, 1, 0])
    r = classification_report(y, p, ["a", "b", "c"])
    assert r["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert r["per_class"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert r["per_class"]["b"]["precision"] == pytest.approx(2 / 3)
    assert r["per_class"]["c"]["recall"] == 0.0


def test_wilson_interval():
    lo, hi = wilson_interval(90, 100)
    assert 0.82 < lo < 0.84 and 0.94 < hi < 0.95
    assert wilson_interval(0, 0) == (0.0, 0.0)


def test_evaluate_splits(tone_run, tone_data):
    r = evaluate(tone_run, tone_data, "test")
    assert r["n"] == 9 and r["labels"] == ["low", "mid", "high"]
    assert r["accuracy"] >= 0.8 and np.array(r["confusion"]).sum() == 9
    assert evaluate(tone_run, tone_data, "all")["n"] == 90
    assert evaluate(tone_run, tone_data, "train")["n"] == 72
    with pytest.raises(DataError, match="split 'dev' is not one of"):
        evaluate(tone_run, tone_data, "dev")


def test_predict_files_and_folders(tone_run, tone_data, tmp_path):
    out = predict(tone_run, [tone_data / "high"], top=2)
    assert len(out) == 30 and all(len(r["top"]) == 2 for r in out)
    assert sum(r["label"] == "high" for r in out) >= 25
    bad = tmp_path / "bad.wav"
    bad.write_text("nope")
    mixed = predict(tone_run, [bad, tone_data / "low" / "00000000_nohash_0.wav"])
    assert "error" in mixed[0] and mixed[1]["label"] == "low"


def test_predict_calls_a_silent_clip_silence_where_the_model_has_it(tone_run, tone_data,
                                                                    tmp_path):
    """As the runtime does: digital silence is _silence_ for a model with that class (the
    same network relabelled), and the network's own answer for one without it."""
    import shutil

    import soundfile as sf

    from kwslab.artifacts import update_json

    run = tmp_path / "run"
    shutil.copytree(tone_run, run)
    update_json(run, "run", "config.json", {"labels": ["low", "mid", "_silence_"]})
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, np.random.default_rng(0).normal(0, 1e-4, 16000), 16000)
    word = tone_data / "low" / "00000000_nohash_0.wav"
    out = predict(run, [quiet, word])
    assert out[0]["label"] == "_silence_" and out[0]["top"][0]["probability"] == 1.0
    assert out[1]["label"] == "low"
    assert predict(tone_run, [quiet])[0]["label"] != "_silence_"


def test_not_a_run_folder(tmp_path, tone_data):
    with pytest.raises(ModelError, match="not a kwslab run folder"):
        evaluate(tmp_path, tone_data)


def test_per_speaker_accuracy_and_the_mistakes_to_listen_to(tone_run, tone_data):
    from kwslab.evaluation import clip_predictions

    r = evaluate(tone_run, tone_data, "all", worst=5)
    clips = clip_predictions(tone_run, tone_data, "all")["clips"]
    assert sum(n for _, n in r["per_speaker"].values()) == r["keyword_n"] == len(clips)
    for speaker, (correct, n) in r["per_speaker"].items():
        mine = [c for c in clips if c["speaker"] == speaker]
        assert n == len(mine) and correct == sum(c["predicted"] == c["label"] for c in mine)
    wrong = sorted((c for c in clips if c["predicted"] != c["label"]),
                   key=lambda c: -c["probability"])[:5]
    assert [e["path"] for e in r["confused"]] == [c["path"] for c in wrong]
    assert all(e["predicted"] != e["label"] for e in r["confused"])

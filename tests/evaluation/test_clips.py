"""Evaluation metrics and predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_run import run

from kwslab.errors import DataError, ModelError
from kwslab.evaluation import (
    classification_report,
    clip_predictions,
    evaluate,
    predict,
    wilson_interval,
)
from kwslab.evaluation.clips import _scored


@pytest.fixture(scope="module")
def ensemble(tone_run, second_run, tmp_path_factory) -> Path:
    from kwslab.export import export_ensemble

    out = tmp_path_factory.mktemp("ens") / "export"
    export_ensemble([tone_run, second_run], out)
    return out


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
    with pytest.raises(ModelError, match="not a kwslab run folder or export folder"):
        evaluate(tmp_path, tone_data)
    with pytest.raises(ModelError, match="no such folder"):
        predict(tmp_path / "nope", [tone_data / "low"])


def test_per_speaker_accuracy_and_the_mistakes_to_listen_to(tone_run, tone_data):
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


def test_an_export_scores_as_its_run(tone_run, tone_export, tone_data, capsys):
    """The same clips, the same predictions: onnxruntime on audio vs torch on cached features."""
    import json

    run_r, exp_r = (evaluate(m, tone_data, "all") for m in (tone_run, tone_export))
    code, stdout, _ = run(capsys, "evaluate", tone_export, "--data", tone_data, "--split", "all",
                          "--json")
    assert code == 0 and json.loads(stdout)["confusion"] == exp_r["confusion"]
    assert (run_r["model_kind"], exp_r["model_kind"]) == ("run", "export")
    assert run_r.keys() == exp_r.keys()
    assert exp_r["n"] == run_r["n"] == 90 and exp_r["labels"] == run_r["labels"]
    assert exp_r["accuracy"] == run_r["accuracy"] and exp_r["confusion"] == run_r["confusion"]
    assert exp_r["per_speaker"] == run_r["per_speaker"]
    assert exp_r["loss"] == pytest.approx(run_r["loss"], rel=1e-3, abs=1e-5)
    a, b = (_scored(m, tone_data, "all") for m in (tone_run, tone_export))
    assert b["logits"] is None and [c.path for c in a["clips"]] == [c.path for c in b["clips"]]
    np.testing.assert_allclose(b["probs"], a["probs"], atol=1e-4)
    exp_c = clip_predictions(tone_export, tone_data, "test")["clips"]
    run_c = clip_predictions(tone_run, tone_data, "test")["clips"]
    assert [c["predicted"] for c in exp_c] == [c["predicted"] for c in run_c]
    assert [c["probability"] for c in exp_c] == pytest.approx(
        [c["probability"] for c in run_c], abs=1e-4)


def test_an_ensemble_export_is_scored_as_the_mean_of_its_members(ensemble, tone_run,
                                                                  second_run, tone_data):
    from kwslab.data.dataset import load_waves
    from kwslab.runtime import Ensemble, load_export

    r = evaluate(ensemble, tone_data, "test")
    assert r["model_kind"] == "ensemble" and r["n"] == 9
    assert r.keys() == evaluate(tone_run, tone_data, "test").keys()
    assert np.array(r["confusion"]).sum() == 9 and r["accuracy"] >= 0.8
    lo, hi = r["accuracy_ci95"]
    assert lo <= r["accuracy"] <= hi
    s = _scored(ensemble, tone_data, "test")
    ens = load_export(ensemble)
    assert isinstance(ens, Ensemble)
    waves = load_waves(s["clips"], ens.clip_samples).waves
    np.testing.assert_allclose(s["probs"], ens.probabilities(waves), atol=1e-6)
    runs = [_scored(m, tone_data, "test")["probs"] for m in (tone_run, second_run)]
    np.testing.assert_allclose(s["probs"], np.mean(runs, axis=0), atol=1e-4)
    p = s["probs"][np.arange(len(s["y"])), s["y"]]
    assert r["loss"] == pytest.approx(float(-np.log(p).mean()), rel=1e-5)


def test_predict_on_an_export_gives_the_runs_top_label(tone_run, tone_export, ensemble,
                                                       tone_data):
    files = [tone_data / w / "00000009_nohash_0.wav" for w in ("low", "mid", "high")]
    want = predict(tone_run, files, top=3)
    got = predict(tone_export, files, top=3)
    assert [r["label"] for r in got] == [r["label"] for r in want]
    for g, w in zip(got, want, strict=True):
        assert [t["label"] for t in g["top"]] == [t["label"] for t in w["top"]]
        assert [t["probability"] for t in g["top"]] == pytest.approx(
            [t["probability"] for t in w["top"]], abs=1e-4)
    assert len(predict(ensemble, files)) == 3


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_a_folder_that_is_neither_a_run_nor_an_export_is_one_line(command, tone_data,
                                                                  tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.onnx").write_bytes(b"not onnx")
    args = {"evaluate": ["evaluate", tmp_path, "--data", tone_data],
            "predict": ["predict", tmp_path, tone_data / "low"]}[command]
    code, _, err = run(capsys, *args)
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith("error: ") and "not a kwslab run folder or export folder" in err

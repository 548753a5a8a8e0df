"""`kwslab demo` end to end on tiny budgets: every step's outputs, resuming, the CLI."""

from __future__ import annotations

import json

import pytest

from kwslab import artifacts as A
from kwslab.demo import run_demo

TONE_WORDS = ("low", "mid", "high")  # the tone_data fixture's words

TINY = {"epochs": 3, "search_trials": 2, "search_epochs": 2}


def test_demo_on_given_data_writes_everything_and_resumes(tone_data, tmp_path):
    out = tmp_path / "demo"
    result = run_demo(out, tone_data, words=TONE_WORDS, progress=False, **TINY,
                      log=lambda m: None)
    ev = json.loads((out / "model" / A.EVAL_TEST).read_text())
    assert result["accuracy"] == ev["accuracy"] and ev["n"] == 9 and ev["split"] == "test"
    assert result["accuracy"] >= 0.6  # three tones; chance is 1/3
    assert A.is_run(out / "model") and A.is_run(out / "search" / "best")
    assert A.is_export(out / "onnx")
    scored = json.loads((out / "onnx" / A.EXPORT_METRICS).read_text())
    assert scored["fp32"]["accuracy"] == scored["torch_accuracy"] == ev["accuracy"]
    for f in ("model/model.safetensors", "model/eval_test.json", "search/trials.csv",
              "search/best/eval_test.json", "onnx/model.onnx", "onnx/stream/det.json",
              "report.html", "demo.json"):
        assert (out / f).is_file(), f
    steps = result["steps"]
    assert steps["data"]["status"] == "given" and steps["train"]["status"] == "done"
    page = (out / "report.html").read_text()
    for heading in ("Demo", "Training curves", "Confusion matrix", "Optimisation history",
                    "DET curve", "Model card"):
        assert f">{heading}<" in page, heading

    again = run_demo(out, tone_data, words=TONE_WORDS, progress=False, **TINY,
                     log=lambda m: None)
    assert all(s["status"] == "skipped" for k, s in again["steps"].items()
               if k not in ("data", "report"))
    assert again["accuracy"] == result["accuracy"]


def test_demo_refuses_to_mix_datasets(tone_data, tmp_path):
    from kwslab.errors import DataError

    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "demo.json").write_text(json.dumps({"data": "/elsewhere"}))
    with pytest.raises(DataError, match="another"):
        run_demo(tmp_path / "demo", tone_data, words=TONE_WORDS, progress=False, **TINY)


def test_demo_without_data_synthesises(tmp_path):
    """The no-data path: a few words from a few voices, then the same steps."""
    out = tmp_path / "demo"
    result = run_demo(out, words=("go", "stop"), progress=False, epochs=3, search_trials=0,
                      synth_options={"voices": ["en-us", "en-us+f2", "en+m2", "en-gb-x-rp+f5"],
                                     "rates": [150, 200], "pitches": [40, 60]},
                      log=lambda m: None)
    assert (out / "data" / "go").is_dir() and result["steps"]["data"]["status"] == "done"
    assert (out / "report.html").is_file() and (out / "onnx" / "model.onnx").is_file()
    assert "Example waveform" in (out / "report.html").read_text()

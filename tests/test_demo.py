"""`kwslab demo` end to end on tiny budgets: the recipe it chose and why, both accuracies (real
voices first), every step's outputs, resuming, the CLI."""

from __future__ import annotations

import json
from functools import partial

import pytest

from kwslab import artifacts as A
from kwslab.pipelines.demo import EVAL_REAL, figure_lines, run_demo

TONE_WORDS = ("low", "mid", "high")  # the tone_data fixture's words

TINY = {"epochs": 3, "search_trials": 2, "search_epochs": 2}


@pytest.fixture
def no_front_end(monkeypatch, tmp_path):
    """The default recipe's front end is not on disk and cannot be downloaded (offline)."""
    from kwslab.errors import DownloadError
    from kwslab.features import embedding

    monkeypatch.setenv("KWSLAB_MODELS", str(tmp_path / "models"))

    def offline(*args, **kwargs):
        raise DownloadError("cannot download https://files.pythonhosted.org/x.whl: offline")

    monkeypatch.setattr(embedding, "fetch", offline)
    return monkeypatch


def test_demo_without_front_end_says_it_fell_back_and_resumes(tone_data, tmp_path,
                                                              no_front_end):
    out, lines = tmp_path / "demo", []
    result = run_demo(out, tone_data, words=TONE_WORDS, progress=False, **TINY, log=lines.append)
    state = json.loads((out / A.DEMO_JSON).read_text())
    assert state["recipe"] == result["recipe"]
    assert result["recipe"]["name"] == "tcresnet"
    assert "FALLBACK" in result["recipe"]["reason"] and "offline" in result["recipe"]["reason"]
    assert any(line.startswith("recipe: tcresnet (FALLBACK") for line in lines)
    cfg = json.loads((out / "model" / A.CONFIG).read_text())["config"]
    assert cfg["model"]["name"] == "tcresnet" and cfg["features"]["kind"] != "speech_embedding"
    # tones are no words of the shipped real clips: said, not faked
    assert state["real"]["skipped"].endswith("not low, mid, high")
    assert not (out / "model" / EVAL_REAL).exists()
    shown = figure_lines(result)
    assert shown[0].startswith("real recordings: not scored")
    assert shown[1].startswith(f"on the test split of {tone_data}: ")
    assert shown[2].startswith("recipe: tcresnet (FALLBACK")

    ev = json.loads((out / "model" / A.EVAL_TEST).read_text())
    assert result["accuracy"] == ev["accuracy"] == state["test"]["accuracy"]
    assert ev["n"] == 9 == state["test"]["n"] and ev["split"] == "test"
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
    assert "FALLBACK" in page

    no_front_end.undo()  # the front end is back: the resumed demo still names what trained
    again = run_demo(out, tone_data, words=TONE_WORDS, progress=False, **TINY,
                     log=lambda m: None)
    assert all(s["status"] == "skipped" for k, s in again["steps"].items()
               if k not in ("data", "report"))
    assert again["accuracy"] == result["accuracy"] and again["recipe"] == result["recipe"]


def test_demo_refuses_to_mix_datasets(tone_data, tmp_path):
    from kwslab.errors import DataError

    (tmp_path / "demo").mkdir()
    built = {"data": "/elsewhere", "steps": {"train": {"status": "done"}}}
    (tmp_path / "demo" / "demo.json").write_text(json.dumps(built))
    with pytest.raises(DataError, match="another"):
        run_demo(tmp_path / "demo", tone_data, words=TONE_WORDS, progress=False, **TINY)


@pytest.mark.parametrize("marker", ["search.json", "config.json", "manifest.json"])
def test_demo_never_writes_into_a_search_run_or_export(tone_data, tmp_path, marker):
    from kwslab.errors import DataError

    (tmp_path / "other").mkdir()
    (tmp_path / "other" / marker).write_text("{}")
    with pytest.raises(DataError, match="holds a search, a run or an export"):
        run_demo(tmp_path / "other", tone_data, words=TONE_WORDS, progress=False, **TINY)
    assert [p.name for p in (tmp_path / "other").iterdir()] == [marker]


def test_a_demo_that_built_nothing_does_not_hold_its_folder(tmp_path, no_front_end):
    """A demo that failed before training (e.g. on an empty --data) may be rerun on other
    data in the same folder."""
    from kwslab.errors import DataError

    empty, other = tmp_path / "empty", tmp_path / "other"
    empty.mkdir(), other.mkdir()
    with pytest.raises(DataError) as first:
        run_demo(tmp_path / "demo", empty, words=TONE_WORDS, progress=False, **TINY)
    assert "holds a demo" not in str(first.value)
    assert json.loads((tmp_path / "demo" / "demo.json").read_text())["data"] == str(empty)
    with pytest.raises(DataError) as second:
        run_demo(tmp_path / "demo", other, words=TONE_WORDS, progress=False, **TINY)
    assert "holds a demo" not in str(second.value) and "other" in str(second.value)


def test_demo_cli_reports_real_voices_first_with_the_default_recipe(tmp_path, monkeypatch):
    """The no-data path through `kwslab demo`: espeak-ng and Piper voices, the default recipe,
    then the shipped real clips scored, printed before the synthetic figure."""
    from typer.testing import CliRunner

    import kwslab.pipelines.demo
    from kwslab.cli import _load_commands, app
    from kwslab.data.real_sample import real_clips_dir
    from kwslab.evaluation import evaluate
    from kwslab.features import embedding

    embedding.fetch(progress=False)  # what scripts/setup.sh does; at once when already there
    small = partial(run_demo, words=("go", "stop"), epochs=3, search_trials=0,
                    synth_options={"voices": ["en-us", "en-us+f2", "en+m2", "en-gb-x-rp+f5",
                                              "piper:joe"],
                                   "rates": [150, 200], "pitches": [40, 60],
                                   "piper_noise": [0.667]})
    monkeypatch.setattr(kwslab.pipelines.demo, "run_demo", small)
    _load_commands()
    out = tmp_path / "demo"
    res = CliRunner().invoke(app, ["demo", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    printed = res.stdout.splitlines()

    state = json.loads((out / A.DEMO_JSON).read_text())
    assert state["recipe"]["name"] == "default"
    assert "speech_embedding" in state["recipe"]["reason"]
    cfg = json.loads((out / "model" / A.CONFIG).read_text())["config"]
    assert cfg["features"]["kind"] == "speech_embedding" and cfg["model"]["name"] == "embedconv"
    assert "piper:joe" in state["voices"] and "en-us" in state["voices"]

    real = evaluate(out / "model", real_clips_dir(), "test")  # independent of the demo
    assert real["n"] == 16 == state["real"]["n"]  # 8 clips of each word, real people
    assert state["real"]["accuracy"] == real["accuracy"]
    assert state["real"]["ci95"] == list(real["accuracy_ci95"]) and state["real"]["unseen"]
    synthetic = evaluate(out / "model", out / "data", "test")
    assert state["test"]["accuracy"] == synthetic["accuracy"] == state["accuracy"]

    assert printed[0].startswith("accuracy on 16 real recordings (unseen speakers): "
                                 f"{100 * real['accuracy']:.1f} % [95 % CI ")
    assert printed[1].startswith(f"on held-out synthetic voices: "
                                 f"{100 * synthetic['accuracy']:.1f} % [95 % CI ")
    assert printed[2].startswith("recipe: default (")
    assert printed[:3] == figure_lines(state)

    page = (out / "report.html").read_text()
    assert page.index("real recordings (unseen speakers)") < page.index("held-out synthetic")
    assert "Example waveform" in page and (out / "onnx" / "model.onnx").is_file()
    assert state["steps"]["data"]["status"] == "done" and (out / "data" / "go").is_dir()


def test_demo_voices_add_piper_only_when_installed(monkeypatch):
    from kwslab.data import piper
    from kwslab.data.synth import DEFAULT_VOICES
    from kwslab.errors import MissingExtraError
    from kwslab.pipelines.demo import demo_voices

    assert demo_voices() == (*DEFAULT_VOICES, "piper:joe")  # the dev install has kwslab[piper]

    def missing(voice):
        raise MissingExtraError("voice piper:joe needs piper-tts: pip install 'kwslab[piper]'")

    monkeypatch.setattr(piper, "check_voice", missing)
    said = []
    assert demo_voices(said.append) == DEFAULT_VOICES
    assert "kwslab[piper]" in said[0]


def test_real_line_says_when_training_data_holds_a_real_speaker(tmp_path):
    """Given data may contain the shipped speakers; the real-voice line must not call them
    unseen then."""
    from kwslab.data.manifest import Clip, write_manifest
    from kwslab.data.real_sample import real_clips_dir
    from kwslab.pipelines.demo import _heard_speakers, demo_config

    clip = sorted((real_clips_dir() / "go").glob("*.wav"))[0]
    speaker = clip.name.split("_nohash_")[0]
    stop = sorted((real_clips_dir() / "stop").glob("*.wav"))[0]
    write_manifest([Clip(str(clip), "go", speaker, "train"),
                    Clip(str(stop), "stop", "not-a-real-speaker", "test")], tmp_path / "m.jsonl")
    cfg = demo_config("tcresnet", ("go", "stop"), None, 0)
    assert _heard_speakers(tmp_path / "m.jsonl", cfg) == [speaker]

    fig = {"accuracy": 0.5, "ci95": [0.2, 0.8], "n": 16}
    lines = figure_lines({"real": {**fig, "unseen": False, "speakers_in_training": [speaker]},
                          "test": {**fig, "what": "the test split of m.jsonl"},
                          "recipe": {"name": "tcresnet", "reason": "asked"}})
    assert lines[0] == ("accuracy on 16 real recordings (1 of their speakers also in training): "
                        "50.0 % [95 % CI 20.0-80.0 %] (n=16)")

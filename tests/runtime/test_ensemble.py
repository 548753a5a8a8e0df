"""Ensemble exports: members on different front ends, probabilities combined per clip."""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_run import run
from hypothesis import given, settings
from hypothesis import strategies as st
from tones import TONE_CONFIG, TONE_WORDS, tone_clip

from kwslab.config import DataConfig
from kwslab.errors import ConfigError, ModelError
from kwslab.export import export_ensemble
from kwslab.runtime import Ensemble, Recognizer, StreamDetector, load_export


@pytest.fixture(scope="module")
def ensemble(tone_run, second_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ens") / "export"
    export_ensemble([tone_run, second_run], out, int8=True)
    return out


def _clips(n: int = 12) -> np.ndarray:
    rng = np.random.default_rng(3)
    return np.stack([tone_clip(TONE_WORDS[i % 3], rng) for i in range(n)])


def test_ensemble_averages_its_members_on_two_front_ends(ensemble):
    ens = load_export(ensemble)
    assert isinstance(ens, Ensemble) and len(ens.members) == 2
    assert ens.members[0].features != ens.members[1].features  # two front ends
    clips = _clips()
    want = np.mean([m.probabilities(clips) for m in ens.members], axis=0)
    got = ens.probabilities(clips)
    assert got.shape == (len(clips), len(TONE_WORDS))
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-5)
    assert [ens.predict(c).label for c in clips] == [TONE_WORDS[i % 3] for i in range(12)]
    int8 = load_export(ensemble, int8=True)
    assert int8.meta["loaded"] == "int8" and int8.predict(clips[0]).label == TONE_WORDS[0]


def test_a_stream_scores_the_ensemble_on_whole_windows(ensemble):
    from kwslab.runtime import StreamConfig

    ens = load_export(ensemble)
    rng = np.random.default_rng(0)
    audio = np.concatenate([tone_clip(w, rng) for w in TONE_WORDS])  # 1 s each
    det = StreamDetector(ens, StreamConfig(smooth_ms=0))
    times, probs = det.posteriors(audio)
    ends = np.round(times * 16000).astype(int)  # each window's last sample
    windows = np.stack([np.pad(audio, (16000, 0))[e : e + 16000] for e in ends])
    np.testing.assert_allclose(probs, ens.probabilities(windows), atol=1e-5)
    again = StreamDetector(ens, StreamConfig(smooth_ms=0))
    cut = [again.posteriors(b) for b in np.array_split(audio, 7)]
    np.testing.assert_allclose(np.concatenate([p for _, p in cut]), probs, atol=1e-5)
    # each word's window, whole in view, is that word
    whole = [int(np.argmin(np.abs(ends - 16000 * (i + 1)))) for i in range(3)]
    assert [TONE_WORDS[int(probs[i].argmax())] for i in whole] == list(TONE_WORDS)


def test_a_changed_or_swapped_member_is_refused_in_one_line(ensemble, tone_export, tmp_path):
    copy = tmp_path / "ens"
    shutil.copytree(ensemble, copy)
    shutil.rmtree(copy / "member1")
    shutil.copytree(tone_export, copy / "member1")  # a valid export, but not the one exported
    with pytest.raises(ModelError, match="member1: this member is missing or is not the one"):
        load_export(copy)
    with pytest.raises(ModelError, match="is an ensemble of 2 exports; load it with"):
        Recognizer.load(ensemble)


def test_members_must_answer_the_same_words(tone_run, tone_data, tmp_path):
    from kwslab.training import train

    other = tmp_path / "two-words"
    train(replace(TONE_CONFIG, data=DataConfig(words=TONE_WORDS[:2]),
                  train=replace(TONE_CONFIG.train, epochs=1)), tone_data, other, progress=False)
    with pytest.raises(ModelError, match="labels .* differ"):
        export_ensemble([tone_run, other], tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written
    with pytest.raises(ModelError, match="at least two"):
        export_ensemble([tone_run], tmp_path / "out")


def test_cli_exports_an_ensemble_and_serve_answers_with_it(capsys, tone_run, second_run,
                                                               tmp_path):
    code, _, err = run(capsys, "export", tone_run, second_run)
    assert code != 0 and "needs --out" in err and "Traceback" not in err
    out = tmp_path / "ens"
    code, text, err = run(capsys, "export", tone_run, second_run, "--out", out)
    assert code == 0, err
    assert "ensemble of 2 models" in text
    meta = json.loads((out / "config.json").read_text())
    assert meta["kind"] == "ensemble" and [m["dir"] for m in meta["members"]] == [
        "member0", "member1"]

    from fastapi.testclient import TestClient

    from kwslab.serve import create_app

    clip = tone_clip("mid", np.random.default_rng(5))
    wav = io.BytesIO()
    sf.write(wav, clip, 16000, format="WAV", subtype="PCM_16")
    with TestClient(create_app(out)) as client:
        r = client.post("/v1/recognize", files={"file": ("a.wav", wav.getvalue())})
        info = client.get("/v1/model")
    assert r.status_code == 200, r.text
    assert r.json()["label"] == "mid"
    assert info.status_code == 200, info.text
    body = info.json()
    assert body["export"]["kind"] == "ensemble" and len(body["features"]["members"]) == 2


def test_saving_thresholds_into_an_ensemble_keeps_its_members(ensemble, tmp_path):
    from kwslab.artifacts import CONFIG, EXPORT, update_json

    copy = tmp_path / "ens"
    shutil.copytree(ensemble, copy)
    update_json(copy, EXPORT, CONFIG, {"thresholds": {"high": 0.9}})
    ens = load_export(copy)
    assert len(ens.members) == 2 and ens.thresholds == {"high": 0.9}


def _geometric(probs: list[np.ndarray]) -> np.ndarray:
    g = np.exp(np.mean(np.log(np.maximum(probs, 1e-9)), axis=0))
    return g / g.sum(-1, keepdims=True)


def test_a_geometric_ensemble_answers_and_streams_by_its_rule(tone_run, second_run, tmp_path):
    out = tmp_path / "geo"
    result = export_ensemble([tone_run, second_run], out, combine="geometric")
    assert result["combine"] == "geometric"
    assert json.loads((out / "config.json").read_text())["combine"] == "geometric"
    ens = load_export(out)
    assert ens.combine == "geometric"
    clips = _clips()
    members = [m.probabilities(clips) for m in ens.members]
    got = ens.probabilities(clips)
    np.testing.assert_allclose(got, _geometric(members), atol=1e-5)
    assert not np.allclose(got, np.mean(members, axis=0), atol=1e-3)  # the rule matters
    # a stream combines its members' windows by the same rule
    from kwslab.runtime import StreamConfig

    rng = np.random.default_rng(0)
    audio = np.concatenate([tone_clip(w, rng) for w in TONE_WORDS])
    times, probs = StreamDetector(ens, StreamConfig(smooth_ms=0)).posteriors(audio)
    ends = np.round(times * 16000).astype(int)
    windows = np.stack([np.pad(audio, (16000, 0))[e : e + 16000] for e in ends])
    np.testing.assert_allclose(probs, ens.probabilities(windows), atol=1e-5)


def test_an_ensemble_rule_is_checked_and_old_exports_keep_the_mean(ensemble, tone_run,
                                                                    second_run, tmp_path):
    with pytest.raises(ConfigError, match="unknown ensemble rule 'max'; valid: mean, geometric"):
        export_ensemble([tone_run, second_run], tmp_path / "out", combine="max")
    assert not (tmp_path / "out").exists()
    from kwslab.artifacts import CONFIG, EXPORT, update_json

    old = tmp_path / "old"
    shutil.copytree(ensemble, old)  # written before the choice: the rule in words
    update_json(old, EXPORT, CONFIG, {"combine": "mean of the members' probabilities"})
    ens = load_export(old)
    assert ens.combine == "mean"
    clips = _clips(4)
    np.testing.assert_allclose(ens.probabilities(clips),
                               np.mean([m.probabilities(clips) for m in ens.members], 0),
                               atol=1e-6)
    update_json(old, EXPORT, CONFIG, {"combine": "median"})
    with pytest.raises(ModelError, match="unknown ensemble rule 'median'.*export the ensemble"):
        load_export(old)


def test_cli_combine_is_an_ensembles_option(capsys, tone_run, second_run, tmp_path):
    code, _, err = run(capsys, "export", tone_run, "--out", tmp_path / "one", "--combine",
                       "geometric")
    assert code != 0 and "--combine is an ensemble's rule" in err and "Traceback" not in err
    assert not (tmp_path / "one").exists()
    code, _, err = run(capsys, "export", tone_run, second_run, "--out", tmp_path / "e",
                       "--combine", "vote")
    assert code != 0 and "unknown ensemble rule 'vote'" in err and "Traceback" not in err
    code, text, err = run(capsys, "export", tone_run, second_run, "--out", tmp_path / "e",
                          "--combine", "geometric")
    assert code == 0, err
    assert "geometric of their probabilities" in text
    assert load_export(tmp_path / "e").combine == "geometric"


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 5), st.integers(1, 4), st.integers(2, 6), st.integers(0, 2**31 - 1))
def test_either_rule_gives_probabilities_and_agrees_with_agreeing_members(n_members, batch,
                                                                          n_labels, seed):
    from kwslab.runtime.ensemble import combine

    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 8, (n_members, batch, n_labels))
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    probs[0, 0, 0] = 0.0  # a member sure a word is absent: no NaN, no veto to 0
    probs[0, 0] /= probs[0, 0].sum()
    for rule in ("mean", "geometric"):
        got = combine(list(probs), rule)
        assert got.shape == (batch, n_labels) and got.dtype == np.float32
        assert np.all(np.isfinite(got)) and np.all(got >= 0)
        np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-5)
        same = combine([probs[1]] * n_members, rule)  # members that agree: their answer
        np.testing.assert_allclose(same, probs[1], atol=1e-5)
    # the geometric rule never ranks a word above one every member ranks higher
    geo = combine(list(probs), "geometric")
    above = np.all(probs[:, :, :, None] > probs[:, :, None, :], axis=0)
    assert not np.any(above & (geo[:, :, None] < geo[:, None, :]))

"""Ensemble exports: members on different front ends, probabilities averaged per clip."""

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
from tones import TONE_CONFIG, TONE_WORDS, tone_clip

from kwslab.config import DataConfig
from kwslab.errors import ModelError
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

"""kwslab.runtime.Recognizer: torch-free, same features as training, same answers as torch."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from kwslab.errors import ModelError
from kwslab.runtime import Prediction, Recognizer

BLOCKER = textwrap.dedent("""
    import sys
    BLOCKED = ("torch", "librosa", "scipy", "optuna", "fastapi", "matplotlib")

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"blocked import of {name}")
            return None

    sys.meta_path.insert(0, Blocker())
""")


def test_runtime_needs_only_numpy_and_onnxruntime(tone_export):
    code = BLOCKER + textwrap.dedent(f"""
        import json
        import numpy as np
        from kwslab.runtime import Recognizer, StreamDetector
        r = Recognizer.load({str(tone_export)!r})
        label, probs = r.predict(np.zeros(16000, np.float32))
        StreamDetector(r).feed(np.zeros(48000, np.float32))
        heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set(BLOCKED))
        print(json.dumps({{"label": label, "heavy": heavy}}))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    assert result["label"] in ("low", "mid", "high")


def test_features_match_training_features(tone_export, tone_data):
    """The runtime's features of a file equal the training pipeline's (feature cache)."""
    from kwslab.audio import load_audio
    from kwslab.config import DataConfig
    from kwslab.data import load_clips
    from kwslab.data.cache import cached_features
    from kwslab.data.speechcommands import select_split

    r = Recognizer.load(tone_export)
    clips = select_split(load_clips(tone_data, DataConfig(words=tuple(r.labels))), "test")
    train_x, ok, _ = cached_features(clips, r.features)
    runtime_x = np.stack([r.compute(load_audio(c.path)) for c in ok])
    assert runtime_x.shape == (len(clips), *r.features.shape)
    np.testing.assert_allclose(runtime_x, train_x, rtol=0, atol=1e-5)


def test_predictions_match_torch(tone_export, tone_run, tone_data):
    from kwslab.evaluation import predict

    files = sorted((tone_data / "mid").glob("*.wav"))[:4] + sorted(
        (tone_data / "high").glob("*.wav"))[:4]
    want = predict(tone_run, files, top=3)
    r = Recognizer.load(tone_export)
    for w, f in zip(want, files, strict=True):
        got = r.predict_file(f)
        assert got.label == w["label"]
        for t in w["top"]:
            assert got.probabilities[t["label"]] == pytest.approx(t["probability"], abs=1e-5)


def test_predict_api(tone_export, tone_data):
    r = Recognizer.load(tone_export)
    assert r.labels == ["low", "mid", "high"] and r.sample_rate == 16000
    from kwslab.audio import load_audio

    wave = load_audio(sorted((tone_data / "low").glob("*.wav"))[-1])
    pred = r.predict(wave)
    assert isinstance(pred, Prediction)
    label, probs = pred
    assert label == "low" and list(probs) == r.labels
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
    assert r.predict(wave[:8000]).label in r.labels  # short clips are padded
    batch = r.probabilities(np.stack([wave, wave]))
    assert batch.shape == (2, 3) and np.allclose(batch[0], list(probs.values()), atol=1e-6)
    with pytest.raises(ValueError):
        r.predict(np.stack([wave, wave]))
    with pytest.raises(ValueError):
        r.predict(np.zeros(0, np.float32))
    assert Recognizer.load(tone_export, int8=True).predict(wave).label == "low"


def test_load_errors(tone_export, tone_run, tmp_path):
    import shutil

    from kwslab.artifacts import write_manifest

    with pytest.raises(ModelError, match="not a kwslab export folder: no manifest.json"):
        Recognizer.load(tmp_path)
    with pytest.raises(ModelError, match="is a run folder.*kwslab export"):
        Recognizer.load(tone_run)  # a training run folder, not an export
    bad = tmp_path / "bad"
    shutil.copytree(tone_export, bad)
    manifest = json.loads((bad / "manifest.json").read_text())
    (bad / "manifest.json").write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(ModelError, match="export format 99 is not the format"):
        Recognizer.load(bad)
    (bad / "model.onnx").write_bytes(b"not onnx")
    write_manifest(bad, "export")  # a consistent folder around a broken file
    with pytest.raises(ModelError, match="cannot load"):
        Recognizer.load(bad)


@pytest.fixture(scope="module")
def silence_export(tone_export, tmp_path_factory):
    """The tone export with its last label renamed ``_silence_`` (low, mid, _silence_): the
    same network, so only the silence rule can change an answer."""
    import shutil

    from kwslab.artifacts import update_json

    out = tmp_path_factory.mktemp("silence") / "export"
    shutil.copytree(tone_export, out)
    update_json(out, "export", "config.json", {"labels": ["low", "mid", "_silence_"]})
    return out


def noise(peak_dbfs: float, n: int = 16000, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(0, 1, n)
    return (x / np.abs(x).max() * 10 ** (peak_dbfs / 20)).astype(np.float32)


LOUD_START = np.zeros(48000, np.float32)
LOUD_START[:8000] = 0.5 * np.sin(2 * np.pi * 300 * np.arange(8000) / 16000)  # before the centre


@pytest.mark.parametrize("clip", [np.zeros(16000, np.float32), noise(-61), noise(-75, 4000),
                                  LOUD_START],
                         ids=["zeros", "noise -61 dBFS", "short quiet noise",
                              "3 s, silent centre second"])
def test_silent_clips_are_silence_where_the_model_has_it(silence_export, clip):
    r = Recognizer.load(silence_export)
    assert r.is_silence(clip)
    assert r.predict(clip) == ("_silence_", {"low": 0.0, "mid": 0.0, "_silence_": 1.0})


def test_the_model_answers_above_the_silence_level(silence_export, tone_export, tone_data):
    """Louder clips, and a long clip whose silent part is not the second the model hears,
    get the network's own answer, exactly as the same network without _silence_ gives it."""
    from kwslab.audio import load_audio

    r, plain = Recognizer.load(silence_export), Recognizer.load(tone_export)
    word = load_audio(sorted((tone_data / "low").glob("*.wav"))[-1])
    centred = np.concatenate([np.zeros(16000, np.float32), word, np.zeros(16000, np.float32)])
    for clip in (noise(-59), word, centred):
        assert not r.is_silence(clip)
        got, want = r.predict(clip), plain.predict(clip)
        np.testing.assert_allclose(list(got.probabilities.values()),
                                   list(want.probabilities.values()), atol=1e-6)
    assert r.predict(word).label == "low"
    # probabilities() is the network alone (the stream detector's path): no rule there
    np.testing.assert_allclose(r.probabilities(np.zeros(16000, np.float32)),
                               plain.probabilities(np.zeros(16000, np.float32)), atol=1e-6)


def test_models_without_silence_keep_the_network_answer_for_silent_clips(tone_export):
    r = Recognizer.load(tone_export)
    zeros = np.zeros(16000, np.float32)
    assert not r.is_silence(zeros)
    pred = r.predict(zeros)
    assert pred.label in ("low", "mid", "high")
    np.testing.assert_allclose(list(pred.probabilities.values()), r.probabilities(zeros),
                               atol=1e-6)

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

"""The Silero voice-activity model on real words and noise, chunked any way."""

from __future__ import annotations

import numpy as np
import pytest

from kwslab.audio import load_audio
from kwslab.errors import ModelError
from kwslab.features import embedding
from kwslab.runtime.vad import FRAME, VoiceActivity


@pytest.fixture(scope="module")
def vad_dir():
    return embedding.fetch(progress=False, vad=True)


@pytest.fixture(scope="module")
def words_in_noise(mini_data) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Real words at 10 dB in white noise, 2 s apart: audio and each word's sample span."""
    rng = np.random.default_rng(0)
    files = [sorted(mini_data.glob(f"{w}/*.wav"))[3] for w in ("go", "stop", "left", "up",
                                                                "off", "right")]
    spans, parts, pos = [], [], 0
    for f in files:
        word = load_audio(f)
        gap = rng.normal(0, 1, 32000)
        parts += [gap, word]
        spans.append((pos + 32000, pos + 48000))
        pos += 48000
    x = np.concatenate(parts + [rng.normal(0, 1, 32000)])
    speech = np.concatenate([load_audio(f) for f in files])
    noise = rng.normal(0, 1, len(x))
    noise *= np.sqrt(np.mean(speech**2) / 10) / noise.std()
    mask = np.zeros(len(x), bool)
    for a, b in spans:
        mask[a:b] = True
    return np.where(mask, x, 0) + noise.astype(np.float32), spans


def test_words_are_speech_and_noise_is_not(vad_dir, words_in_noise):
    x, spans = words_in_noise
    ends, probs = VoiceActivity.load(vad_dir).feed(x.astype(np.float32))
    assert len(ends) == len(x) // FRAME and np.all(np.diff(ends) == FRAME)
    for a, b in spans:
        assert probs[(ends > a) & (ends <= b + FRAME)].max() > 0.5
    between = np.ones(len(ends), bool)
    for a, b in spans:
        between &= (ends <= a - 4000) | (ends > b + 8000)
    between &= ends > 16000  # the state's first second
    assert probs[between].max() < 0.5


def test_chunking_does_not_change_the_answer(vad_dir, words_in_noise):
    x = words_in_noise[0].astype(np.float32)[:64000]
    whole = VoiceActivity.load(vad_dir).feed(x)
    vad, got, pos = VoiceActivity.load(vad_dir), [], 0
    for n in np.random.default_rng(1).integers(1, 3000, 100):
        got.append(vad.feed(x[pos : pos + n]))
        pos += n
    got.append(vad.feed(x[pos:]))
    np.testing.assert_array_equal(np.concatenate([e for e, _ in got]), whole[0])
    np.testing.assert_allclose(np.concatenate([p for _, p in got]), whole[1], atol=1e-5)


def test_a_folder_without_the_model_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("KWSLAB_MODELS", str(tmp_path / "models"))
    with pytest.raises(ModelError, match="kwslab fetch-model"):
        VoiceActivity.load(tmp_path)


class LoudRecognizer:
    """Duck-typed Recognizer: "word" whenever a window is loud, whatever the sound."""

    labels = ["word", "_silence_"]
    sample_rate = clip_samples = 16000
    meta = {"loaded": "fake"}

    def probabilities(self, windows: np.ndarray) -> np.ndarray:
        loud = (np.sqrt((windows**2).mean(-1)) > 0.02).astype(np.float32) * 0.9
        return np.stack([loud, 1 - loud], axis=1)


def test_the_gate_lets_speech_fire_and_not_a_beep(vad_dir, mini_data):
    """A spoken word and an alarm-like beep, 3.5 s apart in quiet noise: both fire without
    the gate; with it only the word does."""
    from kwslab.runtime import StreamConfig, StreamDetector

    rng = np.random.default_rng(2)
    x = rng.normal(0, 0.002, 16000 * 7).astype(np.float32)
    x[16000:32000] += load_audio(sorted(mini_data.glob("stop/*.wav"))[0])
    t = np.arange(8000) / 16000
    x[72000:80000] += (0.3 * np.sign(np.sin(2 * np.pi * 1000 * t))).astype(np.float32)
    found = {}
    for vad in (0.0, 0.5):
        det = StreamDetector(LoudRecognizer(), StreamConfig(vad_threshold=vad, smooth_ms=0))
        found[vad] = [d.time for d in det.feed(x) + det.flush()]
    assert len(found[0.0]) == 2 and found[0.0][0] < 3.0 < found[0.0][1]
    assert len(found[0.5]) == 1 and found[0.5][0] < 3.0


def test_a_gate_outside_zero_to_one_is_refused():
    from kwslab.errors import KwslabError
    from kwslab.runtime import StreamConfig, StreamDetector

    with pytest.raises(KwslabError, match="VAD threshold"):
        StreamDetector(LoudRecognizer(), StreamConfig(vad_threshold=1.5))


class EmbeddingLoud(LoudRecognizer):
    """Duck-typed Recognizer on the real speech_embedding front end (so the stream uses the
    incremental front end, whose windows carry context): "word" for every window."""

    from kwslab.config import DEFAULT

    features = DEFAULT.features

    def __init__(self, front_end):
        self.front_end = front_end

    def probabilities(self, feats: np.ndarray) -> np.ndarray:
        return np.tile(np.array([0.9, 0.1], np.float32), (len(feats), 1))


@pytest.mark.parametrize("chunk", [500, 1280, 1600, 7919])
def test_the_gate_does_not_depend_on_the_chunking(vad_dir, words_in_noise, chunk):
    """With the embedding front end a window is reported before its right context has been
    fed; the gate still sees the same VAD frames however the audio is cut."""
    from kwslab.runtime import StreamConfig, StreamDetector

    x = words_in_noise[0].astype(np.float32)[: 16000 * 8]
    cfg = StreamConfig(vad_threshold=0.5, smooth_ms=0)
    whole = StreamDetector(EmbeddingLoud(vad_dir), cfg)
    t_whole, p_whole = whole.posteriors(x)
    det, times, probs = StreamDetector(EmbeddingLoud(vad_dir), cfg), [], []
    for start in range(0, len(x), chunk):
        t, p = det.posteriors(x[start : start + chunk])
        times.append(t)
        probs.append(p)
    np.testing.assert_array_equal(np.concatenate(times), t_whole)
    np.testing.assert_array_equal(np.concatenate(probs), p_whole)
    assert 0 < (p_whole[:, 0] > 0).sum() < len(p_whole)  # the gate opened and closed


def test_the_gate_refuses_a_model_that_is_not_16_khz():
    from kwslab.errors import KwslabError
    from kwslab.runtime import StreamConfig, StreamDetector

    class Slow(LoudRecognizer):
        sample_rate = clip_samples = 8000

    with pytest.raises(KwslabError, match="16 kHz"):
        StreamDetector(Slow(), StreamConfig(vad_threshold=0.5))


def test_stream_cli_gate_without_a_vad_is_one_line(tone_export, tmp_path, monkeypatch,
                                                   capsys):
    """`kwslab stream --vad-threshold` where neither the export nor the cache has the VAD."""
    import soundfile as sf
    from cli_run import run

    monkeypatch.setenv("KWSLAB_MODELS", str(tmp_path / "nowhere"))
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(32000, np.float32), 16000)
    code, _, err = run(capsys, "stream", tone_export, wav, "--vad-threshold", "0.5")
    assert code != 0 and "kwslab fetch-model" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    code, out, err = run(capsys, "stream", tone_export, wav, "--vad-threshold", "0")
    assert code == 0

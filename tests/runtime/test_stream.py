"""Streaming detection: timing, smoothing, refractory time, chunking, bounded memory, CLIs.

A band-energy "recogniser" (``tone_streams.BandRecognizer``) stands in for a model where the
test is about the detector, so results are exact; the real exported model runs through the
CLI tests and the real front end through the shared-front-end tests.
"""

from __future__ import annotations

import json
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from tone_streams import SR, BandRecognizer, negatives_with_mid_tones, tone_clip, tone_stream

from kwslab.cli import main
from kwslab.errors import KwslabError
from kwslab.runtime import StreamConfig, StreamDetector, detect_file
from kwslab.runtime.stream import Trigger


def test_detects_each_word_once_at_its_time():
    rng = np.random.default_rng(0)
    words = ["low", "mid", "high", "mid", "low", "high", "high"]
    x, starts = tone_stream(words, rng)
    det = StreamDetector(BandRecognizer(), StreamConfig(threshold=0.6))
    found = det.feed(x) + det.flush()
    assert [d.label for d in found] == words
    for d, s in zip(found, starts, strict=True):
        assert s < d.time < s + 1.0 + 1.0 + 0.3  # the window overlaps the clip
        assert d.score >= 0.6


def test_chunk_size_does_not_change_anything():
    rng = np.random.default_rng(1)
    x, _ = tone_stream(["high", "low", "mid"], rng)
    whole = StreamDetector(BandRecognizer(), StreamConfig(threshold=0.6))
    t_all, p_all = whole.posteriors(x)
    want = whole.trigger.step(t_all, p_all)
    det = StreamDetector(BandRecognizer(), StreamConfig(threshold=0.6), batch=7)
    times, probs, got = [], [], []
    pos = 0
    while pos < len(x):
        n = int(rng.integers(1, 5000))
        t, p = det.posteriors(x[pos : pos + n])
        got += det.trigger.step(t, p)
        times.append(t)
        probs.append(p)
        pos += n
    np.testing.assert_allclose(np.concatenate(times), t_all)
    np.testing.assert_allclose(np.concatenate(probs), p_all, atol=1e-6)
    assert got == want and len(want) == 3
    assert t_all[0] == pytest.approx(0.1) and np.allclose(np.diff(t_all), 0.1)


def test_smoothing_is_a_moving_average():
    det = StreamDetector(BandRecognizer(), StreamConfig(hop_ms=100, smooth_ms=300))
    p = np.random.default_rng(2).random((10, 4)).astype(np.float32)
    got = np.concatenate([det._smooth(0, p[:4]), det._smooth(0, p[4:5]), det._smooth(0, p[5:])])
    want = [p[max(0, i - 2) : i + 1].mean(0) for i in range(10)]
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_trigger_threshold_refractory_rearm_and_ignore():
    labels = ["go", "stop", "_silence_"]
    cfg = StreamConfig(threshold=0.5, refractory_ms=1000, word_thresholds=(("stop", 0.9),))
    times = np.arange(1, 31) / 10
    p = np.zeros((30, 3), np.float32)
    p[:, 2] = 1.0  # silence is never a detection
    p[2:5, 0] = 0.7  # go: fires at 0.3 s
    p[6:8, 0] = 0.7  # go again at 0.7 s: inside the refractory time, suppressed
    p[14:26, 0] = 0.8  # go at 1.5 s, then stays high: not re-fired without dropping
    p[27, 1] = 0.85  # stop below its own 0.9 threshold
    p[28, 1] = 0.95  # stop fires at 2.9 s
    found = Trigger(labels, cfg).step(times, p)
    assert [(round(d.time, 1), d.label) for d in found] == [(0.3, "go"), (1.5, "go"),
                                                          (2.9, "stop")]
    with pytest.raises(Exception, match="not a label"):
        Trigger(labels, StreamConfig(word_thresholds=(("yes", 0.5),)))


def _write_minutes(path: Path, minutes: int, rng: np.random.Generator) -> None:
    with sf.SoundFile(path, "w", samplerate=SR, channels=1, subtype="PCM_16") as f:
        for _ in range(minutes):
            block, _ = tone_stream(["low"] * 19 + ["high"], rng, gap_s=3.0)
            f.write(block[: 60 * SR])


def _peak_bytes(path: Path) -> tuple[int, int]:
    tracemalloc.start()
    det = StreamDetector(BandRecognizer(), StreamConfig(threshold=0.6))
    n = sum(1 for _ in detect_file(det, path))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, n


def test_long_file_memory_stays_flat(tmp_path):
    """Memory does not grow with length: 12 minutes peak as high as 2 minutes do."""
    rng = np.random.default_rng(3)
    _write_minutes(tmp_path / "short.wav", 2, rng)
    _write_minutes(tmp_path / "long.wav", 12, rng)
    short_peak, short_n = _peak_bytes(tmp_path / "short.wav")
    long_peak, long_n = _peak_bytes(tmp_path / "long.wav")
    assert (short_n, long_n) == (40, 240)
    assert long_peak < 1.1 * short_peak, (short_peak, long_peak)
    assert long_peak < 12 * 60 * SR * 4 / 2  # far below the file as float32 (46 MB)


def test_resampled_and_stereo_files_stream(tmp_path):
    rng = np.random.default_rng(4)
    x, starts = tone_stream(["mid", "high"], rng)
    import soxr

    y = soxr.resample(x, SR, 44100).astype(np.float32)
    sf.write(tmp_path / "s.wav", np.stack([y, y], 1), 44100)
    found = list(detect_file(StreamDetector(BandRecognizer(), StreamConfig(threshold=0.6)),
                             tmp_path / "s.wav", block_seconds=0.37))
    assert [d.label for d in found] == ["mid", "high"]


def test_cli_stream_and_eval_stream(tone_export, tone_data, tmp_path, capsys, monkeypatch):
    rng = np.random.default_rng(5)
    x, _ = tone_stream(["low", "high"], rng)
    sf.write(tmp_path / "s.wav", x, SR)
    with pytest.raises(SystemExit) as e:
        main(["stream", str(tone_export), str(tmp_path / "s.wav"), "--json", "--threshold",
              "0.5"])
    assert e.value.code in (0, None)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines and all(set(d) == {"time", "label", "score"} for d in lines)
    assert all(d["label"] in ("low", "mid", "high") for d in lines)

    with pytest.raises(SystemExit) as e:
        main(["eval-stream", str(tone_export), "--data", str(tone_data), "--out",
              str(tmp_path / "ev")])
    assert e.value.code in (0, None)
    det = json.loads((tmp_path / "ev" / "det.json").read_text())
    assert det["stream"]["snr_db"] == 10.0 and (tmp_path / "ev" / "det.png").is_file()
    assert det["stream"]["window_hop_ms"] == det["detector"]["hop_ms"] == 100.0
    capsys.readouterr()

    # A run or export folder is not an --out: det.json would sit among the model's files.
    with pytest.raises(SystemExit) as e:
        main(["eval-stream", str(tone_export), "--data", str(tone_data), "--out",
              str(tone_export)])
    assert e.value.code == 2 and "is a run, export or search folder" in capsys.readouterr().err
    assert not (tone_export / "det.json").exists()

    # Nothing fired: said, not an empty screen (this tone model fires on any sound, so the
    # detector is told to find nothing).
    import kwslab.runtime

    long_name = tmp_path / ("a-recording-with-a-long-name-" * 3 + ".wav")
    long_name.write_bytes((tmp_path / "s.wav").read_bytes())
    with monkeypatch.context() as m:
        m.setattr(kwslab.runtime, "detect_file", lambda det, path: iter(()))
        with pytest.raises(SystemExit) as e:
            main(["stream", str(tone_export), str(long_name)])
    assert e.value.code in (0, None)
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err == f"no detections in {long_name}\n"  # one line, even in a pipe

    # With negative audio, every point of the curve also has the rate on the negatives alone.
    neg = negatives_with_mid_tones(tmp_path / "neg", rng, [3, 3, 0, 0])
    with pytest.raises(SystemExit) as e:
        main(["eval-stream", str(tone_export), "--data", str(tone_data), "--negatives",
              str(neg), "--out", str(tmp_path / "ev2")])
    assert e.value.code in (0, None)
    out = capsys.readouterr().out
    assert "+ 0.01 h of negative audio (2 test files" in out
    det = json.loads((tmp_path / "ev2" / "det.json").read_text())
    hours = det["negatives"]["hours"]
    assert all(p["fa_per_hour_negatives"] == p["false_accepts_negatives"] / hours
               for p in det["det"])


def test_cli_stream_errors_are_one_line(tone_export, tmp_path, capsys):
    cut_short = tmp_path / "cut-short.flac"  # its header reads; decoding breaks part-way
    sf.write(cut_short, np.random.default_rng(0).normal(0, 0.1, SR * 120), SR)
    cut_short.write_bytes(cut_short.read_bytes()[:300_000])
    for argv in (["stream", str(tone_export), "--mic"],  # no PortAudio / no device here
                 ["stream", str(tone_export), str(cut_short)],
                 ["stream", str(tone_export)],
                 ["stream", str(tone_export), str(tmp_path / "missing.wav")],
                 ["stream", str(tmp_path), str(tmp_path / "missing.wav")]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        err = capsys.readouterr().err.strip()
        assert e.value.code == 2, (argv, err)
        assert err.startswith("error:") and len(err.splitlines()) == 1, err


class LinearHead:
    """Duck-typed Recognizer on the real speech_embedding front end with a fixed linear head."""

    sample_rate = clip_samples = SR
    meta = {"loaded": "fake"}

    def __init__(self, labels, seed):
        from kwslab.config import DEFAULT

        self.labels = labels
        self.features = DEFAULT.features
        self.front_end = None  # the default model folder
        self.w = np.random.default_rng(seed).normal(0, 0.05, (96 * 9, len(labels)))

    def compute(self, samples):
        from kwslab.features import compute_features

        return compute_features(samples, self.features)

    def run(self, feats):
        z = feats.reshape(len(feats), -1) @ self.w
        e = np.exp(z - z.max(1, keepdims=True))
        return (e / e.sum(1, keepdims=True)).astype(np.float32)


def test_embedding_models_share_one_incremental_front_end(mini_data):
    """Two heads over one front end: each gets the posteriors of its own head on the
    whole-window features, every 80 ms, for any chunking."""
    from kwslab.audio import load_audio
    from kwslab.features import embedding
    from kwslab.runtime.frontend import EmbeddingStream

    embedding.fetch(progress=False)
    x = np.concatenate([load_audio(f) for f in sorted(mini_data.glob("stop/*.wav"))[:4]])
    heads = [LinearHead(["go", "stop"], 0), LinearHead(["left", "up", "_silence_"], 1)]
    det = StreamDetector(heads, StreamConfig(smooth_ms=0, hop_ms=80))
    assert isinstance(det.front, EmbeddingStream) and det.hop == 1280
    rng = np.random.default_rng(3)
    times, scores, pos = [], [[], []], 0
    while pos < len(x):
        n = int(rng.integers(100, 6000))
        t, per_model = det.all_posteriors(x[pos : pos + n])
        times.append(t)
        for i, s in enumerate(per_model):
            scores[i].append(s)
        pos += n
    _, feats = EmbeddingStream(heads[0].features).feed(x)
    for head, got in zip(heads, scores, strict=True):
        np.testing.assert_allclose(np.concatenate(got), head.run(feats), atol=1e-4)
    assert np.allclose(np.diff(np.concatenate(times)), 0.08)


def test_models_sharing_a_stream_keep_their_own_thresholds_and_ignored_words():
    """One detector for two models with their own configs fires as two detectors would; the
    settings the shared windows depend on must agree."""
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.normal(0, 0.003, SR * 2).astype(np.float32)] +
                       [np.concatenate([tone_clip(w, rng), rng.normal(0, 0.003, SR * 2)])
                        for w in ("low", "mid", "high", "low")]).astype(np.float32)
    base = StreamConfig(threshold=0.6)
    configs = [replace(base, ignore=(*base.ignore, "high")),
               replace(base, ignore=(*base.ignore, "low", "mid"), threshold=0.5)]
    shared = StreamDetector([BandRecognizer(), BandRecognizer()], base, per_model=configs)
    alone = [StreamDetector(BandRecognizer(), c) for c in configs]
    got = [d for d in shared.feed(x) + shared.flush()]
    want = sorted([d for det in alone for d in det.feed(x) + det.flush()],
                  key=lambda d: d.time)
    assert got == want and {d.label for d in got} == {"low", "mid", "high"}
    with pytest.raises(KwslabError, match="same hop, smoothing"):
        StreamDetector([BandRecognizer()] * 2, base,
                       per_model=[base, replace(base, smooth_ms=100)])


def _feed_randomly(det: StreamDetector, x: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    got, pos = [], 0
    while pos < len(x):
        n = int(rng.integers(100, 6000))
        got.append(det.posteriors(x[pos : pos + n])[1])
        pos += n
    return np.concatenate(got)


def test_an_ensemble_of_heads_streams_on_one_incremental_front_end(mini_data, tmp_path):
    """An ensemble whose members are heads on the same speech_embedding front end streams on
    one EmbeddingStream (also when each member has its own copy of the front end, as in an
    ensemble export): its posteriors are the mean of its heads' on the whole-window features,
    every 80 ms, for any chunking."""
    import shutil

    from kwslab.audio import load_audio
    from kwslab.features import embedding
    from kwslab.runtime import Ensemble
    from kwslab.runtime.frontend import EmbeddingStream

    embedding.fetch(progress=False)
    x = np.concatenate([load_audio(f) for f in sorted(mini_data.glob("up/*.wav"))[:4]])
    labels = ["go", "up", "_unknown_"]
    heads = [LinearHead(labels, 0), LinearHead(labels, 1), LinearHead(labels, 2)]
    heads[2].front_end = shutil.copytree(embedding.resolve(None), tmp_path / "copy")
    det = StreamDetector(Ensemble(heads, {}), StreamConfig(smooth_ms=0, hop_ms=80))
    assert isinstance(det.front, EmbeddingStream) and det.hop == 1280
    _, feats = EmbeddingStream(heads[0].features).feed(x)
    want = np.mean([h.run(feats) for h in heads], axis=0)
    np.testing.assert_allclose(_feed_randomly(det, x, 5), want, atol=1e-4)
    assert not np.allclose(want, heads[0].run(feats), atol=1e-3)  # the heads differ


def test_an_ensemble_of_heads_computes_their_shared_features_once(mini_data, tmp_path):
    """Whole clips: heads on one front end (even each with its own copy of it, as in an
    ensemble export) share one feature computation; the answer is their mean."""
    import shutil

    from kwslab.audio import load_audio
    from kwslab.features import compute_features, embedding
    from kwslab.runtime import Ensemble

    embedding.fetch(progress=False)
    labels = ["go", "up", "_unknown_"]
    heads = [LinearHead(labels, 0), LinearHead(labels, 1)]
    heads[1].front_end = shutil.copytree(embedding.resolve(None), tmp_path / "copy")
    calls = []
    for h in heads:
        h.compute = lambda x, h=h, f=h.compute: calls.append(h) or f(x)
    clips = np.stack([load_audio(f) for f in sorted(mini_data.glob("go/*.wav"))[:3]])
    ens = Ensemble(heads, {})
    got = ens.probabilities(clips)
    assert len(calls) == 1
    want = np.mean([h.run(compute_features(clips, h.features)) for h in heads], axis=0)
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(ens.probabilities(clips[0]), want[0], atol=1e-5)


def test_an_ensemble_on_two_front_ends_streams_each_aligned_on_the_same_second(mini_data,
                                                                                 tone_export):
    """A head on speech_embedding (1.5 s windows: 250 ms of context each side) and a log-Mel
    model (1 s windows) stream side by side, each on its incremental front end: window k of
    both classifies the same second, and the posteriors are the mean of the head's on that
    window and the log-Mel model's on its centre second, for any chunking."""
    from kwslab.audio import load_audio
    from kwslab.features import embedding
    from kwslab.runtime import Ensemble, Recognizer
    from kwslab.runtime.frontend import AlignedFronts, EmbeddingStream, MelStream

    embedding.fetch(progress=False)
    x = np.concatenate([load_audio(f) for f in sorted(mini_data.glob("go/*.wav"))[:4]])
    mel = Recognizer.load(tone_export)
    head = LinearHead(mel.labels, 0)
    det = StreamDetector(Ensemble([head, mel], {}), StreamConfig(smooth_ms=0, hop_ms=80))
    assert isinstance(det.front, AlignedFronts) and det.hop == 1280
    kinds = [type(f) for f in det.front.fronts]
    assert kinds == [EmbeddingStream, MelStream] and det.front.delays == [0, 4000]
    got = _feed_randomly(det, x, 9)
    ends, feats = EmbeddingStream(head.features).feed(x)
    padded = np.concatenate([np.zeros(24000 - 1280, np.float32), x])  # the stream's priming
    centre = np.stack([padded[e + 22720 - 20000 : e + 22720 - 4000] for e in ends])
    want = (head.run(feats) + mel.probabilities(centre)) / 2
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert len(got) == len(ends) == len(x) // 1280


def test_saved_thresholds_say_when_the_stream_runs_with_other_settings(tone_export, tmp_path,
                                                                        capsys):
    """Thresholds chosen at one smoothing hold their false-accept rate only there: a stream
    with other settings gets a one-line warning, the same settings none."""
    import shutil

    from cli_run import run

    from kwslab.artifacts import update_json
    from kwslab.runtime import Recognizer

    export = tmp_path / "export"
    shutil.copytree(tone_export, export)
    update_json(export, "export", "config.json", {
        "thresholds": {"low": 0.7}, "thresholds_chosen_for": {
            "target_fa_per_hour": 0.5, "detector": {"hop_ms": 100.0, "smooth_ms": 300.0,
                                                    "vad_threshold": 0.0}}})
    rec = Recognizer.load(export)
    assert StreamDetector(rec).threshold_mismatch() is None
    line = StreamDetector(rec, StreamConfig(smooth_ms=0)).threshold_mismatch()
    assert line and "smooth_ms 300 (now 0)" in line
    assert StreamDetector(rec, StreamConfig(smooth_ms=0, export_thresholds=False)
                          ).threshold_mismatch() is None
    wav = tmp_path / "quiet.wav"
    sf.write(wav, np.zeros(32000, np.float32), 16000)
    code, _, err = run(capsys, "stream", export, wav, "--smooth-ms", "0")
    assert code == 0 and "smooth_ms 300 (now 0)" in err

"""The incremental speech_embedding front end gives the whole-window features, in bounded
memory, whatever the chunking; several models share it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from kwslab.audio import load_audio
from kwslab.config import DEFAULT, SEED, TCRESNET
from kwslab.features import compute_features, embedding
from kwslab.runtime.frontend import EMBEDDING_HOP, EmbeddingStream, MelStream, WindowStream


@pytest.fixture(scope="module")
def real_model():
    return embedding.fetch(progress=False)


@pytest.fixture(scope="module")
def speech(mini_data) -> np.ndarray:
    """~6 s of real words with gaps, in quiet noise."""
    rng = np.random.default_rng(0)
    files = sorted(mini_data.glob("go/*.wav"))[:3] + sorted(mini_data.glob("left/*.wav"))[:3]
    parts = []
    for f in files:
        parts += [rng.normal(0, 0.003, int(rng.integers(2000, 9000))), load_audio(f)]
    return np.concatenate(parts).astype(np.float32)


def _stream_windows(stream: EmbeddingStream, x: np.ndarray, chunks: list[int]):
    ends, feats, pos = [], [], 0
    for n in chunks:
        e, f = stream.feed(x[pos : pos + n])
        pos += n
        ends.append(e)
        feats.append(f)
    e, f = stream.feed(x[pos:])
    return np.concatenate([*ends, e]), np.concatenate([*feats, f])


@pytest.mark.parametrize("staged", [True, False], ids=["staged", "windows"])
@pytest.mark.parametrize("chunking", ["80ms", "random", "one"])
def test_streamed_windows_equal_whole_window_features(real_model, speech, chunking, staged):
    """Streamed features equal whole-window ones, with the embedding network run stage by
    stage on new positions only, and with whole windows (the fallback without the stages)."""
    cfg = DEFAULT.features
    stream = EmbeddingStream(cfg)
    assert stream._staged is not None  # the real network splits into its stages
    if not staged:
        stream._staged = None
        stream.reset()
    rng = np.random.default_rng(1)
    sizes = {"80ms": [EMBEDDING_HOP] * (len(speech) // EMBEDDING_HOP),
             "random": list(rng.integers(1, 5000, 40)), "one": []}[chunking]
    ends, feats = _stream_windows(stream, speech, sizes)
    window = cfg.clip_samples + 2 * cfg.context_samples  # 24,000: the clip and its context
    # A window's last 1,248 samples feed no embedding, so it is ready that much early.
    used = (embedding.n_embeddings(cfg.clip_samples, cfg.context_samples) - 1) * \
        EMBEDDING_HOP + (embedding.WINDOW - 1) * embedding.HOP + embedding.N_FFT
    assert len(ends) == (len(speech) + window - used) // EMBEDDING_HOP
    assert np.all(np.diff(ends) == EMBEDDING_HOP) and ends[0] == EMBEDDING_HOP
    padded = np.concatenate([np.zeros(window - EMBEDDING_HOP, np.float32), speech,
                             np.zeros(window, np.float32)])
    for end, got in list(zip(ends, feats, strict=True))[::7]:
        start = end + window - EMBEDDING_HOP - window  # in padded coordinates
        whole = embedding.speech_embedding(padded[None, start : start + window], 0)[0]
        np.testing.assert_allclose(got, whole, rtol=0, atol=2e-4)


def test_training_window_of_a_recording_equals_the_streams(real_model, speech, tmp_path):
    """A 1 s cut of a long recording (a negative, a mined false accept) trains on the features
    the stream computed for the window around it: the recording's real audio as the front
    end's context, through the feature cache's training path, not the silence a lone clip
    gets (which differs)."""
    from kwslab.audio import write_wav
    from kwslab.data.cache import cached_features
    from kwslab.data.manifest import Clip

    cfg = DEFAULT.features
    write_wav(tmp_path / "speech.wav", speech)
    recording = load_audio(tmp_path / "speech.wav")  # 16-bit, as a file holds it
    ends, feats = _stream_windows(EmbeddingStream(cfg), recording, [])
    window, n = cfg.clip_samples + 2 * cfg.context_samples, cfg.clip_samples
    picks = [i for i, e in enumerate(ends) if e - window >= -4000][:: 9]  # one starts early
    assert any(ends[i] - window < 0 for i in picks) and len(picks) >= 5
    # Mining's cut: the central second of the window that fired (see mine_hard_negatives).
    cuts = [Clip(str(tmp_path / "speech.wav"), "_unknown_", "neg", "train",
                 int(ends[i]) - cfg.context_samples - n, n) for i in picks
            if ends[i] - cfg.context_samples - n >= 0]
    got, ok, bad = cached_features(cuts, cfg, use_cache=False, neighbours=True)
    assert not bad and len(ok) == len(cuts) >= 4
    stream = feats[[i for i in picks if ends[i] - cfg.context_samples - n >= 0]]
    np.testing.assert_allclose(got, stream, rtol=0, atol=2e-4)
    lone, _, _ = cached_features(cuts, cfg, use_cache=False)
    assert np.abs(lone - stream).max() > 0.1  # zeros around the clip are not the stream


def test_memory_stays_bounded(real_model):
    stream = EmbeddingStream(DEFAULT.features)
    rng = np.random.default_rng(2)
    for _ in range(30):  # 30 x 1 s
        stream.feed(rng.normal(0, 0.05, 16000).astype(np.float32))
        assert len(stream._audio) < embedding.N_FFT + embedding.HOP
        assert len(stream._frames) < embedding.WINDOW + embedding.STEP
        staged = stream._staged
        for i, (kept, (_, receptive, stride)) in enumerate(zip(staged._kept, staged.stages,
                                                               strict=True)):
            assert kept.shape[1 if i == 0 else 2] < receptive + stride  # time axis
        assert len(stream._embeddings) == stream.k


def test_every_n_embeddings_scores_fewer_windows(real_model, speech):
    one = EmbeddingStream(DEFAULT.features)
    two = EmbeddingStream(DEFAULT.features, every=2)
    e1, f1 = one.feed(speech)
    e2, f2 = two.feed(speech)
    assert two.hop == 2 * EMBEDDING_HOP and set(e2) <= set(e1)
    i = np.searchsorted(e1, e2)
    np.testing.assert_allclose(f2, f1[i], atol=1e-5)


MEL_CONFIGS = {
    "tcresnet": TCRESNET.features,  # 40 x 101 log-Mel
    "student": SEED.features,  # db_max per clip, resized to 32 x 32, flattened
    "mfcc": replace(TCRESNET.features, kind="mfcc", n_mfcc=13),
}


@pytest.mark.parametrize("hop_frames", [10, 29])
@pytest.mark.parametrize("name", list(MEL_CONFIGS))
def test_mel_stream_equals_whole_clip_features(speech, name, hop_frames):
    """Each window's features equal compute_features of the same second, whatever the
    chunking, though only its edge frames are recomputed."""
    cfg = MEL_CONFIGS[name]
    hop = hop_frames * cfg.hop_length
    rng = np.random.default_rng(3)
    stream = MelStream(cfg, hop)
    ends, feats = _stream_windows(stream, speech, list(rng.integers(1, 6000, 30)))
    assert len(ends) == len(speech) // hop and np.all(np.diff(ends) == hop)
    padded = np.concatenate([np.zeros(cfg.clip_samples - hop, np.float32), speech])
    clips = np.stack([padded[e - hop : e - hop + cfg.clip_samples] for e in ends])
    want = compute_features(clips, cfg)
    scale = np.abs(want).max()
    np.testing.assert_allclose(feats, want, rtol=0, atol=1e-4 * scale)
    windows = WindowStream(cfg.clip_samples, hop, lambda w: compute_features(w, cfg))
    _, same = _stream_windows(windows, speech, [])
    np.testing.assert_allclose(feats, same, rtol=0, atol=1e-4 * scale)


def test_mel_stream_memory_stays_bounded():
    cfg = TCRESNET.features
    stream = MelStream(cfg, 1600)
    rng = np.random.default_rng(4)
    for _ in range(30):
        stream.feed(rng.normal(0, 0.05, 16000).astype(np.float32))
        assert len(stream._buf) < cfg.clip_samples
        assert stream._cache.shape[1] <= cfg.n_frames


def test_mel_stream_refuses_a_hop_off_the_frame_grid():
    with pytest.raises(ValueError, match="multiple of 160"):
        MelStream(TCRESNET.features, 1000)
    short = replace(TCRESNET.features, n_fft=2048, win_length=2048, clip_samples=1500)
    assert MelStream.fits(TCRESNET.features, 1600) and not MelStream.fits(short, 160)


def test_stream_detector_picks_the_incremental_front_end(tone_export):
    """A log-Mel model streams through MelStream when the hop is a whole number of frames,
    and through WindowStream otherwise; both give the same posteriors."""
    from kwslab.runtime import Recognizer, StreamConfig, StreamDetector

    rec = Recognizer.load(tone_export)
    frame_ms = 1000 * rec.features.hop_length / rec.sample_rate
    on_grid = StreamDetector(rec, StreamConfig(hop_ms=10 * frame_ms, smooth_ms=0))
    assert isinstance(on_grid.front, MelStream)
    whole = StreamDetector(rec, StreamConfig(hop_ms=10 * frame_ms, smooth_ms=0))
    whole.front = WindowStream(rec.clip_samples, whole.front.hop, rec.compute)
    off_grid = StreamDetector(rec, StreamConfig(hop_ms=10 * frame_ms + 1, smooth_ms=0))
    assert isinstance(off_grid.front, WindowStream)
    x = np.random.default_rng(5).normal(0, 0.1, 3 * rec.sample_rate).astype(np.float32)
    (t1, p1), (t2, p2) = on_grid.posteriors(x), whole.posteriors(x)
    np.testing.assert_array_equal(t1, t2)
    assert len(t1) == 3 * 10 and np.abs(p1 - p2).max() < 1e-4

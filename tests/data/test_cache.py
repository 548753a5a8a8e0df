"""The feature cache skips work on a second run and notices changed files."""

from __future__ import annotations

import numpy as np

from kwslab.audio import write_wav
from kwslab.config import TCRESNET
from kwslab.data import cache as cache_mod
from kwslab.data.cache import cached_features
from kwslab.data.manifest import Clip


def _clips(tmp_path, n=3):
    rng = np.random.default_rng(0)
    clips = []
    for i in range(n):
        p = tmp_path / f"w/spk{i}_nohash_0.wav"
        write_wav(p, rng.normal(0, 0.1, 16000).astype(np.float32))
        clips.append(Clip(str(p), "w", f"spk{i}", "test"))
    return clips


def test_second_call_reads_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KWSLAB_CACHE", str(tmp_path / "cache"))
    clips = _clips(tmp_path)
    first, ok, bad = cached_features(clips, TCRESNET.features)
    assert first.shape == (3, 40, 101) and len(ok) == 3 and not bad

    def boom(*a, **k):
        raise AssertionError("features recomputed despite the cache")

    monkeypatch.setattr(cache_mod, "compute_features", boom)
    second, _, _ = cached_features(clips, TCRESNET.features)
    np.testing.assert_array_equal(first, second)


def test_changed_content_or_config_misses(tmp_path, monkeypatch):
    monkeypatch.setenv("KWSLAB_CACHE", str(tmp_path / "cache"))
    clips = _clips(tmp_path)
    first, _, _ = cached_features(clips, TCRESNET.features)
    write_wav(clips[0].path, np.zeros(16000, np.float32) + 0.01)
    again, _, _ = cached_features(clips, TCRESNET.features)
    assert not np.allclose(first[0], again[0])
    np.testing.assert_array_equal(first[1:], again[1:])
    calls = []
    real = cache_mod.compute_features
    monkeypatch.setattr(cache_mod, "compute_features",
                        lambda w, c: calls.append(len(w)) or real(w, c))
    from dataclasses import replace

    cached_features(clips, replace(TCRESNET.features, n_mels=20))
    assert calls == [3]


def test_unreadable_clip_is_reported_and_skipped(tmp_path, monkeypatch):
    monkeypatch.setenv("KWSLAB_CACHE", str(tmp_path / "cache"))
    clips = _clips(tmp_path)
    bad = tmp_path / "w/bad_nohash_0.wav"
    bad.write_bytes(b"RIFF....not audio")
    clips.append(Clip(str(bad), "w", "bad", "test"))
    feats, ok, skipped = cached_features(clips, TCRESNET.features)
    assert len(feats) == 3 and len(ok) == 3
    assert skipped[0][0] == str(bad) and "bad_nohash_0.wav" in skipped[0][1]

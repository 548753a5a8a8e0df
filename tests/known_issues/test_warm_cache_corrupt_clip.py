"""A run that skipped a corrupt clip failed when run again with a warm feature cache ("none of
the 1 clips could be read"): every other clip came from the cache, so the only clip left to
decode was the corrupt one, and decoding a list where nothing decodes raised. `evaluate --split
all` on a folder with corrupt clips failed the same way once the cache was warm."""

from __future__ import annotations

import json
import shutil

from cli_run import run
from tones import make_tone_dataset

CONFIG = ('base = "seed"\n[data]\nwords = ["low", "mid", "high"]\n'
          "[model]\nneurons = 32\n[train]\nepochs = 1\n")




def test_training_again_with_a_warm_cache_skips_the_corrupt_clip(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KWSLAB_CACHE", str(tmp_path / "cache"))
    data = make_tone_dataset(tmp_path / "data", per_speaker=2, speakers=6)
    corrupt = data / "low" / "00000004_nohash_0.wav"  # speaker 4 is the validation speaker
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    cfg = tmp_path / "tone.toml"
    cfg.write_text(CONFIG)
    for out in ("cold", "warm"):
        code, stdout, stderr = run(capsys, "train", "--data", data, "--config", cfg, "--out",
                                   tmp_path / out, "--quiet", "--no-report")
        assert code == 0, stderr
        note = stderr.replace("\n", "")  # the console wraps long lines
        assert "skipped unreadable clip" in note and "00000004_nohash_0.wav" in note
        assert "validation accuracy" in stdout
        metrics = json.loads((tmp_path / out / "metrics.json").read_text())
        assert metrics["skipped"] == [str(corrupt.resolve())] and metrics["n_val"] == 5


def test_evaluate_all_is_the_same_cold_and_warm(tone_run, tone_data, tmp_path, monkeypatch,
                                                capsys):
    monkeypatch.setenv("KWSLAB_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "data"
    shutil.copytree(tone_data, data)
    corrupt = sorted((data / "mid").glob("*.wav"))[:5]
    for p in corrupt:
        p.write_bytes(b"not audio at all")
    results = []
    for _ in ("cold", "warm"):
        code, stdout, stderr = run(capsys, "evaluate", tone_run, "--data", data, "--split",
                                   "all", "--json")
        assert code == 0, stderr
        results.append(json.loads(stdout))
    cold, warm = results
    assert cold["n"] == warm["n"] == 90 - 5
    assert sorted(cold["skipped"]) == sorted(warm["skipped"]) == sorted(
        str(p.resolve()) for p in corrupt)
    assert cold["accuracy"] == warm["accuracy"] and cold["confusion"] == warm["confusion"]


def test_only_corrupt_clips_left_to_decode_is_not_an_error(tmp_path, monkeypatch):
    from kwslab.config import TCRESNET
    from kwslab.data.cache import cached_features
    from kwslab.data.manifest import Clip

    monkeypatch.setenv("KWSLAB_CACHE", str(tmp_path / "cache"))
    data = make_tone_dataset(tmp_path / "data", per_speaker=1, speakers=2)
    good = [Clip(str(p), "low", p.stem, "test") for p in sorted((data / "low").glob("*.wav"))]
    cached_features(good, TCRESNET.features)  # warm
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"junk")
    clips = [*good, Clip(str(bad), "low", "bad", "test")]
    x, ok, skipped = cached_features(clips, TCRESNET.features)
    assert len(x) == len(ok) == len(good) and [p for p, _ in skipped] == [str(bad)]

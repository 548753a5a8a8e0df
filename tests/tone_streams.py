"""Tone streams for detector and stream-evaluation tests: a band-energy "recogniser" (a tone is
the word whose band holds most of the energy) stands in for a model where a test is about the
detector or the scoring, so results are exact."""

from __future__ import annotations

import numpy as np

SR = 16000
TONE_HZ = {"low": 300.0, "mid": 900.0, "high": 2500.0}  # as tests/conftest.py's tone words


def tone_clip(word: str, rng: np.random.Generator) -> np.ndarray:
    """A 0.3-0.6 s tone at the word's pitch inside 1 s (like the tone dataset's clips)."""
    n = int(SR * rng.uniform(0.3, 0.6))
    t = np.arange(n) / SR
    tone = np.sin(2 * np.pi * TONE_HZ[word] * rng.uniform(0.95, 1.05) * t) * np.hanning(n)
    out = np.zeros(SR, np.float32)
    start = int(rng.integers(0, SR - n))
    out[start : start + n] = tone * rng.uniform(0.2, 0.6)
    return out


class BandRecognizer:
    """Duck-typed Recognizer: a word's probability follows its tone band's share of energy."""

    labels = ["low", "mid", "high", "_silence_"]
    sample_rate = clip_samples = SR
    meta = {"loaded": "fake"}

    def probabilities(self, windows: np.ndarray) -> np.ndarray:
        spec = np.abs(np.fft.rfft(windows, axis=-1)) ** 2  # 1 Hz bins
        total = spec.sum(-1) + 1e-12
        share = np.stack([spec[:, int(hz * 0.9) : int(hz * 1.1)].sum(-1) / total
                          for hz in TONE_HZ.values()], axis=1)
        word = np.clip(share * 1.5, 0, 0.99)
        return np.concatenate([word, 1 - word.max(1, keepdims=True)], axis=1)


def tone_stream(words, rng, gap_s=3.0, noise=0.003):
    """Words 1 s apart by ``gap_s`` in quiet noise; returns samples and word start times."""
    x = rng.normal(0, noise, int(SR * (gap_s * len(words) + 2))).astype(np.float32)
    starts = []
    for i, w in enumerate(words):
        s = int(SR * (1 + gap_s * i))
        x[s : s + SR] += tone_clip(w, rng)
        starts.append(s / SR)
    return x, starts


def negatives_with_mid_tones(root, rng, bursts_per_file):
    """Negative recordings (noise) where each file holds ``bursts_per_file[i]`` mid tones:
    the band recogniser takes every one for the word "mid", so each is a false accept."""
    from kwslab.audio import write_wav

    for i, k in enumerate(bursts_per_file):
        x = rng.normal(0, 0.003, SR * 20).astype(np.float32)
        for j in range(k):
            s = SR * (2 + 4 * j)
            x[s : s + SR] += tone_clip("mid", rng)
        write_wav(root / f"{i:02d}.wav", x)
    return root

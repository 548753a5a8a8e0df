"""Test audio for the serve tests: a clear tone "word" in quiet noise, as a clip or a stream."""

from __future__ import annotations

from pathlib import Path

import numpy as np

TONE_HZ = {"low": 300.0, "mid": 900.0, "high": 2500.0}  # as tests/tones.py's words
NOISE = 0.003  # the tone clips' noise floor: the streams' background
WORD_AT = (2.0, 2.5)  # where a stream's word is placed (s)


def word_wav(word: str, path: Path, seconds: float = 1.0, seed: int = 0) -> Path:
    """A clear tone "word" (as the tone dataset's) centred in ``seconds`` of quiet noise."""
    from kwslab.audio import write_wav

    rng = np.random.default_rng(seed)
    sr = 16000
    x = rng.normal(0, 0.003, int(sr * seconds))
    n = int(0.45 * sr)
    start = (len(x) - n) // 2
    x[start : start + n] += 0.4 * np.sin(2 * np.pi * TONE_HZ[word] * np.arange(n) / sr) * \
        np.hanning(n)
    write_wav(path, x.astype(np.float32))
    return path


def stream(word: str | None, rate: int = 16000, seconds: float = 5.0,
           seed: int = 0) -> np.ndarray:
    """Quiet noise with a 0.5 s tone at :data:`WORD_AT` (none for ``word=None``)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, NOISE, int(rate * seconds)).astype(np.float32)
    if word is not None:
        a, b = (int(rate * t) for t in WORD_AT)
        t = np.arange(b - a) / rate
        x[a:b] += 0.4 * np.sin(2 * np.pi * TONE_HZ[word] * t) * np.hanning(b - a)
    return x

"""Test audio for the serve tests: a clear tone "word" in quiet noise."""

from __future__ import annotations

from pathlib import Path


def word_wav(word: str, path: Path, seconds: float = 1.0, seed: int = 0) -> Path:
    """A clear tone "word" (as the tone dataset's) centred in ``seconds`` of quiet noise."""
    import numpy as np

    from kwslab.audio import write_wav

    hz = {"low": 300.0, "mid": 900.0, "high": 2500.0}[word]
    rng = np.random.default_rng(seed)
    sr = 16000
    x = rng.normal(0, 0.003, int(sr * seconds))
    n = int(0.45 * sr)
    start = (len(x) - n) // 2
    x[start : start + n] += 0.4 * np.sin(2 * np.pi * hz * np.arange(n) / sr) * np.hanning(n)
    write_wav(path, x.astype(np.float32))
    return path

"""Tiny synthetic "words" (tones) in the Speech Commands layout, and a recipe that learns
them in seconds: shared by conftest.py's fixtures and by tests that build their own datasets.

A module of its own (not conftest.py): ``from conftest import`` resolves to whichever
conftest.py pytest imported first, which differs between test folders.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kwslab.audio import write_wav
from kwslab.config import TCRESNET, AugmentConfig, DataConfig, ModelConfig, RunConfig, TrainConfig

TONE_WORDS = ("low", "mid", "high")
TONE_HZ = {"low": 300.0, "mid": 900.0, "high": 2500.0}


def tone_clip(word: str, rng: np.random.Generator, sr: int = 16000) -> np.ndarray:
    """A 0.3-0.6 s tone at the word's pitch, at a random place in 1 s, with light noise."""
    n = int(sr * rng.uniform(0.3, 0.6))
    t = np.arange(n) / sr
    f = TONE_HZ[word] * rng.uniform(0.95, 1.05)
    tone = np.sin(2 * np.pi * f * t) * np.hanning(n) * rng.uniform(0.2, 0.6)
    out = rng.normal(0, 0.003, sr)
    start = rng.integers(0, sr - n)
    out[start : start + n] += tone
    return out.astype(np.float32)


def make_tone_dataset(root: Path, per_speaker: int = 3, speakers: int = 10,
                      seed: int = 0) -> Path:
    """Write a Speech Commands-style folder of tones; speakers 8 and 9 are validation/test."""
    rng = np.random.default_rng(seed)
    val, test = [], []
    for word in TONE_WORDS:
        for s in range(speakers):
            spk = f"{s:08x}"
            for k in range(per_speaker):
                name = f"{word}/{spk}_nohash_{k}.wav"
                write_wav(root / name, tone_clip(word, rng))
                if s == speakers - 2:
                    val.append(name)
                elif s == speakers - 1:
                    test.append(name)
    (root / "validation_list.txt").write_text("\n".join(val) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    noise_dir = root / "_background_noise_"
    write_wav(noise_dir / "white_noise.wav", rng.normal(0, 0.1, 16000 * 6).astype(np.float32))
    brown = np.cumsum(rng.normal(0, 1, 16000 * 6))
    brown = (brown - brown.mean()) / np.abs(brown).max() * 0.3
    write_wav(noise_dir / "brown_noise.wav", brown.astype(np.float32))
    return root


TONE_CONFIG = RunConfig(
    data=DataConfig(words=TONE_WORDS),
    features=TCRESNET.features,
    model=ModelConfig(name="mlp", hidden_layers=1, neurons=64, dropout=0.0),
    train=TrainConfig(epochs=8, batch_size=16, optimizer="adam", lr=3e-3, weight_decay=0.0,
                      schedule="constant", label_smoothing=0.0, augment=AugmentConfig(),
                      seed=0),
)

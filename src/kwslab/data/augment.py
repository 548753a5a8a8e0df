"""Training-time augmentation of waveforms and features (never applied at evaluation).

Waveform level: speed perturbation, random time shift, background-noise mixing at a random
SNR. Feature level: SpecAugment frequency and time masks. Each is switched off by its zero
value in :class:`~kwslab.config.AugmentConfig`; all draw from one seeded generator so a run
is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kwslab.audio import fix_length
from kwslab.config import SAMPLE_RATE, AugmentConfig


class Augmenter:
    """Applies an :class:`AugmentConfig` to batches.

    Args:
        cfg: which augmentations, and how strong.
        noises: long background-noise recordings (float32, 16 kHz) to mix in.
        rng: the run's random generator.
    """

    def __init__(self, cfg: AugmentConfig, noises: Sequence[np.ndarray],
                 rng: np.random.Generator):
        self.cfg = cfg
        self.noises = [n for n in noises if len(n) > SAMPLE_RATE]
        self.rng = rng

    @property
    def active(self) -> bool:
        """Whether any waveform- or feature-level augmentation is on."""
        c = self.cfg
        return bool(c.time_shift_ms or (c.noise_prob and self.noises) or c.speed
                    or c.freq_masks or c.time_masks)

    def waves(self, x: np.ndarray) -> np.ndarray:
        """Augment waveforms, shape (batch, n) float32; returns a new array."""
        x = x.copy()
        n = x.shape[1]
        c = self.cfg
        if c.speed:
            lo, hi = c.speed
            for i in range(len(x)):
                x[i] = speed_perturb(x[i], self.rng.uniform(lo, hi), n)
        if c.time_shift_ms:
            max_shift = int(c.time_shift_ms * SAMPLE_RATE / 1000)
            for i, s in enumerate(self.rng.integers(-max_shift, max_shift + 1, len(x))):
                x[i] = time_shift(x[i], int(s))
        if c.noise_prob and self.noises:
            lo, hi = c.snr_db
            for i in np.flatnonzero(self.rng.random(len(x)) < c.noise_prob):
                x[i] = mix_noise(x[i], self._noise_cut(n), self.rng.uniform(lo, hi))
        return x

    def features(self, f: np.ndarray) -> np.ndarray:
        """SpecAugment masks on features (batch, bins, frames), filled with each clip's mean."""
        c = self.cfg
        if f.ndim != 3 or not (c.freq_masks or c.time_masks):
            return f
        f = f.copy()
        bins, frames = f.shape[1:]
        for i in range(len(f)):
            fill = f[i].mean()
            for _ in range(c.freq_masks):
                w = self.rng.integers(0, c.freq_mask_width + 1)
                s = self.rng.integers(0, max(1, bins - w))
                f[i, s : s + w, :] = fill
            for _ in range(c.time_masks):
                w = self.rng.integers(0, c.time_mask_width + 1)
                s = self.rng.integers(0, max(1, frames - w))
                f[i, :, s : s + w] = fill
        return f

    def _noise_cut(self, n: int) -> np.ndarray:
        noise = self.noises[self.rng.integers(len(self.noises))]
        start = self.rng.integers(0, len(noise) - n)
        return noise[start : start + n]


def time_shift(x: np.ndarray, shift: int) -> np.ndarray:
    """Shift right by ``shift`` samples (left if negative), filling with zeros."""
    if shift == 0:
        return x
    out = np.zeros_like(x)
    if shift > 0:
        out[shift:] = x[:-shift]
    else:
        out[:shift] = x[-shift:]
    return out


def mix_noise(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Add ``noise`` scaled so that the speech-to-noise power ratio is ``snr_db`` dB.

    A silent clip gets the noise at a low fixed level (1 % of full scale RMS) instead.
    """
    p_sig = float(np.mean(x**2))
    p_noise = float(np.mean(noise**2)) + 1e-12
    if p_sig < 1e-8:
        return x + noise * (0.01 / np.sqrt(p_noise))
    scale = np.sqrt(p_sig / (p_noise * 10 ** (snr_db / 10)))
    return (x + scale * noise).astype(np.float32)


def speed_perturb(x: np.ndarray, factor: float, n: int) -> np.ndarray:
    """Play ``factor`` times faster (pitch moves too, as in Kaldi's speed perturbation)."""
    length = max(2, int(round(len(x) / factor)))
    pos = np.linspace(0, len(x) - 1, length)
    return fix_length(np.interp(pos, np.arange(len(x)), x).astype(np.float32), n)

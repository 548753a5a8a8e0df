"""Training-time augmentation of waveforms and features (never applied at evaluation).

Waveform level: speed perturbation, random time shift, background-noise mixing at a random
SNR, random gain (with clipping at full scale). Feature level: frequency warping of the Mel
axis (vocal-tract length perturbation, for unseen speakers) and SpecAugment frequency and time
masks. Batch level: mixup. Each is
switched off by its zero value in :class:`~kwslab.config.AugmentConfig`; all draw from one
seeded generator so a run is reproducible.

Every batch operation is vectorised over the batch (one gather or one broadcast mask, no
Python loop over clips), so augmenting a batch of 64 one-second clips costs a few
milliseconds, well under the feature extraction and the model step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kwslab.audio import fix_length
from kwslab.config import SAMPLE_RATE, AugmentConfig

SILENT_POWER = 1e-8  # mean square below which a clip counts as silent
SILENT_NOISE_RMS = 0.01  # noise level (RMS, full scale 1) mixed into a silent clip


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
        """Whether any waveform- or feature-level augmentation is on (mixup is batch level)."""
        c = self.cfg
        return bool(c.time_shift_ms or (c.noise_prob and self.noises) or c.speed
                    or c.freq_masks or c.time_masks or c.gain_db or c.freq_warp)

    def waves(self, x: np.ndarray) -> np.ndarray:
        """Augment waveforms, shape (batch, n) float32; returns a new array."""
        x = np.array(x, dtype=np.float32)
        b: int  # numpy types shapes as tuple[Any, ...]; an int picks the array overloads below
        b, n = x.shape
        c = self.cfg
        if c.speed:
            x = speed_perturb_batch(x, self.rng.uniform(*c.speed, b))
        if c.time_shift_ms:
            max_shift = int(c.time_shift_ms * SAMPLE_RATE / 1000)
            x = time_shift_batch(x, self.rng.integers(-max_shift, max_shift + 1, b))
        if c.noise_prob and self.noises:
            pick = np.flatnonzero(self.rng.random(b) < c.noise_prob)
            if len(pick):
                noise = np.stack([self._noise_cut(n) for _ in pick])
                x[pick] = mix_noise_batch(x[pick], noise, self.rng.uniform(*c.snr_db, len(pick)))
        if c.gain_db:
            x = gain_batch(x, self.rng.uniform(*c.gain_db, b))
        return x

    def features(self, f: np.ndarray) -> np.ndarray:
        """Frequency warping, then SpecAugment masks (filled with each clip's mean), on
        features (batch, bins, frames)."""
        c = self.cfg
        if f.ndim != 3:
            return f
        b: int  # as in waves()
        b, bins, frames = f.shape
        if c.freq_warp:
            f = freq_warp_batch(f, self.rng.uniform(*c.freq_warp, b))
        if not (c.freq_masks or c.time_masks):
            return f
        freq = band_mask(self.rng, b, bins, c.freq_masks, c.freq_mask_width)  # (b, bins)
        time = band_mask(self.rng, b, frames, c.time_masks, c.time_mask_width)  # (b, frames)
        masked = freq[:, :, None] | time[:, None, :]
        return np.where(masked, f.mean(axis=(1, 2), keepdims=True), f).astype(f.dtype)

    def _noise_cut(self, n: int) -> np.ndarray:
        noise = self.noises[self.rng.integers(len(self.noises))]
        start = self.rng.integers(0, len(noise) - n)
        return noise[start : start + n]


def gain_batch(x: np.ndarray, gain_db: np.ndarray) -> np.ndarray:
    """Scale each row of ``x`` (batch, n) by its ``gain_db`` and clip to full scale [-1, 1],
    as a louder microphone or a closer talker would (loud clips saturate)."""
    g = (10 ** (np.asarray(gain_db, dtype=np.float64) / 20)).astype(np.float32)
    return np.clip(x * g[:, None], -1.0, 1.0).astype(np.float32)


def freq_warp_batch(f: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Stretch the bin axis of ``f`` (batch, bins, frames) by ``factors`` (batch,).

    Output bin ``k`` reads input bin ``k / factor`` (linear interpolation, edge bins
    repeated): a factor above 1 moves formants up, as a shorter vocal tract would (VTLP,
    Jaitly & Hinton 2013). Mel bins are near-logarithmic in frequency above ~1 kHz, so this is
    an approximation of the linear-frequency warp; it keeps the time axis untouched.
    """
    b, bins, _ = f.shape
    pos = np.arange(bins, dtype=np.float32)[None, :] / np.asarray(factors, np.float32)[:, None]
    np.clip(pos, 0, bins - 1, out=pos)
    i0 = np.minimum(pos.astype(np.int64), bins - 2) if bins > 1 else np.zeros_like(pos, np.int64)
    frac = (pos - i0)[:, :, None]
    rows = np.arange(b)[:, None]
    lo = f[rows, i0]
    hi = f[rows, np.minimum(i0 + 1, bins - 1)]
    return (lo + frac * (hi - lo)).astype(f.dtype)


def band_mask(rng: np.random.Generator, batch: int, size: int, count: int,
              max_width: int) -> np.ndarray:
    """SpecAugment's masks along one axis: ``count`` bands of width 0..max_width per example.

    Returns:
        bool array (batch, size), True where masked.
    """
    if not count or not max_width:
        return np.zeros((batch, size), dtype=bool)
    width = rng.integers(0, max_width + 1, (batch, count))
    start = (rng.random((batch, count)) * np.maximum(1, size - width)).astype(int)
    pos = np.arange(size)[None, None, :]
    inside = (pos >= start[..., None]) & (pos < (start + width)[..., None])
    return np.any(inside, axis=1)


def time_shift(x: np.ndarray, shift: int) -> np.ndarray:
    """Shift right by ``shift`` samples (left if negative), filling with zeros."""
    return time_shift_batch(np.asarray(x)[None], np.array([shift]))[0]


def time_shift_batch(x: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Shift each row of ``x`` (batch, n) right by its ``shifts`` entry, zero-filled."""
    b, n = x.shape
    shifts = np.asarray(shifts, dtype=int)
    m = int(np.abs(shifts).max(initial=0))
    if m == 0:
        return x.copy()
    m = min(m, n)
    padded = np.pad(x, ((0, 0), (m, m)))
    # Row i of the result is the window of ``padded`` starting at m - shift: one strided
    # view of every window, one fancy index picking a window per row.
    windows = np.lib.stride_tricks.sliding_window_view(padded, n, axis=1)  # (b, 2m+1, n)
    return windows[np.arange(b), m - np.clip(shifts, -m, m)]


def mix_noise(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Add ``noise`` scaled so that the speech-to-noise power ratio is ``snr_db`` dB.

    A silent clip gets the noise at a low fixed level (1 % of full scale RMS) instead.
    """
    return mix_noise_batch(np.asarray(x)[None], np.asarray(noise)[None], np.array([snr_db]))[0]


def mix_noise_batch(x: np.ndarray, noise: np.ndarray, snr_db: np.ndarray) -> np.ndarray:
    """:func:`mix_noise` for a batch: ``x`` and ``noise`` (batch, n), ``snr_db`` (batch,)."""
    p_sig = np.mean(np.square(x, dtype=np.float64), axis=1)
    p_noise = np.mean(np.square(noise, dtype=np.float64), axis=1) + 1e-12
    scale = np.where(p_sig < SILENT_POWER, SILENT_NOISE_RMS / np.sqrt(p_noise),
                     np.sqrt(p_sig / (p_noise * 10 ** (np.asarray(snr_db) / 10))))
    return (x + scale[:, None].astype(np.float32) * noise).astype(np.float32)


def speed_perturb(x: np.ndarray, factor: float, n: int) -> np.ndarray:
    """Play ``factor`` times faster (pitch moves too, as in Kaldi's speed perturbation)."""
    return fix_length(speed_perturb_batch(fix_length(np.asarray(x), n)[None],
                                          np.array([factor]))[0], n)


def speed_perturb_batch(x: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Resample each row of ``x`` (batch, n) to ``n / factor`` samples, then pad or crop it
    back to ``n`` about the centre (as :func:`kwslab.audio.fix_length`). Linear interpolation.
    """
    b, n = x.shape
    length = np.maximum(2, np.round(n / np.asarray(factors, dtype=np.float64))).astype(int)
    # Output j is resampled index k = j + offset; offset centres the crop or the padding.
    offset = np.where(length >= n, (length - n) // 2, -((n - length) // 2))
    k = np.arange(n, dtype=np.float32)[None, :] + offset[:, None].astype(np.float32)
    ok = (k >= 0) & (k < length[:, None])
    pos = k * ((n - 1) / (length - 1)).astype(np.float32)[:, None]  # position in the clip
    np.clip(pos, 0, n - 1, out=pos)
    i0 = pos.astype(np.int32)  # floor, pos >= 0
    frac = pos - i0
    flat = np.append(x.ravel(), np.float32(0))  # a trailing 0 so i0 + 1 never leaves the row
    i0 += (np.arange(b, dtype=np.int32) * n)[:, None]
    y = flat[i0]
    y += frac * (flat[i0 + 1] - y)
    y[~ok] = 0
    return y


def mixup(x, lam: float, perm):
    """Mixup of a batch (numpy array or torch tensor): ``lam * x + (1 - lam) * x[perm]``."""
    return lam * x + (1 - lam) * x[perm]

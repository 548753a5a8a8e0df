"""Each augmentation does what it says, measurably, and a seeded run repeats exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kwslab.config import AugmentConfig
from kwslab.data.augment import (
    Augmenter,
    band_mask,
    freq_warp_batch,
    gain_batch,
    mix_noise,
    mix_noise_batch,
    mixup,
    speed_perturb,
    speed_perturb_batch,
    time_shift,
    time_shift_batch,
)

N = 16000


def burst(start: int, length: int = 1600, n: int = N) -> np.ndarray:
    """Silence with a 1 kHz tone burst at ``start``."""
    x = np.zeros(n, np.float32)
    x[start : start + length] = np.sin(2 * np.pi * 1000 * np.arange(length) / N)
    return x


def centre_of_energy(x: np.ndarray) -> float:
    e = x.astype(np.float64) ** 2
    return float((np.arange(len(x)) * e).sum() / e.sum())


@pytest.mark.parametrize("shift", [0, 1, 800, -800, 3200])
def test_time_shift_moves_energy_by_the_shift(shift):
    x = burst(6000)
    y = time_shift(x, shift)
    assert centre_of_energy(y) - centre_of_energy(x) == pytest.approx(shift, abs=1e-6)
    assert np.array_equal(y[6000 + shift : 7600 + shift], x[6000:7600])


def test_time_shift_batch_rows_shift_independently_and_zero_fill():
    x = np.stack([burst(100), burst(8000), burst(14000)])
    y = time_shift_batch(x, np.array([-100, 500, 2000]))  # the last one runs off the end
    assert centre_of_energy(y[0]) == pytest.approx(centre_of_energy(x[0]) - 100)
    assert centre_of_energy(y[1]) == pytest.approx(centre_of_energy(x[1]) + 500)
    assert np.count_nonzero(y[2][:16000 - 2000] != x[2][:-2000]) == 0
    assert np.abs(y[2][:2000]).max() == 0


@pytest.mark.parametrize("snr_db", [20.0, 10.0, 0.0, -5.0])
def test_noise_is_mixed_at_the_requested_snr(snr_db):
    rng = np.random.default_rng(0)
    x = burst(4000, 8000) * 0.3
    noise = rng.normal(0, 0.7, N).astype(np.float32)
    y = mix_noise(x, noise, snr_db)
    measured = 10 * np.log10(np.mean(x**2) / np.mean((y - x) ** 2))
    assert measured == pytest.approx(snr_db, abs=0.01)


def test_noise_batch_snrs_and_silent_clips():
    rng = np.random.default_rng(1)
    x = np.stack([burst(0, 16000) * 0.5, np.zeros(N, np.float32)])
    noise = rng.normal(0, 2.0, (2, N)).astype(np.float32)
    y = mix_noise_batch(x, noise, np.array([5.0, 5.0]))
    assert 10 * np.log10(np.mean(x[0] ** 2) / np.mean((y[0] - x[0]) ** 2)) == pytest.approx(5.0)
    assert np.sqrt(np.mean(y[1] ** 2)) == pytest.approx(0.01, rel=1e-3)  # silent: fixed level


@pytest.mark.parametrize("factor", [0.8, 0.9, 1.1, 1.25])
def test_speed_changes_duration(factor):
    x = burst(4000, 4000)
    y = speed_perturb(x, factor, N)
    assert len(y) == N
    voiced = np.flatnonzero(np.abs(y) > 1e-3)
    duration = voiced[-1] - voiced[0] + 1
    assert duration == pytest.approx(4000 / factor, abs=3)
    # Frequency scales by the factor too (Kaldi-style speed, not tempo): count zero crossings.
    seg = y[voiced[0] : voiced[-1]]
    crossings = np.count_nonzero(np.diff(np.signbit(seg)))
    assert crossings / len(seg) * N / 2 == pytest.approx(1000 * factor, rel=0.02)


def test_speed_batch_matches_numpy_interp():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, N)).astype(np.float32)
    factors = np.array([0.9, 1.0, 1.12])
    y = speed_perturb_batch(x, factors)
    for row, f, out in zip(x, factors, y, strict=True):
        length = int(round(N / f))
        ref = np.interp(np.linspace(0, N - 1, length), np.arange(N), row)
        lo = (length - N) // 2 if length >= N else 0
        ref = ref[lo : lo + N] if length >= N else np.pad(ref, ((N - length) // 2, 0))[:N]
        got = out if length >= N else out[: len(ref)]
        assert np.abs(got[: len(ref)] - ref[: len(got)]).max() < 0.02


def test_band_masks_cover_the_right_bins_and_frames():
    rng = np.random.default_rng(3)
    m = band_mask(rng, 200, 40, 2, 6)
    widths = m.sum(1)
    assert widths.max() <= 12 and widths.min() >= 0 and widths.mean() > 2
    for row in m:  # at most two contiguous runs
        edges = np.flatnonzero(np.diff(np.r_[False, row, False].astype(int)))
        assert len(edges) // 2 <= 2
    assert not band_mask(rng, 4, 40, 0, 6).any() and not band_mask(rng, 4, 40, 2, 0).any()


def test_spec_augment_fills_masked_bands_with_the_clip_mean():
    rng = np.random.default_rng(4)
    f = rng.normal(5, 1, (8, 40, 101)).astype(np.float32)
    aug = Augmenter(AugmentConfig(freq_masks=1, freq_mask_width=8, time_masks=1,
                                  time_mask_width=20), [], rng)
    g = aug.features(f)
    changed = g != f
    mean = f.mean(axis=(1, 2))
    for i in range(len(f)):
        rows = changed[i].all(axis=1)  # masked mel bins are masked in every frame
        cols = changed[i].all(axis=0)  # masked frames in every bin
        assert np.array_equal(changed[i], rows[:, None] | cols[None, :])
        assert rows.sum() <= 8 and cols.sum() <= 20
        assert np.allclose(g[i][changed[i]], mean[i])
    assert changed.any()


def test_gain_scales_by_decibels_and_saturates_at_full_scale():
    x = np.stack([burst(1000) * 0.1, burst(1000) * 0.1, burst(1000) * 0.5])
    y = gain_batch(x, np.array([20.0, -20.0, 20.0]))
    assert np.allclose(y[0], x[0] * 10, atol=1e-6)  # +20 dB = x10 amplitude
    assert np.allclose(y[1], x[1] / 10, atol=1e-7)
    assert np.abs(y[2]).max() == 1.0 and (np.abs(y[2]) == 1.0).sum() > 100  # clipped
    assert y.dtype == np.float32


def test_freq_warp_moves_a_spectral_peak_by_the_factor():
    bins = 40
    f = np.zeros((3, bins, 5), np.float32)
    f[:, 20, :] = 1.0  # one "formant" at bin 20
    g = freq_warp_batch(f, np.array([1.0, 1.2, 0.8]))
    peak = g[:, :, 0].argmax(1)
    assert np.array_equal(g[0], f[0])  # factor 1: unchanged
    assert peak[1] == 24 and peak[2] == 16  # output bin k reads input bin k / factor
    assert np.allclose(g[:, :, 0], g[:, :, 4])  # time axis untouched


def test_mixup_mixes_inputs_by_lambda():
    x = torch.stack([torch.zeros(4), torch.ones(4)])
    y = mixup(x, 0.7, torch.tensor([1, 0]))
    assert torch.allclose(y[0], torch.full((4,), 0.3))
    assert torch.allclose(y[1], torch.full((4,), 0.7))


def test_augmenter_is_reproducible_and_leaves_input_untouched():
    cfg = AugmentConfig(time_shift_ms=100, noise_prob=0.5, snr_db=(0, 10), speed=(0.9, 1.1),
                        freq_masks=2, freq_mask_width=5, time_masks=2, time_mask_width=10,
                        gain_db=(-6, 6), freq_warp=(0.9, 1.1))
    noise = [np.random.default_rng(5).normal(0, 0.1, 5 * N).astype(np.float32)]
    x = np.stack([burst(3000 + 1000 * i) for i in range(6)])
    keep = x.copy()
    a = Augmenter(cfg, noise, np.random.default_rng(9)).waves(x)
    b = Augmenter(cfg, noise, np.random.default_rng(9)).waves(x)
    assert np.array_equal(a, b) and np.array_equal(x, keep) and not np.array_equal(a, x)
    assert a.dtype == np.float32 and a.shape == x.shape

"""The one feature function: batched log-Mel / MFCC in pure NumPy (or a pretrained embedding).

Training, evaluation, the ONNX runtime and the web service all call :func:`compute_features`,
so a model never sees features computed another way. It matches
``librosa.feature.melspectrogram`` (centred, zero-padded, periodic Hann, power 2, Slaney mel)
followed by ``librosa.power_to_db`` to within 1e-3 dB (``tests/features/test_mel.py``), without
importing librosa, so the runtime stays NumPy + onnxruntime. ``kind="speech_embedding"``
hands the clip to a frozen pretrained network instead (:mod:`kwslab.features.embedding`).
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from kwslab.config import FeatureConfig

CHUNK = 256  # clips per internal batch: bounds memory at ~CHUNK * frames * n_fft floats


def hz_to_mel(hz: ArrayLike) -> np.ndarray:
    """Slaney's mel scale (librosa's default): linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp = 200.0 / 3  # Hz per mel in the linear part
    mel = hz / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    log_part = hz >= min_log_hz
    return np.where(log_part, min_log_mel + np.log(np.maximum(hz, 1e-10) / min_log_hz) / logstep,
                    mel)


def mel_to_hz(mel: ArrayLike) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    mel = np.asarray(mel, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)),
                    f_sp * mel)


@lru_cache(maxsize=16)
def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None
) -> np.ndarray:
    """Slaney-normalised triangular mel filters, shape (n_mels, n_fft // 2 + 1), float32.

    Same weights as ``librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax)``.
    """
    fmax = sample_rate / 2 if fmax is None else fmax
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    weights = weights.astype(np.float32)
    weights.setflags(write=False)
    return weights


@lru_cache(maxsize=16)
def _window(win_length: int, n_fft: int) -> np.ndarray:
    """Periodic Hann window of ``win_length`` centred in ``n_fft`` samples."""
    n = np.arange(win_length)
    win = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / win_length)
    left = (n_fft - win_length) // 2
    out = np.zeros(n_fft, dtype=np.float32)
    out[left : left + win_length] = win
    out.setflags(write=False)
    return out


@lru_cache(maxsize=16)
def _dct_matrix(n_mfcc: int, n_mels: int) -> np.ndarray:
    """Orthonormal DCT-II basis, shape (n_mfcc, n_mels), as scipy's ``dct(norm='ortho')``."""
    k = np.arange(n_mfcc)[:, None]
    n = np.arange(n_mels)[None, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_mels)) * np.sqrt(2.0 / n_mels)
    basis[0] /= np.sqrt(2.0)
    return basis.astype(np.float32)


@lru_cache(maxsize=16)
def _resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Bilinear interpolation weights (half-pixel centres, no antialias), shape (n_out, n_in).

    The same rule as ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``
    and ``tf.image.resize``.
    """
    src = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    src = np.clip(src, 0, n_in - 1)
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = src - i0
    w = np.zeros((n_out, n_in), dtype=np.float64)
    w[np.arange(n_out), i0] += 1 - frac
    w[np.arange(n_out), i1] += frac
    return w.astype(np.float32)


def power_mel(samples: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Mel power spectrogram of fixed-length clips.

    Args:
        samples: float array, shape (batch, cfg.clip_samples), 16 kHz.
        cfg: feature configuration.

    Returns:
        float32 array, shape (batch, n_mels, n_frames).
    """
    pad = cfg.n_fft // 2
    return power_frames(np.pad(samples.astype(np.float32, copy=False), ((0, 0), (pad, pad))), cfg)


def power_frames(audio: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Mel power of each ``n_fft`` samples of ``audio`` (batch, n), one frame per hop from
    sample 0, no padding: (batch, n_mels, (n - n_fft) // hop + 1). A frame depends only on
    its own samples, so a stream can compute each once (:class:`kwslab.runtime.frontend.MelStream`).
    """
    frames = np.lib.stride_tricks.sliding_window_view(
        audio.astype(np.float32, copy=False), cfg.n_fft, axis=1)[:, :: cfg.hop_length]
    spec = _rfft(frames * _window(cfg.win_length, cfg.n_fft))  # complex64
    # |X|^2 @ fb.T in one matmul: square the interleaved (re, im) pairs and let a filterbank
    # with every column doubled sum them.
    pairs = spec.view(np.float32)
    np.square(pairs, out=pairs)
    fb2 = _paired_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax)
    return np.matmul(pairs, fb2).transpose(0, 2, 1)


@lru_cache(maxsize=16)
def _paired_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float,
                       fmax: float | None) -> np.ndarray:
    """(2 * n_bins, n_mels): each mel weight repeated for the real and imaginary square."""
    fb = mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax)
    return np.ascontiguousarray(np.repeat(fb.T, 2, axis=0))


def _rfft(frames: np.ndarray) -> np.ndarray:
    """Real FFT over the last axis (NumPy's pocketfft: one code path for training and the
    runtime, no optional dependency deciding which)."""
    return np.fft.rfft(frames, axis=-1).astype(np.complex64, copy=False)


def log_compress(mel: np.ndarray, mode: str) -> np.ndarray:
    """``log``: ln(mel + 1e-6). ``db_max``: power_to_db(ref=max per clip, amin=1e-10, top_db=80)."""
    if mode == "log":
        return np.log(mel + 1e-6)
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    ref = db.max(axis=(1, 2), keepdims=True)
    db -= ref
    return np.maximum(db, -80.0)


def compute_features(samples: np.ndarray, cfg: FeatureConfig,
                     models: str | Path | None = None) -> np.ndarray:
    """Features of one clip or a batch, exactly as the model expects them.

    Args:
        samples: float mono audio at ``cfg.sample_rate``, shape (n,) or (batch, n). Any length:
            each clip is padded or centre-cropped to ``cfg.clip_samples`` (see
            :func:`kwslab.audio.fix_length`).
        cfg: feature configuration.
        models: ``speech_embedding`` only: the folder of its ONNX files (an export folder);
            default :func:`kwslab.features.embedding.default_dir`.

    Returns:
        float32 array, shape ``cfg.shape`` or (batch, *cfg.shape).
    """
    from kwslab.audio import fix_length

    samples = np.asarray(samples, dtype=np.float32)
    single = samples.ndim == 1
    batch = fix_length(samples[None] if single else samples, cfg.clip_samples)
    out = np.empty((len(batch), *cfg.shape), dtype=np.float32)
    for start in range(0, len(batch), CHUNK):
        out[start : start + CHUNK] = _features_chunk(batch[start : start + CHUNK], cfg, models)
    return out[0] if single else out


def in_context(cfg: FeatureConfig) -> tuple[int, FeatureConfig]:
    """(samples of context the front end reads on each side of a clip, the configuration that
    gives the same features from the clip with that context already around it).

    ``speech_embedding`` reads ``context_ms`` around the clip (zeros for a lone clip); a window
    cut from a longer recording can hold the real neighbouring audio there instead, as a
    stream's window does. Other kinds read no context: ``(0, cfg)``.
    """
    pad = cfg.context_samples if cfg.kind == "speech_embedding" else 0
    if not pad:
        return 0, cfg
    return pad, replace(cfg, clip_samples=cfg.clip_samples + 2 * pad, context_ms=0.0)


def _features_chunk(batch: np.ndarray, cfg: FeatureConfig,
                    models: str | Path | None = None) -> np.ndarray:
    if cfg.kind == "speech_embedding":
        from kwslab.features.embedding import speech_embedding

        feats = speech_embedding(batch, cfg.context_samples, models, floor_db=cfg.floor_db)
        return feats.reshape(len(feats), -1) if cfg.flatten else feats
    return finish_features(power_mel(batch, cfg), cfg)


def finish_features(power: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """From clips' Mel power (batch, n_mels, frames) to the model's input: log, MFCC, resize,
    flatten, as ``cfg`` says."""
    feats = log_compress(power, cfg.log)
    if cfg.kind == "mfcc":
        feats = np.matmul(_dct_matrix(cfg.n_mfcc, cfg.n_mels), feats)
    if cfg.resize:
        rows, cols = cfg.resize
        row_w, col_w = _resize_matrix(feats.shape[1], rows), _resize_matrix(feats.shape[2], cols)
        feats = row_w @ feats @ col_w.T
    if cfg.flatten:
        feats = feats.reshape(len(feats), -1)
    return feats

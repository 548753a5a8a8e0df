"""The one feature function agrees with librosa, is batched, cached, and stable."""

from __future__ import annotations

import sys
from dataclasses import replace

import librosa
import numpy as np
import pytest

from kwslab.config import SEED, TCRESNET, FeatureConfig
from kwslab.features import compute_features, mel_filterbank
from kwslab.features.mel import power_mel


def _signal(n: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.05, (n, 16000)).astype(np.float32)
    t = np.arange(16000) / 16000
    x[:, 4000:12000] += 0.5 * np.sin(2 * np.pi * 700 * t[4000:12000]).astype(np.float32)
    return x


@pytest.mark.parametrize("cfg", [SEED.features, TCRESNET.features,
                                 replace(TCRESNET.features, n_mels=64, fmin=0.0, fmax=None)])
def test_mel_filterbank_matches_librosa(cfg: FeatureConfig):
    ours = mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax)
    ref = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels,
                              fmin=cfg.fmin, fmax=cfg.fmax)
    np.testing.assert_allclose(ours, ref, atol=1e-7)


@pytest.mark.parametrize("cfg", [SEED.features, TCRESNET.features])
def test_log_mel_matches_librosa_within_1e3_db(cfg: FeatureConfig):
    x = _signal()
    ours = power_mel(x, cfg)
    db_cfg = replace(cfg, log="db_max", resize=None, flatten=False)
    feats = compute_features(x, db_cfg)
    for i in range(len(x)):
        s = librosa.feature.melspectrogram(
            y=x[i], sr=16000, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
            win_length=cfg.win_length, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax)
        assert ours[i].shape == s.shape
        db = librosa.power_to_db(s, ref=np.max)
        assert np.abs(feats[i] - db).max() < 1e-3


def test_seed_vector_is_1024_values_of_a_32x32_resize():
    x = _signal(2)
    v = compute_features(x, SEED.features)
    assert v.shape == (2, 1024) and SEED.features.shape == (1024,)
    full = compute_features(x, replace(SEED.features, resize=None, flatten=False))
    assert full.shape == (2, 128, 32)
    # Bilinear 128 -> 32 with half-pixel centres averages bins 4k+1 and 4k+2.
    img = v[0].reshape(32, 32)
    np.testing.assert_allclose(img[5], 0.5 * (full[0, 21] + full[0, 22]), atol=1e-4)


def test_batch_equals_single_clips_and_any_length_is_fixed():
    x = _signal(3)
    batch = compute_features(x, TCRESNET.features)
    for i in range(3):
        np.testing.assert_allclose(compute_features(x[i], TCRESNET.features), batch[i], atol=1e-5)
    short = compute_features(x[0, :8000], TCRESNET.features)
    assert short.shape == TCRESNET.features.shape == (40, 101)


def test_mfcc_is_orthonormal_dct_of_log_mel():
    from scipy.fft import dct

    cfg = replace(TCRESNET.features, kind="mfcc", n_mfcc=13)
    x = _signal(1)
    mfcc = compute_features(x, cfg)[0]
    logmel = compute_features(x, TCRESNET.features)[0]
    ref = dct(logmel, type=2, axis=0, norm="ortho")[:13]
    assert mfcc.shape == (13, 101)
    np.testing.assert_allclose(mfcc, ref, atol=1e-3)


def test_features_do_not_depend_on_which_packages_are_installed(tmp_path):
    """One FFT path (NumPy's): a runtime box without scipy computes the same features as a
    training box with it (an optional package once chose the path silently)."""
    import subprocess

    x = _signal(2)
    np.save(tmp_path / "x.npy", x)
    code = ("import sys; sys.modules['scipy'] = None; sys.modules['scipy.fft'] = None\n"
            "import numpy as np\n"
            "from kwslab.config import TCRESNET\n"
            "from kwslab.features import compute_features\n"
            f"x = np.load({str(tmp_path / 'x.npy')!r})\n"
            f"np.save({str(tmp_path / 'f.npy')!r}, compute_features(x, TCRESNET.features))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    # equal but for float rounding (BLAS may pick other kernels in another process)
    np.testing.assert_allclose(np.load(tmp_path / "f.npy"),
                               compute_features(x, TCRESNET.features), rtol=0, atol=1e-5)


def test_golden_values():
    """Pin a slice of the features of a fixed tone so silent changes are caught."""
    t = np.arange(16000) / 16000
    x = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    f = compute_features(x, TCRESNET.features)
    np.testing.assert_allclose(f[:6, 50], GOLDEN, atol=1e-3)


GOLDEN = np.array([-10.8248, -9.5830, -8.2290, -3.2462, 2.7284, 3.8390], dtype=np.float32)

"""Reading audio the way users have it: any of WAV/FLAC/OGG, rate, channel count and length.

Everything becomes float32 mono at 16 kHz in [-1, 1]. :func:`fix_length` is the one rule for
clip length, shared by training and the runtime: a short clip is zero-padded equally on both
sides (the word stays centred), a long one keeps its centre ``n`` samples.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from kwslab.config import SAMPLE_RATE
from kwslab.errors import AudioError

MAX_SECONDS = 3600.0  # longer input is refused as absurd (an hour streams fine; a day does not)


def load_audio(
    source: str | Path | bytes | io.IOBase,
    sample_rate: int = SAMPLE_RATE,
    max_seconds: float = MAX_SECONDS,
) -> np.ndarray:
    """Decode ``source`` to float32 mono samples at ``sample_rate``.

    Args:
        source: a path, the file's bytes, or a binary file object.
        sample_rate: output rate in Hz; other rates are resampled with soxr (high quality).
        max_seconds: refuse longer input before decoding it.

    Returns:
        1-D float32 array, shape (n_samples,).

    Raises:
        AudioError: unreadable, empty, truncated, NaN/inf or over ``max_seconds``; the message
            names the file.
    """
    import soundfile as sf  # imported here so the runtime can use fix_length without it

    name = str(source) if isinstance(source, str | Path) else "<upload>"
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    if isinstance(source, str | Path) and not Path(source).is_file():
        raise AudioError(f"{name}: no such file")
    try:
        with sf.SoundFile(source) as f:
            rate, frames = f.samplerate, f.frames
            if frames <= 0:
                raise AudioError(f"{name}: empty audio (0 samples)")
            if frames / rate > max_seconds:
                raise AudioError(
                    f"{name}: {frames / rate:.0f} s of audio is longer than the {max_seconds:.0f} s"
                    " limit"
                )
            data = f.read(dtype="float32", always_2d=True)
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, OSError) as e:
        raise AudioError(f"{name}: not a readable audio file ({_short(e)})") from e
    if len(data) == 0:
        raise AudioError(f"{name}: empty audio (0 samples)")
    declared = _wav_declared_frames(source)
    if declared is not None and declared > len(data):
        raise AudioError(f"{name}: truncated (header says {declared} samples, found {len(data)})")
    if not np.isfinite(data).all():
        raise AudioError(f"{name}: contains NaN or infinite samples")
    samples = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if rate != sample_rate:
        samples = resample(samples, rate, sample_rate)
    return np.ascontiguousarray(samples, dtype=np.float32)


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample 1-D float audio with soxr (the resampler librosa uses)."""
    import soxr

    return soxr.resample(samples.astype(np.float32), rate_in, rate_out).astype(np.float32)


def fix_length(samples: np.ndarray, n: int = SAMPLE_RATE) -> np.ndarray:
    """Pad with zeros on both sides, or keep the centre, so that ``len(result) == n``."""
    length = samples.shape[-1]
    if length == n:
        return samples
    if length < n:
        left = (n - length) // 2
        pad = [(0, 0)] * (samples.ndim - 1) + [(left, n - length - left)]
        return np.pad(samples, pad)
    start = (length - n) // 2
    return samples[..., start : start + n]


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write 16-bit PCM WAV atomically (a temporary file renamed into place)."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    sf.write(tmp, np.clip(samples, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
    tmp.replace(path)


def _wav_declared_frames(source) -> int | None:
    """Frames a WAV header promises (libsndfile silently trusts the file size instead)."""
    import struct

    try:
        if isinstance(source, str | Path):
            with open(source, "rb") as f:
                head = f.read(65536)
        else:
            source.seek(0)
            head = source.read(65536)
    except OSError:
        return None
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, block_align = 12, 0
    while pos + 8 <= len(head):
        chunk, size = head[pos : pos + 4], struct.unpack("<I", head[pos + 4 : pos + 8])[0]
        if chunk == b"fmt " and pos + 22 <= len(head):
            block_align = struct.unpack("<H", head[pos + 20 : pos + 22])[0]
        elif chunk == b"data":
            if not block_align or size in (0, 0xFFFFFFFF):  # unknown or streamed length
                return None
            return size // block_align
        pos += 8 + size + (size & 1)
    return None


def _short(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[-1] if text else type(e).__name__

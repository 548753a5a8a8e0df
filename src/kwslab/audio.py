"""Reading audio the way users have it: any of WAV/FLAC/OGG, rate, channel count and length.

Everything becomes float32 mono at 16 kHz in [-1, 1]. :func:`fix_length` is the one rule for
clip length, shared by training and the runtime: a short clip is zero-padded equally on both
sides (the word stays centred), a long one keeps its centre ``n`` samples.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kwslab.config import SAMPLE_RATE
from kwslab.errors import AudioError

MAX_SECONDS = 3600.0  # longer input is refused as absurd (an hour streams fine; a day does not)
DECODE_RATE = 96_000 * 2  # decoded samples per second of audio, all channels: 96 kHz stereo
MIN_RATE = 1000  # Hz; below this a header is nonsense, and 16 kHz output would multiply it
MIN_CLIP_SECONDS = 0.1  # shorter clips get a warning: no word fits in 100 ms
MAX_LEVEL = 1e6  # larger float samples are garbage, not loud audio: squared, they overflow
SILENT_PEAK = 1e-4  # -80 dBFS: quieter clips get a warning (16-bit dither is ~ -90 dBFS)
BLOCK_SAMPLES = 1 << 18  # samples (all channels) decoded at a time: 1 MiB of float32


def load_audio(
    source: str | Path | bytes | io.IOBase,
    sample_rate: int = SAMPLE_RATE,
    max_seconds: float = MAX_SECONDS,
) -> np.ndarray:
    """Decode ``source`` to float32 mono samples at ``sample_rate``, in bounded memory.

    The header is checked before anything is decoded: the length against ``max_seconds``
    and frames x channels against ``max_seconds`` of 96 kHz stereo (``DECODE_RATE``), so a
    small, highly compressed file cannot ask for gigabytes. Decoding then runs block by
    block (downmix and resampling included): peak memory is one block plus the mono output.

    Args:
        source: a path, the file's bytes, or a binary file object.
        sample_rate: output rate in Hz; other rates are resampled with soxr (high quality).
        max_seconds: refuse longer input before decoding it.

    Returns:
        1-D float32 array, shape (n_samples,).

    Raises:
        AudioError: unreadable, empty, truncated, NaN/inf, over ``max_seconds`` or over the
            decoding budget; the message names the file.
    """
    import soundfile as sf  # imported here so the runtime can use fix_length without it

    name = str(source) if isinstance(source, str | Path) else "<upload>"
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    if isinstance(source, str | Path):
        _check_path(Path(source), name)
    try:
        with sf.SoundFile(source) as f:
            rate = f.samplerate
            _check_header(f.frames, f.channels, rate, max_seconds, name)
            samples, read = _decode_blocks(f, sample_rate, max_seconds, name)
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, OSError) as e:
        raise AudioError(f"{name}: not a readable audio file ({_short(e)})") from e
    if read == 0:
        raise AudioError(f"{name}: empty audio (0 samples)")
    declared = _wav_declared_frames(source)
    if declared is not None and declared > read:
        raise AudioError(f"{name}: truncated (header says {declared} samples, found {read})")
    if len(samples) == 0:
        raise AudioError(f"{name}: {read} samples at {rate} Hz are less than one sample at "
                         f"{sample_rate} Hz")
    return samples


def _check_path(path: Path, name: str) -> None:
    """A one-line reason why ``path`` is not a readable file, before libsndfile sees it."""
    import errno
    import stat

    try:
        mode = path.stat().st_mode
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise AudioError(f"{name}: symlink loop (the link points back to itself)") from e
        if e.errno == errno.ENOENT and path.is_symlink():
            raise AudioError(f"{name}: broken symlink (its target does not exist)") from e
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            raise AudioError(f"{name}: no such file") from e
        raise AudioError(f"{name}: cannot be read ({e.strerror})") from e
    if stat.S_ISDIR(mode):
        raise AudioError(f"{name}: is a folder, not an audio file")
    if not stat.S_ISREG(mode):
        raise AudioError(f"{name}: not a regular file")


def _check_header(frames: int, channels: int, rate: int, max_seconds: float, name: str) -> None:
    """Refuse, from the header alone, audio that is empty, too long or too big to decode."""
    if frames <= 0:
        raise AudioError(f"{name}: empty audio (0 samples)")
    if channels <= 0 or rate <= 0:
        raise AudioError(f"{name}: header declares {channels} channels at {rate} Hz")
    if rate < MIN_RATE:
        raise AudioError(f"{name}: a sample rate of {rate} Hz is below the {MIN_RATE} Hz minimum")
    if frames >= 1 << 62:  # libsndfile's "unknown" (a streamed FLAC without a sample count)
        raise AudioError(f"{name}: the header declares no length; re-encode the file")
    if frames / rate > max_seconds:
        raise AudioError(
            f"{name}: {frames / rate:.0f} s of audio is longer than the {max_seconds:.0f} s limit"
        )
    budget = max_seconds * DECODE_RATE
    if frames * channels > budget:
        raise AudioError(
            f"{name}: {channels} channels at {rate} Hz for {frames / rate:.1f} s would decode to "
            f"{frames * channels / 1e6:.1f} M samples, over the {budget / 1e6:.1f} M limit "
            f"({max_seconds:g} s of 96 kHz stereo); downmix or resample it first"
        )


def _decode_blocks(f, sample_rate: int, max_seconds: float, name: str) -> tuple[np.ndarray, int]:
    """Read an open SoundFile block by block: (mono float32 at ``sample_rate``, frames read)."""
    channels, rate = f.channels, f.samplerate
    block = np.empty((max(1, BLOCK_SAMPLES // channels), channels), np.float32)
    limit = min(f.frames, int(max_seconds * rate)) + 1  # a header that lied is caught here
    stream = None
    if rate != sample_rate:
        import soxr

        stream = soxr.ResampleStream(rate, sample_rate, 1, dtype="float32", quality="HQ")
    chunks: list[np.ndarray] = []
    read = 0
    while True:
        data = f.read(len(block), dtype="float32", always_2d=True, out=block)
        n = len(data)
        read += n
        if read > limit:
            raise AudioError(f"{name}: decodes to more than the {limit - 1} samples its header "
                             "declares")
        if n and not np.isfinite(data).all():
            raise AudioError(f"{name}: contains NaN or infinite samples")
        if n and (peak := float(np.abs(data).max())) > MAX_LEVEL:
            raise AudioError(f"{name}: samples reach {peak:.3g}, not an audio level (float audio "
                             f"is expected in [-1, 1]; at most {MAX_LEVEL:g} is accepted)")
        mono = data.mean(axis=1, dtype=np.float32) if channels > 1 else data[:, 0].copy()
        last = n < len(block)
        if stream is not None:
            mono = stream.resample_chunk(mono, last=last)
        if len(mono):
            chunks.append(mono)
        if last:
            break
    out = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return np.ascontiguousarray(out, dtype=np.float32), read


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample 1-D float audio with soxr (the resampler librosa uses)."""
    import soxr

    return soxr.resample(samples.astype(np.float32), rate_in, rate_out).astype(np.float32)


def level_warning(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> str | None:
    """A one-line caution when a clip's label means little: too short, silent, or too loud.

    Args:
        samples: decoded float32 mono samples (before padding to the model's length).
        sample_rate: their rate in Hz.

    Returns:
        None for an ordinary clip; otherwise the problems, joined by "; ".
    """
    problems = []
    if len(samples) < MIN_CLIP_SECONDS * sample_rate:
        ms = 1e3 * len(samples) / sample_rate
        problems.append(f"the clip is {len(samples)} samples ({ms:.1f} ms) long, too short to "
                        "hold a word")
    peak = float(np.abs(samples).max()) if len(samples) else 0.0
    if peak > 1.0:
        problems.append(f"samples reach {peak:.3g}, beyond [-1, 1] (float audio that is not "
                        "normalised): the model never heard such levels")
    elif peak == 0.0:
        problems.append("the clip is digital silence (all zeros)")
    elif peak < SILENT_PEAK:
        problems.append(f"the clip is silent (peak {20 * np.log10(peak):.0f} dBFS)")
    return "; ".join(problems) or None


def centre_start(length: int, n: int = SAMPLE_RATE) -> int:
    """Where :func:`fix_length`'s ``n`` samples start in a clip of ``length`` (negative: that
    many zeros come first)."""
    return (length - n) // 2 if length >= n else -((n - length) // 2)


def fix_length(samples: np.ndarray, n: int = SAMPLE_RATE) -> np.ndarray:
    """Pad with zeros on both sides, or keep the centre, so that ``len(result) == n``."""
    length = samples.shape[-1]
    if length == n:
        return samples
    start = centre_start(length, n)
    if length < n:
        pad = [(0, 0)] * (samples.ndim - 1) + [(-start, n - length + start)]
        return np.pad(samples, pad)
    return samples[..., start : start + n]


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write 16-bit PCM WAV atomically (a temporary file renamed into place)."""
    import soundfile as sf

    from kwslab.utils.io import replacing

    with replacing(path) as tmp:
        sf.write(tmp, np.clip(samples, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")


def audio_suffixes() -> tuple[str, ...]:
    """File suffixes searched for in folders: WAV, FLAC, OGG, and MP3 where libsndfile reads it."""
    import soundfile as sf

    return (".wav", ".flac", ".ogg") + ((".mp3",) if "MP3" in sf.available_formats() else ())


def find_audio(inputs: Sequence[str | Path]) -> list[tuple[Path, str | None]]:
    """Files as given and the audio files found (recursively) in folders, each with a problem.

    Nothing raises: a missing path, a symlink loop or an unreadable folder becomes an entry
    ``(path, "one-line reason")`` so a batch reports it and carries on; usable files get None.
    """
    import os

    def problem(path: Path) -> str | None:
        try:
            _check_path(path, str(path))
        except AudioError as e:
            return str(e)
        return None

    suffixes = audio_suffixes()
    found: list[tuple[Path, str | None]] = []
    for item in map(Path, inputs):
        if not item.is_dir():
            found.append((item, problem(item)))
            continue
        unreadable: list[OSError] = []
        files = []
        for folder, _, names in os.walk(item, onerror=unreadable.append):
            files += [Path(folder) / n for n in names if Path(n).suffix.lower() in suffixes]
        found += [(f, problem(f)) for f in sorted(files)]
        found += [(Path(e.filename or item), f"{e.filename or item}: folder cannot be read "
                   f"({e.strerror})") for e in unreadable]
    return found


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

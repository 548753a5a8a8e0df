"""Offline text-to-speech: a small ctypes binding of libespeak-ng from ``espeakng-loader``.

The wheel ships the library and its voice data, so synthetic speech needs no system package
and no network. espeak-ng keeps global state and is not thread-safe: every call goes through
one lock, and parallelism, if wanted, must use processes. A voice is a language (``en-us``,
``en-gb-x-rp``, …) optionally followed by ``+variant`` (``en-us+f3``), a file under the
data's ``voices/!v`` that changes formants and pitch.
"""

from __future__ import annotations

import ctypes
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from kwslab.errors import DataError, MissingExtraError

ESPEAK_RATE = 22_050  # Hz; espeak-ng's fixed output rate
RATE_RANGE = (80, 450)  # words per minute espeak-ng accepts without its speed-up library
PITCH_RANGE = (0, 100)  # espeak-ng's pitch parameter; 50 is the voice's own

# espeak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2  # espeak_Synth blocks and hands samples to the callback
_INITIALIZE_DONT_EXIT = 0x8000  # return an error instead of calling exit()
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EE_NOT_FOUND = 2
_RATE, _PITCH, _RANGE = 1, 3, 4  # espeak_PARAMETER

_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)
_LOCK = threading.Lock()
_chunks: list[bytes] = []  # samples of the utterance being synthesised (guarded by _LOCK)


@_CALLBACK
def _collect(wav: ctypes._Pointer, n: int, events: int | None) -> int:
    if n > 0 and wav:
        _chunks.append(ctypes.string_at(wav, n * 2))
    return 0  # 0: keep synthesising


@lru_cache(maxsize=1)
def _data_path() -> Path:
    try:
        import espeakng_loader
    except ImportError as e:
        raise MissingExtraError(
            "synthetic speech needs espeak-ng: pip install espeakng-loader"
        ) from e
    return Path(espeakng_loader.get_data_path())


@lru_cache(maxsize=1)
def _library() -> ctypes.CDLL:
    """Load and initialise libespeak-ng once per process (call with ``_LOCK`` held)."""
    import espeakng_loader

    data = _data_path()
    path = espeakng_loader.get_library_path()
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise DataError(f"cannot load the espeak-ng library {path}: {e}") from e
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
        ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
    ]
    rate = lib.espeak_Initialize(
        _AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data).encode(), _INITIALIZE_DONT_EXIT
    )
    if rate != ESPEAK_RATE:
        raise DataError(f"espeak-ng failed to initialise with data {data} (status {rate})")
    lib.espeak_SetSynthCallback(_collect)
    return lib


@lru_cache(maxsize=1)
def available_voices() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(languages, variants)`` shipped with espeak-ng; a voice is ``language[+variant]``."""
    data = _data_path()
    languages = sorted({p.name.lower() for p in (data / "lang").rglob("*") if p.is_file()})
    variants = sorted(p.name for p in (data / "voices" / "!v").iterdir() if p.is_file())
    return tuple(languages), tuple(variants)


def check_voice(voice: str) -> None:
    """Raise :class:`DataError` naming the valid choices if espeak-ng lacks ``voice``.

    espeak-ng silently ignores an unknown ``+variant``, so variants are checked against the
    data folder here; the language is checked by espeak-ng itself.
    """
    languages, variants = available_voices()
    language, _, variant = voice.partition("+")
    if variant and variant not in variants:
        raise DataError(
            f"unknown voice variant {variant!r} in {voice!r}; variants: {', '.join(variants)}"
        )
    with _LOCK:
        status = _library().espeak_SetVoiceByName(language.encode())
    if status != 0 or not language:
        english = [x for x in languages if x.startswith("en")]
        raise DataError(
            f"unknown voice {voice!r}; English voices: {', '.join(english)} (and "
            f"{len(languages) - len(english)} other languages), optionally +variant like +f3"
        )


def speak(text: str, voice: str = "en-us", *, rate: int = 175, pitch: int = 50,
          pitch_range: int = 50) -> np.ndarray:
    """Synthesise ``text`` with espeak-ng.

    Args:
        text: plain text (no SSML), spoken as written.
        voice: ``language[+variant]``; see :func:`available_voices`.
        rate: words per minute, within :data:`RATE_RANGE`.
        pitch: base pitch 0-100 (50 = the voice's own).
        pitch_range: intonation range 0-100 (0 = monotone).

    Returns:
        float32 mono samples in [-1, 1] at :data:`ESPEAK_RATE` (22050 Hz), silence included.

    Raises:
        DataError: the library cannot be loaded, the voice is unknown or synthesis fails.
    """
    encoded = text.encode("utf-8")
    with _LOCK:
        lib = _library()
        if lib.espeak_SetVoiceByName(voice.encode()) == _EE_NOT_FOUND:
            raise DataError(f"unknown voice {voice!r}")
        lib.espeak_SetParameter(_RATE, int(rate), 0)
        lib.espeak_SetParameter(_PITCH, int(pitch), 0)
        lib.espeak_SetParameter(_RANGE, int(pitch_range), 0)
        _chunks.clear()
        status = lib.espeak_Synth(
            encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
        )
        lib.espeak_Synchronize()
        raw = b"".join(_chunks)
        _chunks.clear()
    if status != 0:
        raise DataError(f"espeak-ng could not synthesise {text!r} with {voice!r} (status {status})")
    return np.frombuffer(raw, dtype=np.int16).astype(np.float32) / 32768.0

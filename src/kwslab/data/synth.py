"""Synthetic keyword datasets for any words, in the Speech Commands layout.

When no recordings of a wake word exist, espeak-ng (:mod:`kwslab.data.tts`) speaks it with
many voices, rates and pitches. Each voice x pitch pair acts as one "speaker", so the split
lists assign whole speakers to validation and test, as in the real corpus, and the folder
feeds :func:`~kwslab.data.speechcommands.prepare_speech_commands` unchanged::

    out/
      lights_on/en-us-f2-p50_nohash_0.wav ...   1 s, 16 kHz, mono, 16-bit
      bed/ ...                                  other words, for the _unknown_ class
      _background_noise_/white_noise.wav ...    60 s of noise, for _silence_ and augmentation
      validation_list.txt, testing_list.txt     whole speakers, ~10 % each
      synth.json                                the settings; .completed when done

Every clip draws its randomness (placement, gain, noise, reverb) from its own name and the
seed, so the order of work does not matter; espeak-ng itself varies by a few samples from call
to call (it keeps generator state between utterances), so audio is similar, not bit-identical,
across runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kwslab.audio import resample, write_wav
from kwslab.config import SAMPLE_RATE
from kwslab.data import tts
from kwslab.data.speechcommands import NOISE_DIR
from kwslab.errors import DataError

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
NOISE_COLORS = ("white", "pink", "brown")
NOISE_SECONDS = 60  # per background file, like the real corpus's ~1 min recordings
SNR_DB = (10.0, 30.0)  # speech-to-noise ratio of noisy clips (training adds its own noise)
FLOOR_DB = (50.0, 70.0)  # every clip's faint noise floor: no digital silence to key on
RT60_S = (0.15, 0.6)  # range of the synthetic rooms' reverberation time
MAX_SHIFT_S = 0.15  # the word's centre moves at most this far from the clip's centre
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


def folder_name(text: str) -> str:
    """The folder of a word or phrase: lower case, spaces as ``_`` ("Lights on" -> lights_on)."""
    name = re.sub(r"[^a-z0-9'-]+", "_", text.strip().lower()).strip("_")
    if not re.search(r"[a-z0-9]", name):
        raise DataError(f"word {text!r} has no letters or digits to speak")
    return name


def speaker_id(voice: str, pitch: int) -> str:
    """A file-name-safe id for one voice at one pitch (``en-us+f2``, 50 -> ``en-us-f2-p50``)."""
    return re.sub(r"[^a-z0-9-]+", "-", voice.lower()).strip("-") + f"-p{pitch}"


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
    noise: float = 0.25, reverb: float = 0.25, unknown_words: Sequence[str] | None = None,
    seed: int = 0, progress: bool = True,
) -> Path:
    """Write a Speech Commands-style folder of synthetic clips of ``words``.

    Each word gets one clip per voice x pitch x rate (the defaults: 20 x 3 x 3 = 180). Each
    unknown word gets one clip per voice at a pitch and rate drawn from the lists, in its own
    folder, so the recipe's ``unknown=True`` draws the ``_unknown_`` class from them.

    Args:
        words: words or phrases; ``"lights on"`` is written to folder ``lights_on``.
        out: dataset folder, created if needed.
        voices: espeak-ng voices (``language[+variant]``); None: :data:`DEFAULT_VOICES`.
        rates: speaking rates in words per minute (80-450).
        pitches: pitches 0-100; each voice at each pitch is one speaker.
        noise: share of clips (0-1) mixed with coloured noise at an SNR in :data:`SNR_DB`.
        reverb: share of clips (0-1) convolved with a synthetic room.
        unknown_words: other words for the _unknown_ class (those clashing with ``words`` are
            dropped); None or empty: none. :data:`DEFAULT_UNKNOWN_WORDS` is a ready list.
        seed: makes the audio and the speaker split reproducible.
        progress: show a progress bar on stderr.

    Returns:
        ``out``. A finished folder (``.completed`` present, same settings) is left untouched;
        an interrupted one is completed.

    Raises:
        DataError: empty word list, unknown voice, a value out of range, a word that
            synthesises to silence, or ``out`` made earlier with other settings.
    """
    out = Path(out)
    voices = tuple(dict.fromkeys(DEFAULT_VOICES if voices is None else voices))
    rates, pitches = tuple(dict.fromkeys(rates)), tuple(dict.fromkeys(pitches))
    folders = [folder_name(w) for w in words]
    if not folders:
        raise DataError("no words to synthesise; give at least one word")
    if len(set(folders)) < len(folders):
        raise DataError(f"words {', '.join(words)} repeat a folder name")
    _check_options(voices, rates, pitches, noise, reverb)
    spoken = set(folders) | {part for w in words for part in w.lower().split()}
    extra = [w for w in dict.fromkeys(unknown_words or ()) if folder_name(w) not in spoken]
    params = {
        "words": list(words), "voices": list(voices), "rates": [int(r) for r in rates],
        "pitches": [int(p) for p in pitches], "noise": float(noise), "reverb": float(reverb),
        "unknown_words": extra, "seed": seed, "engine": "espeak-ng", "sample_rate": SAMPLE_RATE,
    }
    params_path = out / PARAMS_FILE
    if params_path.is_file():
        if json.loads(params_path.read_text()) != params:
            raise DataError(f"{out} holds a synthetic set made with other settings (see "
                            f"{params_path}); choose another folder or delete it")
        if (out / MARKER).is_file():
            return out
    for voice in voices:
        tts.check_voice(voice)
    _write_text(params_path, json.dumps(params, indent=2) + "\n")

    jobs = [
        _Job(w, f, f"{speaker_id(v, p)}_nohash_{i}.wav", v, r, p)
        for w, f in zip(words, folders, strict=True) for v in voices for p in pitches
        for i, r in enumerate(rates)
    ]
    for w in extra:  # one clip per voice: variety across words matters more for _unknown_
        for v in voices:
            pick = zlib.crc32(f"{seed}:{w}:{v}".encode())
            p, r = pitches[pick % len(pitches)], rates[pick // len(pitches) % len(rates)]
            jobs.append(_Job(w, folder_name(w), f"{speaker_id(v, p)}_nohash_0.wav", v, r, p))
    todo = [j for j in jobs if not (out / j.folder / j.file).is_file()]
    _write_noise(out / NOISE_DIR, seed)
    _run(todo, out, noise, reverb, seed, progress)

    split = assign_splits([speaker_id(v, p) for v in voices for p in pitches], seed)
    held_out = {"validation": [], "test": []}
    for j in jobs:
        s = split[j.file.split("_nohash_")[0]]
        if s in held_out:
            held_out[s].append(f"{j.folder}/{j.file}")
    for s, name in (("validation", "validation_list.txt"), ("test", "testing_list.txt")):
        _write_text(out / name, "".join(f"{x}\n" for x in sorted(held_out[s])))
    _write_text(out / MARKER, "")
    return out


def _check_options(voices: Sequence[str], rates: Sequence[int], pitches: Sequence[int],
                   noise: float, reverb: float) -> None:
    if not voices or not rates or not pitches:
        raise DataError("voices, rates and pitches need at least one value each")
    lo, hi = tts.RATE_RANGE
    for r in rates:
        if not lo <= r <= hi:
            raise DataError(f"rate {r} is outside espeak-ng's {lo}-{hi} words per minute")
    lo, hi = tts.PITCH_RANGE
    for p in pitches:
        if not lo <= p <= hi:
            raise DataError(f"pitch {p} is outside espeak-ng's {lo}-{hi}")
    for name, value in (("noise", noise), ("reverb", reverb)):
        if not 0.0 <= value <= 1.0:
            raise DataError(f"{name}={value} is a share of clips and must be in [0, 1]")


def _run(jobs: list[_Job], out: Path, noise: float, reverb: float, seed: int,
         progress: bool) -> None:
    """Synthesise and write ``jobs``; each file is atomic, so an interruption loses nothing."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())

    def make(j: _Job) -> None:
        rng = np.random.default_rng([seed, zlib.crc32(f"{j.folder}/{j.file}".encode())])
        clip = synthesize_clip(j.text, j.voice, rate=j.rate, pitch=j.pitch, noise=noise,
                               reverb=reverb, rng=rng)
        write_wav(out / j.folder / j.file, clip)

    bar = Progress(*columns, console=Console(stderr=True), disable=not progress, transient=True)
    # espeak-ng runs under its lock; threads overlap the NumPy work and the file syncs.
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


def _write_noise(folder: Path, seed: int) -> None:
    """Long white/pink/brown noise files whose loudness drifts, so 1 s cuts vary in level."""
    n = NOISE_SECONDS * SAMPLE_RATE
    for k, color in enumerate(NOISE_COLORS):
        path = folder / f"{color}_noise.wav"
        if path.is_file():
            continue
        rng = np.random.default_rng([seed, 1000 + k])
        x = colored_noise(n, color, rng)
        t = np.arange(n) / SAMPLE_RATE
        envelope = 0.55 + 0.45 * np.sin(2 * np.pi * t / rng.uniform(7, 13) + rng.uniform(0, 6))
        x = x * envelope
        write_wav(path, 0.5 * x / np.abs(x).max())


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def synthesize_clip(text: str, voice: str, *, rate: int = 175, pitch: int = 50,
                    noise: float = 0.0, reverb: float = 0.0,
                    rng: np.random.Generator | None = None) -> np.ndarray:
    """One 1 s clip of ``text``: trimmed, placed near the centre, maybe reverberant and noisy.

    Args:
        text: word or phrase to speak.
        voice: espeak-ng voice, ``language[+variant]``.
        rate: words per minute; raised automatically if the phrase would not fit in 1 s.
        pitch: 0-100.
        noise: probability of mixing white/pink/brown noise at an SNR in :data:`SNR_DB`.
        reverb: probability of convolving with a synthetic room (RT60 in :data:`RT60_S`).
        rng: source of the shift, gain, intonation range, noise and room.

    Returns:
        float32, shape (16000,), 16 kHz, peak below 1.

    Raises:
        DataError: the text synthesises to silence or cannot fit in 1 s.
    """
    rng = rng if rng is not None else np.random.default_rng()
    pitch_range = int(rng.integers(30, 81))
    word = np.zeros(0, dtype=np.float32)
    for _ in range(4):  # speed up a phrase too long for the clip
        word = _trim(resample(tts.speak(text, voice, rate=rate, pitch=pitch,
                                        pitch_range=pitch_range), tts.ESPEAK_RATE, SAMPLE_RATE))
        if len(word) == 0:
            raise DataError(f"{text!r} synthesises to silence with voice {voice!r}")
        if len(word) <= SAMPLE_RATE - 2 * MARGIN or rate >= tts.RATE_RANGE[1]:
            break
        rate = min(tts.RATE_RANGE[1], int(rate * len(word) / (SAMPLE_RATE - 2 * MARGIN) * 1.1))
    if len(word) > SAMPLE_RATE - 2 * MARGIN:
        raise DataError(f"{text!r} lasts {len(word) / SAMPLE_RATE:.2f} s even at {rate} words "
                        "per minute; keep phrases under 1 s")
    slack = SAMPLE_RATE - 2 * MARGIN - len(word)
    shift = int(rng.uniform(-1, 1) * min(slack / 2, MAX_SHIFT_S * SAMPLE_RATE))
    start = MARGIN + slack // 2 + shift
    clip = np.zeros(SAMPLE_RATE, dtype=np.float32)
    clip[start : start + len(word)] = word / np.abs(word).max()
    speech_power = float(np.mean(clip[start : start + len(word)] ** 2))
    if rng.random() < reverb:
        clip = _reverberate(clip, rng)
    if rng.random() < noise:
        snr = rng.uniform(*SNR_DB)
        color = NOISE_COLORS[int(rng.integers(len(NOISE_COLORS)))]
        scale = np.sqrt(speech_power / 10 ** (snr / 10))
        clip = clip + colored_noise(len(clip), color, rng) * scale
    floor = np.sqrt(speech_power / 10 ** (rng.uniform(*FLOOR_DB) / 10))
    clip = clip + rng.standard_normal(len(clip)).astype(np.float32) * floor
    return (clip * rng.uniform(0.3, 0.9) / np.abs(clip).max()).astype(np.float32)


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


def room_impulse_response(rng: np.random.Generator) -> np.ndarray:
    """A direct path plus an exponentially decaying noise tail: a cheap stand-in for a room."""
    rt60 = rng.uniform(*RT60_S)
    n = int(rt60 * SAMPLE_RATE)
    delay = int(rng.uniform(0.002, 0.015) * SAMPLE_RATE)  # first reflection, 2-15 ms
    tail = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)  # -60 dB at rt60
    tail *= np.sqrt(rng.uniform(0.3, 1.5) / np.sum(tail**2))  # reverberant/direct energy
    ir = np.zeros(delay + n)
    ir[0] = 1.0
    ir[delay:] += tail
    return ir


def _reverberate(clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ir = room_impulse_response(rng)
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

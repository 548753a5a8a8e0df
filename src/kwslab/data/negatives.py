"""Long recordings with none of the keywords: windows to train against, hours to measure on.

A spotter that never heard speech other than its words fires on it. Any folder of audio the
user gives (speech that is not a keyword, music, household noise; any length, format or rate)
is split *by file* so no recording serves two purposes: within each sub-folder, files in name
order go round-robin to ``train``, ``validation``, ``test``, ``test`` (a quarter trains the
model, a quarter chooses its thresholds, half measures false accepts per hour). Training cuts
random 1 s windows from its quarter as ``_unknown_`` clips. Keywords shifted to the window's
edge (:func:`off_centre_clips`) are negatives of another kind: a word half in the window.
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

from kwslab.audio import centre_start
from kwslab.config import UNKNOWN
from kwslab.data.manifest import Clip
from kwslab.errors import DataError

SUFFIXES = (".wav", ".flac", ".ogg", ".opus", ".mp3")
ROUND_ROBIN = ("train", "validation", "test", "test")  # split of the i-th file of a folder


def negative_files(root: str | Path) -> tuple[dict[str, list[Path]], list[tuple[str, str]]]:
    """Readable audio files under ``root`` by split, and (path, reason) of unreadable ones.

    Raises:
        DataError: ``root`` is missing or holds no readable audio.
    """
    import soundfile as sf

    root = Path(root)
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise DataError(f"negatives folder {root} {what}")
    by_folder: dict[Path, list[Path]] = defaultdict(list)
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() in SUFFIXES and p.is_file():
            by_folder[p.parent].append(p)
    out: dict[str, list[Path]] = {s: [] for s in dict.fromkeys(ROUND_ROBIN)}
    bad = []
    for files in by_folder.values():
        readable = []
        for p in files:
            try:
                info = sf.info(str(p))
            except (sf.LibsndfileError, RuntimeError, OSError) as e:
                bad.append((str(p), str(e).splitlines()[0] if str(e) else type(e).__name__))
                continue
            if info.frames <= 0:
                bad.append((str(p), "no audio"))
                continue
            readable.append(p)
        for i, p in enumerate(readable):
            out[ROUND_ROBIN[i % len(ROUND_ROBIN)]].append(p)
    if not any(out.values()):
        raise DataError(f"{root}: no readable audio files ({', '.join(SUFFIXES)})"
                        + (f"; {len(bad)} unreadable, first: {bad[0][0]}" if bad else ""))
    return out, bad


def negative_clips(root: str | Path, per_split: dict[str, int], *, seed: int = 0,
                   clip_samples: int = 16_000) -> list[Clip]:
    """``per_split[split]`` random 1 s cuts of that split's negative files, as ``_unknown_``.

    Cuts are spread over the files in proportion to their length; the speaker field names
    the file, so a file never spans two splits.
    """
    files, _ = negative_files(root)
    rng = random.Random(seed + 2)
    out = []
    for split, n in per_split.items():
        pool = files.get(split, [])
        lengths = [_samples_16k(p) for p in pool]
        usable = [(p, n_) for p, n_ in zip(pool, lengths, strict=True) if n_ > clip_samples]
        if not usable or n <= 0:
            continue
        total = sum(n_ for _, n_ in usable)
        for p, n_ in usable:
            k = max(1, round(n * n_ / total))
            for _ in range(k):
                offset = rng.randrange(0, n_ - clip_samples)
                out.append(Clip(str(p.resolve()), UNKNOWN, f"neg-{p.stem}", split, offset,
                                clip_samples))
    return out


OFF_CENTRE_S = (0.4, 0.6)  # shift of an off-centre keyword: its centre +-0.1 s from an edge


def off_centre_clips(keywords: list[Clip], per_split: dict[str, int], *, seed: int = 0,
                     clip_samples: int = 16_000) -> list[Clip]:
    """``per_split[split]`` keyword clips of that split shifted so the word sits at the
    window's edge, as ``_unknown_``: a window a stream scores while the word enters or leaves
    it is not a clean hit, and training says so (``data.off_centre_per_word``).

    Each is the keyword's file cut ``OFF_CENTRE_S`` seconds earlier or later (samples past the
    file are silence; a front end's context reads the file around the cut, as a stream's
    window does: :func:`kwslab.data.dataset.load_clip`). A clip keeps its speaker and split.
    Keywords are 1 s clips centred on their word, as Speech Commands records them; their
    time-shift augmentation (at most 0.1 s by default) never reaches these shifts.
    """
    rng = random.Random(seed + 3)
    lo, hi = (round(s * clip_samples) for s in OFF_CENTRE_S)
    out, lengths = [], {}  # a clip may be drawn more than once: its header is read once
    for split, n in per_split.items():
        pool = [c for c in keywords if c.split == split and not c.length]
        for c in (rng.choices(pool, k=n) if pool and n > 0 else []):
            if c.path not in lengths:
                lengths[c.path] = _samples_16k(c.path)
            start = centre_start(lengths[c.path], clip_samples)  # the clip's centred second
            shift = rng.randint(lo, hi) * rng.choice((-1, 1))
            out.append(Clip(c.path, UNKNOWN, c.speaker, split, start + shift, clip_samples))
    return out


def _samples_16k(path: str | Path) -> int:
    """The file's length in samples at 16 kHz (as :func:`kwslab.audio.load_audio` decodes it),
    from its header."""
    import soundfile as sf

    info = sf.info(str(path))
    return int(info.frames * 16_000 / info.samplerate)

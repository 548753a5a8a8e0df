"""Recipe: a folder in the Speech Commands layout -> a list of clips with splits.

Layout: one folder per word holding ``SPEAKER_nohash_N.wav``; ``validation_list.txt`` and
``testing_list.txt`` name held-out clips as ``word/file.wav``; ``_background_noise_/`` holds
long noise recordings. Without the two lists, splits come from hashing the speaker id
(:func:`~kwslab.data.manifest.which_set`). Synthetic sets written by :mod:`kwslab.data.synth`
use the same layout.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from kwslab.config import SILENCE, UNKNOWN, DataConfig
from kwslab.data.dataset import _long_file
from kwslab.data.manifest import SPLITS, Clip, speaker_of, which_set
from kwslab.errors import AudioError, DataError

NOISE_DIR = "_background_noise_"
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
# Background-noise files are split by time so silence cuts never leak across splits.
NOISE_SPLIT_BOUNDS = {"train": (0.0, 0.8), "validation": (0.8, 0.9), "test": (0.9, 1.0)}
# A silence cut keeps this far (samples at 16 kHz) from a boundary between two splits' parts,
# so the context a front end reads around it (FeatureConfig.context_ms <= 500) stays in its own.
SPLIT_GUARD = 8000


def available_words(root: str | Path) -> list[str]:
    """Word folders under ``root`` (folders holding audio, ``_background_noise_`` excluded)."""
    root = Path(root)
    return sorted(
        p.name for p in list_folder(root)
        if p.is_dir() and not p.name.startswith((".", "_")) and _has_audio(p)
    )


def _has_audio(folder: Path) -> bool:
    return any(f.suffix.lower() in AUDIO_SUFFIXES for f in list_folder(folder))


def list_folder(folder: Path) -> list[Path]:
    """The sorted entries of ``folder``; one line naming it when it cannot be listed."""
    try:
        return sorted(folder.iterdir())
    except OSError as e:
        raise DataError(f"{folder}: cannot list this folder ({e.strerror}); fix its "
                        "permissions or move it out of the dataset") from e


def _real(path: Path) -> Path:
    """The absolute path with symlinks resolved; a symlink loop stays as it is (its clip is
    then reported as unreadable) instead of raising, as ``Path.resolve`` does."""
    return Path(os.path.realpath(path))


def read_split_lists(root: Path) -> dict[str, str] | None:
    """``{"word/file.wav": split}`` from the list files, or None when both are absent."""
    lists = {"validation": root / "validation_list.txt", "test": root / "testing_list.txt"}
    if not any(p.is_file() for p in lists.values()):
        return None
    table = {}
    for split, path in lists.items():
        for entry in read_list(path):
            table[entry] = split
    return table


def read_list(path: Path) -> list[str]:
    """The entries (``word/file.wav``) of one list file; none when it is absent."""
    if not path.is_file():
        return []
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) else "not UTF-8 text"
        raise DataError(f"{path}: cannot be read ({reason}); it should list one "
                        "word/file.wav per line") from e
    return [line.strip() for line in text.splitlines() if line.strip()]


def prepare_speech_commands(
    root: str | Path, cfg: DataConfig = DataConfig(), *, seed: int = 0,  # noqa: B008
    splits_from: str = "lists",
) -> list[Clip]:
    """All clips of ``cfg.words`` (plus _unknown_/_silence_ if enabled) with their splits.

    Args:
        root: dataset folder.
        cfg: which words, caps and extra classes.
        seed: picks which clips survive ``max_per_word`` and which other words fill _unknown_.
        splits_from: ``"lists"`` (the list files, hashing where absent) or ``"all"``: every
            clip is put in split ``"all"`` whatever the lists say.

    Raises:
        DataError: the folder or a requested word is missing.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"dataset folder {root} does not exist")
    words = available_words(root)
    missing = [w for w in cfg.words if w not in words]
    if missing:
        raise DataError(
            f"{root}: no folder for word(s) {', '.join(missing)}; available: "
            f"{', '.join(words) or 'none'}"
        )
    lists = read_split_lists(root) if splits_from == "lists" else None
    rng = random.Random(seed)

    def clips_of(word: str, label: str) -> list[Clip]:
        out = []
        for f in list_folder(root / word):
            if f.suffix.lower() not in AUDIO_SUFFIXES:
                continue
            key = f"{word}/{f.name}"
            if splits_from == "all":
                split = "all"
            elif lists is not None:
                split = lists.get(key, "train")
            else:
                split = which_set(f.name)
            out.append(Clip(str(_real(f)), label, speaker_of(f.name), split))
        return out

    clips: list[Clip] = []
    for word in cfg.words:
        word_clips = clips_of(word, word)
        if cfg.max_per_word:
            train = [c for c in word_clips if c.split == "train"]
            rng.shuffle(train)
            keep = set(train[: cfg.max_per_word])
            word_clips = [c for c in word_clips if c.split != "train" or c in keep]
        clips.extend(word_clips)
    if not clips:
        raise DataError(f"{root}: no audio files for {', '.join(cfg.words)}")

    per_split = {s: sum(c.split == s for c in clips) for s in (*SPLITS, "all")}
    target = {s: max(1, round(n / len(cfg.words))) for s, n in per_split.items() if n}
    if cfg.unknown:
        others = [c for w in words if w not in cfg.words for c in clips_of(w, UNKNOWN)]
        for split, n in target.items():
            pool = [c for c in others if c.split == split]
            rng.shuffle(pool)
            clips.extend(pool[:n])
    if cfg.silence:
        clips.extend(silence_clips(root, target, seed=seed))
    if cfg.negatives:
        from kwslab.data.negatives import negative_clips

        wanted = {s: round(cfg.negatives_per_word * n) for s, n in target.items()}
        clips.extend(negative_clips(cfg.negatives, wanted, seed=seed))
    if cfg.off_centre_per_word:
        from kwslab.data.negatives import off_centre_clips

        keywords = [c for c in clips if c.label in cfg.words]
        wanted = {s: round(cfg.off_centre_per_word * n) for s, n in target.items()}
        clips.extend(off_centre_clips(keywords, wanted, seed=seed))
    return clips


def silence_clips(root: Path, per_split: dict[str, int], *, seed: int = 0,
                  clip_samples: int = 16000) -> list[Clip]:
    """1 s cuts of the background-noise files for the _silence_ class.

    Each noise file is divided by time (80/10/10 %) between train/validation/test, so a cut
    seen in training never reappears in the test set; a cut keeps :data:`SPLIT_GUARD` from the
    next split's part, so neither does the context read around it. Unreadable files are left out
    (:func:`unreadable_noise_files` names them); offsets count samples at 16 kHz.
    """
    files = noise_files(root)
    if not files:
        unreadable = unreadable_noise_files(root)
        if unreadable:
            raise DataError(f"{root}: no readable noise recording in {NOISE_DIR}/ for the "
                            f"_silence_ class; first: {unreadable[0][1]}")
        raise DataError(f"{root}: the _silence_ class needs {NOISE_DIR}/ with noise recordings")
    rng = random.Random(seed + 1)
    lengths = {f: len(_long_file(str(f))) for f in files}
    out = []
    for split, n in per_split.items():
        lo, hi = NOISE_SPLIT_BOUNDS.get(split, (0.0, 1.0))
        for i in range(n):
            f = files[i % len(files)]
            start = int(lo * lengths[f]) + (SPLIT_GUARD if lo > 0 else 0)
            end = int(hi * lengths[f]) - clip_samples - (SPLIT_GUARD if hi < 1 else 0)
            if end <= start:
                continue
            offset = rng.randrange(start, end)
            out.append(Clip(str(f), SILENCE, f"noise-{f.stem}", split, offset, clip_samples))
    return out


def noise_files(root: str | Path) -> list[Path]:
    """The readable background-noise recordings of a dataset folder, resolved (may be empty).

    Each is decoded once per process to check it; :func:`unreadable_noise_files` names the rest.
    """
    return [f for f in _noise_candidates(root) if _noise_error(f) is None]


def unreadable_noise_files(root: str | Path) -> list[tuple[str, str]]:
    """``[(path, reason)]`` of the background-noise files that do not decode."""
    return [(str(f), why) for f in _noise_candidates(root) if (why := _noise_error(f))]


def _noise_candidates(root: str | Path) -> list[Path]:
    d = Path(root) / NOISE_DIR
    if not d.is_dir():
        return []
    return [_real(f) for f in list_folder(d) if f.name.endswith(".wav")]


def _noise_error(path: Path) -> str | None:
    try:
        _long_file(str(path))  # cached per process: the silence cuts read it from there
    except AudioError as e:
        return str(e)
    return None


def select_split(clips: list[Clip], split: str) -> list[Clip]:
    """Clips of one split; ``"all"`` keeps every clip."""
    if split == "all":
        return list(clips)
    if split not in SPLITS:
        raise DataError(f"split {split!r} is not one of {', '.join((*SPLITS, 'all'))}")
    return [c for c in clips if c.split == split]

"""Speaker-grouped folds: accuracy measured on voices that no choice was made on.

One fixed test split, looked at in many experiments, leans every choice toward its ~20
speakers. K-fold cross-validation grouped by speaker uses every clip (train, validation and
test lists together) as test data once, and never puts a speaker in two folds. For fold ``k``
the test speakers are fold ``k``'s; the other folds' speakers are split again, by speaker, into
training (4/5) and validation (1/5: the only speakers any choice, such as the best epoch, is
made on).

A fold is materialised as a folder in the Speech Commands layout: links to the original word
folders and noise recordings, plus that fold's ``validation_list.txt`` and
``testing_list.txt``, so every recipe, cache and evaluator reads it unchanged.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from pathlib import Path

from kwslab.data.speechcommands import AUDIO_SUFFIXES, NOISE_DIR, available_words
from kwslab.errors import DataError
from kwslab.utils.io import write_text_atomic

VALIDATION_PARTS = 5  # the training folds' speakers are split 4:1 into train and validation
SPEAKER_PATTERN = re.compile(r"^(?P<speaker>[^_]+)_nohash_\d+$")  # SPEAKER_nohash_N.wav


def dataset_speakers(root: str | Path) -> dict[str, list[str]]:
    """``{speaker: ["word/file.wav", ...]}`` for every clip of every word folder of ``root``.

    Raises:
        DataError: the folder is missing, or a file name does not name its speaker.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"dataset folder {root} does not exist")
    out: dict[str, list[str]] = defaultdict(list)
    for word in available_words(root):
        for f in sorted((root / word).iterdir()):
            if f.suffix.lower() not in AUDIO_SUFFIXES:
                continue
            m = SPEAKER_PATTERN.match(f.stem)
            if m is None:
                raise DataError(f"{word}/{f.name}: cannot read the speaker from the file name; "
                                "speaker folds need SPEAKER_nohash_N.wav names")
            out[m["speaker"]].append(f"{word}/{f.name}")
    if not out:
        raise DataError(f"{root}: no audio files in word folders")
    return dict(out)


def assign_folds(speakers: dict[str, list[str]], k: int, *, seed: int = 0) -> dict[str, int]:
    """Speaker -> fold in ``0..k-1``, folds balanced by clip count (largest speakers first).

    Raises:
        DataError: ``k`` < 2 or more than the number of speakers.
    """
    if k < 2:
        raise DataError(f"--folds {k}: need at least 2 folds")
    if k > len(speakers):
        raise DataError(f"--folds {k}: only {len(speakers)} speakers; use at most that many")
    order = sorted(speakers)
    random.Random(seed).shuffle(order)  # ties broken by seed, not by name
    order.sort(key=lambda s: -len(speakers[s]))
    sizes = [0] * k
    fold: dict[str, int] = {}
    for s in order:
        i = min(range(k), key=lambda j: (sizes[j], j))
        fold[s] = i
        sizes[i] += len(speakers[s])
    return fold


def check_folds(speakers: dict[str, list[str]], fold: dict[str, int], k: int,
                words: tuple[str, ...]) -> None:
    """Every fold must hold clips of every word, or its accuracy is not comparable.

    Raises:
        DataError: names the first fold and word without a clip.
    """
    have: dict[int, Counter] = defaultdict(Counter)
    for s, files in speakers.items():
        have[fold[s]].update(f.split("/")[0] for f in files)
    for i in range(k):
        for w in words:
            if have[i][w] == 0:
                raise DataError(f"fold {i} of {k} has no clip of {w!r}; use fewer folds")


def write_fold(root: str | Path, speakers: dict[str, list[str]], fold: dict[str, int], k: int,
               index: int, dest: str | Path) -> Path:
    """Fold ``index`` as a dataset folder at ``dest`` (links + list files); returns ``dest``.

    Test: fold ``index``'s speakers; validation: a fifth of the other speakers (balanced by
    clips, drawn with seed ``index``); train: the rest.
    """
    root, dest = Path(root).resolve(), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for child in [*available_words(root), NOISE_DIR]:
        link = dest / child
        if (root / child).is_dir() and not link.exists():
            link.symlink_to(root / child, target_is_directory=True)
    rest = {s: fs for s, fs in speakers.items() if fold[s] != index}
    parts = assign_folds(rest, min(VALIDATION_PARTS, len(rest)), seed=index)
    lists = {"testing_list.txt": [s for s in speakers if fold[s] == index],
             "validation_list.txt": [s for s in rest if parts[s] == 0]}
    for name, who in lists.items():
        files = sorted(f for s in who for f in speakers[s])
        write_text_atomic(dest / name, "".join(f"{f}\n" for f in files))
    return dest

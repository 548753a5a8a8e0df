"""Clips as plain records, their splits, and JSONL manifests.

A :class:`Clip` names one 1 s example: a file (or a 1 s cut of a long noise file for the
``_silence_`` class), its label, its speaker and its split. Recipes turn folders into lists
of clips; everything downstream (datasets, caches, reports) reads only these records.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from kwslab.errors import DataError

SPLITS = ("train", "validation", "test")
MAX_NUM_WAVS_PER_CLASS = 2**27 - 1  # ~134M, from the Speech Commands README


@dataclass(frozen=True)
class Clip:
    """One example.

    ``offset`` and ``length`` (samples) select a cut of a long file; ``length=0`` means the
    whole file.
    """

    path: str
    label: str
    speaker: str
    split: str
    offset: int = 0
    length: int = 0


def speaker_of(filename: str) -> str:
    """The speaker id in a Speech Commands name: ``SPEAKER_nohash_N.wav`` -> ``SPEAKER``."""
    return re.sub(r"_nohash_.*$", "", Path(filename).name)


def which_set(filename: str, validation_percentage: float = 10.0,
              testing_percentage: float = 10.0) -> str:
    """Split of a file by hashing its speaker id, exactly as the dataset's README specifies.

    Every clip of one speaker lands in the same split, so no speaker spans two.
    """
    hash_name = speaker_of(filename).encode("utf-8")
    digest = hashlib.sha1(hash_name).hexdigest()
    percentage = (int(digest, 16) % (MAX_NUM_WAVS_PER_CLASS + 1)) * (
        100.0 / MAX_NUM_WAVS_PER_CLASS
    )
    if percentage < validation_percentage:
        return "validation"
    if percentage < testing_percentage + validation_percentage:
        return "test"
    return "train"


def counts(clips: Iterable[Clip]) -> dict[str, dict[str, int]]:
    """``{label: {split: n}}`` with every split present."""
    table: dict[str, Counter] = defaultdict(Counter)
    for c in clips:
        table[c.label][c.split] += 1
    return {label: {s: table[label][s] for s in SPLITS} for label in sorted(table)}


def write_manifest(clips: Iterable[Clip], path: str | Path) -> None:
    """Write clips as JSON lines, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        for c in clips:
            f.write(json.dumps(asdict(c)) + "\n")
    os.replace(tmp, path)


def read_manifest(path: str | Path) -> list[Clip]:
    """Read clips written by :func:`write_manifest`."""
    clips = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                clips.append(Clip(**json.loads(line)))
            except (json.JSONDecodeError, TypeError) as e:
                raise DataError(f"{path}:{n}: not a clip record ({e})") from e
    return clips

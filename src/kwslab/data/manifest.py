"""Clips as plain records, their splits, and JSONL manifests.

A :class:`Clip` names one 1 s example: a file (or a 1 s cut of a long noise file for the
``_silence_`` class), its label, its speaker and its split. Recipes turn folders into lists
of clips; everything downstream (datasets, caches, reports) reads only these records.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from kwslab.errors import DataError
from kwslab.utils.io import write_text_atomic

SPLITS = ("train", "validation", "test")
MAX_NUM_WAVS_PER_CLASS = 2**27 - 1  # ~134M, from the Speech Commands README


@dataclass(frozen=True)
class Clip:
    """One example.

    ``offset`` and ``length`` (samples) select a cut of a long file; ``length=0`` means the
    whole file. A cut may reach past the file (silence there): in memory an offset may be
    negative (off-centre keywords); a manifest's offsets are >= 0.
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
    write_text_atomic(path, "".join(json.dumps(asdict(c)) + "\n" for c in clips))


def read_manifest(path: str | Path) -> list[Clip]:
    """Read clips written by :func:`write_manifest`.

    Raises:
        DataError: the file cannot be read, or a line is not a clip record (the message names
            the line and the bad field).
    """
    clips = []
    try:
        with open(path) as f:
            lines = list(f)
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) else "not UTF-8 text"
        raise DataError(f"{path}: cannot be read ({reason})") from e
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            clips.append(_clip(json.loads(line)))
        except (json.JSONDecodeError, ValueError) as e:
            raise DataError(f"{path}:{n}: not a clip record ({e})") from e
    return clips


def _clip(record: object) -> Clip:
    """A :class:`Clip` from one parsed line; ValueError names the first bad field."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    missing = [k for k in _TEXT_FIELDS if k not in record]
    if missing:
        raise ValueError(f"missing field(s) {', '.join(missing)}; a record needs "
                         f"{', '.join(_TEXT_FIELDS)} and may give offset, length")
    unknown = sorted(set(record) - {f.name for f in fields(Clip)})
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(map(str, unknown))}")
    for key in _TEXT_FIELDS:
        if not isinstance(record[key], str) or (key != "speaker" and not record[key]):
            raise ValueError(f"{key} {record[key]!r} is not a non-empty string")
    for key in ("offset", "length"):
        value = record.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{key} {value!r} is not a whole number of samples >= 0")
    if record["split"] not in (*SPLITS, "all"):
        raise ValueError(f"split {record['split']!r} is not one of {', '.join(SPLITS)}, all")
    return Clip(**record)


_TEXT_FIELDS = ("path", "label", "speaker", "split")

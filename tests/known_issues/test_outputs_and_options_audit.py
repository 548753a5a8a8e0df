"""Found by a bad-input audit of every command: outputs that replaced what was there (a
dataset's split lists, a file given as a socket path or as a manifest, an export's saved
thresholds, another search's results), file-system errors that ended in a traceback and left
temporary files, and options whose bad values passed or crashed."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from cli_run import run


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    return lines[0]


def test_file_system_errors_are_one_line_and_leave_no_temporary_file(tone_export, tone_data,
                                                                     tmp_path, capsys):
    in_the_way = tmp_path / "a_file"
    in_the_way.write_text("keep me\n")
    code, _, err = run(capsys, "evaluate", tone_export, "--data", tone_data, "--out",
                       in_the_way / "metrics.json")
    assert code == 2 and str(in_the_way) in one_line(err)
    folder = tmp_path / "a_folder"
    folder.mkdir()
    code, _, err = run(capsys, "evaluate", tone_export, "--data", tone_data, "--out", folder)
    assert code == 2 and "Is a directory" in one_line(err)
    assert list(folder.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == [
        "a_file", "a_folder"]  # no .tmp left beside either
    assert in_the_way.read_text() == "keep me\n"


def test_lr_find_checks_its_output_before_the_sweep(tone_data, tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    code, out, err = run(capsys, "lr-find", "--data", tone_data, "--config", "tcresnet",
                         "--out", tmp_path / "a_file" / "lr")
    assert code == 2 and "a_file" in one_line(err) and "suggested" not in out


def test_synth_never_writes_into_a_dataset_it_did_not_make(tmp_path, capsys):
    data = tmp_path / "speech"
    (data / "go").mkdir(parents=True)
    lists = {"testing_list.txt": "go/a_nohash_0.wav\n",
             "validation_list.txt": "go/b_nohash_0.wav\n"}
    for name, text in lists.items():
        (data / name).write_text(text)
    code, _, err = run(capsys, "synth", "--words", "down", "--out", data, "--voices", "en-us",
                       "--rates", "140", "--pitches", "50", "--no-unknown")
    assert code == 2 and "not a set made by `kwslab synth`" in one_line(err)
    assert {n: (data / n).read_text() for n in lists} == lists
    assert sorted(p.name for p in data.iterdir()) == ["go", "testing_list.txt",
                                                      "validation_list.txt"]


def test_mine_writes_only_a_jsonl_manifest(tone_export, tmp_path, capsys):
    victim = tmp_path / "keep.wav"
    sf.write(victim, np.zeros(1600, np.float32), 16000)
    before = victim.read_bytes()
    code, _, err = run(capsys, "mine", tone_export, "--negatives", tmp_path, "--out", victim)
    assert code == 2 and ".jsonl" in one_line(err) and victim.read_bytes() == before


def test_wyoming_never_replaces_a_file_with_its_socket(tone_export, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("notes\n")
    code, _, err = run(capsys, "wyoming", tone_export, "--uri", f"unix://{notes}")
    assert code == 2 and "is not a socket" in one_line(err)
    assert notes.read_text() == "notes\n"


def test_export_keeps_saved_thresholds_unless_told(tone_run, tone_export, tmp_path, capsys):
    from kwslab.artifacts import update_json

    export = tmp_path / "export"
    shutil.copytree(tone_export, export)
    update_json(export, "export", "config.json", {"thresholds": {"low": 0.9}})
    code, _, err = run(capsys, "export", tone_run, "--out", export)
    assert code == 2 and "--overwrite" in one_line(err)
    assert json.loads((export / "config.json").read_text())["thresholds"] == {"low": 0.9}
    code, _, err = run(capsys, "export", tone_run, "--out", export, "--overwrite")
    assert code == 0, err
    assert "thresholds" not in json.loads((export / "config.json").read_text())


def test_compare_checks_every_method_before_any_runs(tone_data, tmp_path, capsys):
    for methods, says in (("", "no methods"), ("random,foo", "'foo' is not one of"),
                          ("random,random", "repeat")):
        out = tmp_path / f"cmp{len(methods)}"
        code, _, err = run(capsys, "compare", "--data", tone_data, "--methods", methods,
                           "--max-epochs", "2", "--space", "seed-quick", "--out", out)
        assert code == 2 and says in one_line(err), (methods, err)
        assert not (out / "random").exists()


def test_bad_stream_and_serve_options_are_one_line(tone_export, tone_data, tmp_path, capsys):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 16000)
    code, _, err = run(capsys, "stream", tone_export, empty)
    assert code == 2 and "0 samples" in one_line(err)
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, np.zeros(16000, np.float32), 16000)
    code, _, err = run(capsys, "stream", tone_export, quiet, "--word-threshold", "low=1.5")
    assert code == 2 and "within 0-1" in one_line(err)
    for snr in ("nan", "-inf"):
        code, _, err = run(capsys, "eval-stream", tone_export, "--data", tone_data, "--snr", snr,
                           "--out", tmp_path / "ev")
        assert code == 2 and "finite" in one_line(err)
    assert not (tmp_path / "ev").exists()
    code, _, err = run(capsys, "serve", tone_export, "--log-level", "foo")
    assert code == 2 and "--log-level 'foo'" in one_line(err)
    code, _, err = run(capsys, "report", tone_export, "--data", tmp_path / "missing")
    assert code == 2 and "no such dataset" in one_line(err)
    code, _, err = run(capsys, "data", "info", tone_data, "--max-per-word", "-1")
    assert code == 2


def test_wrong_kinds_of_path_are_named_as_such(tone_run, tone_export, tmp_path, capsys):
    a_file = tmp_path / "a_file.wav"
    sf.write(a_file, np.zeros(16000, np.float32), 16000)
    code, _, err = run(capsys, "predict", a_file, a_file)
    assert code == 2 and "a file, not a folder" in one_line(err)
    code, _, err = run(capsys, "stream", tone_export, tmp_path)
    assert code == 2 and "a folder, not an audio file" in one_line(err)
    code, _, err = run(capsys, "mine", tone_export, "--negatives", a_file, "--out",
                       tmp_path / "hard.jsonl")
    assert code == 2 and "is a file, not a folder" in one_line(err)
    code, _, err = run(capsys, "export", tone_run, "--out", a_file)
    assert code == 2 and "is a file" in one_line(err)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("")
    code, _, err = run(capsys, "export", tone_run, "--out", tmp_path / "other")
    assert code == 2 and "writing an export there" in one_line(err)


def test_evaluate_says_which_clips_it_could_not_read(tone_export, tone_data, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(tone_data, data)
    broken = sorted((data / "low").glob("*.wav"))[0]
    broken.write_bytes(b"RIFF not really")
    code, out, err = run(capsys, "evaluate", tone_export, "--data", data, "--split", "all")
    assert code == 0, err
    assert "1 unreadable clip(s) not scored" in err and broken.name in err


def test_serve_on_a_port_in_use_is_one_line(tone_export, capsys):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = run(capsys, "serve", tone_export, "--port", port)
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in one_line(err)
    code, _, err = run(capsys, "serve", tone_export, "--host", "no-such-host.invalid")
    assert code == 2 and "cannot listen on no-such-host.invalid" in one_line(err)


def test_serve_holds_the_port_it_checked_until_the_server_takes_it():
    """The check binds the socket the server then serves on: no other program can take the
    port in between (binding it fails even with SO_REUSEADDR, as servers bind)."""
    import socket

    from kwslab.cli.serve import _listen

    with _listen("127.0.0.1", 0) as held:
        port = held.getsockname()[1]
        with socket.socket() as other:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            with pytest.raises(OSError):
                other.bind(("127.0.0.1", port))
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # and it already accepts connections (queued until the server runs)


def test_eval_stream_checks_where_it_writes_before_scoring(tone_export, tone_data, tmp_path,
                                                           capsys):
    (tmp_path / "a_file").write_text("")
    code, _, err = run(capsys, "eval-stream", tone_export, "--data", tone_data, "--out",
                       tmp_path / "a_file" / "ev", "--save-wav", tmp_path / "stream.wav")
    assert code == 2 and "a_file" in one_line(err)
    assert not (tmp_path / "stream.wav").exists()  # refused before the stream was built

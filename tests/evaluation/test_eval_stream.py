"""Stream evaluation: hits and false accepts per hour, thresholds chosen on validation audio
for a target rate and saved in the export, DET curves, hard-negative mining.

The band-energy recogniser of ``tone_streams`` stands in for a model so counts are exact; the
CLI tests run a real tone export.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from tone_streams import SR, BandRecognizer, negatives_with_mid_tones

from kwslab.cli import main
from kwslab.errors import AudioError, ConfigError
from kwslab.evaluation.stream import best_at, eval_stream, render_det, score_detections
from kwslab.runtime import Detection, StreamConfig, StreamDetector


def test_best_at_takes_the_most_hits_within_the_rate():
    det = [{"threshold": 0.5, "hit_rate": 0.9, "fa_per_hour": 3.0},
           {"threshold": 0.7, "hit_rate": 0.8, "fa_per_hour": 1.0},
           {"threshold": 0.9, "hit_rate": 0.6, "fa_per_hour": 0.0}]
    assert best_at(det, 1.0)["threshold"] == 0.7
    assert best_at(det, 0.5)["threshold"] == 0.9
    assert best_at(det, 5.0)["threshold"] == 0.5
    assert best_at(det[:2], 0.5) is None
    # On the negatives alone: a point may be within the rate there and not overall.
    det[0]["fa_per_hour_negatives"], det[1]["fa_per_hour_negatives"] = 0.4, 0.2
    assert best_at(det, 0.5, negatives_only=True)["threshold"] == 0.5
    assert best_at(det, 0.3, negatives_only=True)["threshold"] == 0.7
    assert best_at(det, 0.1, negatives_only=True) is None  # 0.9 has no negatives scored


def test_score_detections():
    events = [(1.0, 2.0, "go"), (5.0, 6.0, "stop"), (9.0, 10.0, "_unknown_")]
    dets = [Detection(1.5, "go", 0.9), Detection(2.9, "go", 0.9), Detection(5.5, "go", 0.9),
            Detection(9.5, "go", 0.9), Detection(20.0, "stop", 0.9)]
    r = score_detections(dets, events, duration_s=3600.0, slack_s=1.3)
    assert (r["hits"], r["misses"], r["duplicates"], r["false_accepts"]) == (1, 1, 1, 3)
    assert r["substitutions"] == 1  # "go" during "stop"; during _unknown_ or in noise: not
    assert r["hit_rate"] == 0.5 and r["fa_per_hour"] == 3.0


def test_eval_stream_finds_every_clip(tone_data, tmp_path):
    result = eval_stream(BandRecognizer(), tone_data, snr_db=10.0, seed=0,
                         cfg=StreamConfig(threshold=0.5), save_wav=tmp_path / "stream.wav")
    op = result["operating_point"]
    assert result["stream"]["keyword_clips"] == 9  # the tone test split: 3 words x 3 clips
    assert op["hit_rate"] == 1.0 and op["false_accepts"] == 0
    assert "fa_per_hour_negatives" not in op  # no negative audio scored
    assert len(result["det"]) > 20 and result["det"][-1]["hit_rate"] <= op["hit_rate"]
    info = sf.info(str(tmp_path / "stream.wav"))
    assert info.duration == pytest.approx(result["stream"]["duration_s"], abs=1.0)
    render_det(result, tmp_path / "det.png")
    assert (tmp_path / "det.png").read_bytes()[:4] == b"\x89PNG"
    json.dumps(result)


def test_eval_stream_counts_false_accepts_on_negative_audio(tone_data, tmp_path):
    rng = np.random.default_rng(7)
    # round robin: files 0, 4 train; 1, 5 validation; 2, 3, 6, 7 test (3 + 1 + 0 + 2 bursts)
    neg = negatives_with_mid_tones(tmp_path / "neg", rng, [4, 4, 3, 1, 4, 4, 0, 2])
    result = eval_stream(BandRecognizer(), tone_data, snr_db=10.0, seed=0,
                         cfg=StreamConfig(threshold=0.5), negatives=neg)
    op = result["operating_point"]
    assert result["negatives"]["files"] == 4
    assert result["negatives"]["hours"] == pytest.approx(4 * 20 / 3600, rel=1e-3)
    assert op["false_accepts_negatives"] == 6 and op["hit_rate"] == 1.0
    assert op["fa_per_hour_negatives"] == pytest.approx(6 / (4 * 20 / 3600), rel=1e-3)
    assert all("fa_per_hour_negatives" in p for p in result["det"])
    assert op["hours"] == pytest.approx(result["stream"]["hours"] + 4 * 20 / 3600, rel=1e-6)
    lo, hi = op["fa_per_hour_ci95"]
    assert lo < op["fa_per_hour"] < hi
    mid = {c["threshold"]: c for c in result["det_per_word"]["mid"]}
    assert mid[0.5]["false_accepts"] == 6 and result["det_per_word"]["low"][0]["hit_rate"] == 1
    json.dumps(result)


def test_thresholds_are_chosen_on_validation_audio(tone_data, tmp_path):
    rng = np.random.default_rng(8)
    neg = negatives_with_mid_tones(tmp_path / "neg", rng, [0, 3, 0, 0, 0, 3, 0, 0])
    result = eval_stream(BandRecognizer(), tone_data, snr_db=10.0, seed=0,
                         cfg=StreamConfig(threshold=0.5), negatives=neg,
                         target_fa_per_hour=0.5)
    th = result["thresholds"]
    assert th["mid"] > 0.99  # above every validation burst's score (0.99)
    assert th["low"] <= 0.5 and th["high"] <= 0.5  # nothing false to avoid
    chosen = result["thresholds_chosen_for"]
    assert chosen["target_fa_per_hour"] == 0.5
    assert chosen["validation_resolves_fa_per_hour"] > 100  # under a minute of audio
    assert chosen["hours_needed"] == pytest.approx(7.378, rel=1e-3)
    assert result["negatives"]["split"] == "test" and result["negatives"]["files"] == 4


def test_thresholds_resolve_scores_above_0999():
    """Without label smoothing true words score above 0.999 and false accepts just below:
    the threshold grid must reach between them, not stop at 0.999 (which fires on both)."""
    from kwslab.evaluation.stream import THRESHOLDS, choose_thresholds, word_curve

    assert list(THRESHOLDS) == sorted(THRESHOLDS) and THRESHOLDS[-1] > 0.99999
    assert {0.5, 0.8, 0.925, 0.99, 0.995, 0.999} <= set(THRESHOLDS)  # the old grid stays
    labels, t = ["go", "_unknown_"], np.arange(0.08, 60.0, 0.08)

    def track(peaks: dict[float, float]) -> np.ndarray:
        s = np.zeros((len(t), 2), np.float32)
        s[:, 1] = 1.0
        for at, p in peaks.items():
            k = int(np.argmin(np.abs(t - at)))
            s[k, 0], s[k, 1] = p, 1 - p
        return s

    run = {"labels": labels, "cfg": StreamConfig(smooth_ms=0), "times": t,
           "scores": track({6.0: 0.99999, 30.0: 0.99995}),  # two "go" clips
           "events": [(5.0, 6.0, "go"), (29.0, 30.0, "go")], "duration": 60.0, "slack": 1.5,
           "neg": [(t, track({10.0: 0.9995, 40.0: 0.9993}))], "hours": 1.0}
    th = choose_thresholds(run, ["go"], target_fa_per_hour=0.5)["go"]
    assert 0.9995 < th < 0.99995
    point = next(c for c in word_curve(run, "go") if c["threshold"] == th)
    assert point["hit_rate"] == 1.0 and point["false_accepts"] == 0


def test_bad_stream_eval_requests_are_one_line(tone_data, tmp_path):
    from kwslab.errors import ConfigError, DataError

    with pytest.raises(ConfigError, match="must be > 0"):
        eval_stream(BandRecognizer(), tone_data, negatives=tmp_path, target_fa_per_hour=0)
    with pytest.raises(DataError, match="needs --negatives"):
        eval_stream(BandRecognizer(), tone_data, target_fa_per_hour=0.5)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no readable audio"):
        eval_stream(BandRecognizer(), tone_data, negatives=tmp_path / "empty")


def test_cli_eval_stream_with_negatives_and_a_target(tone_export, tone_data, tmp_path, capsys):
    neg = negatives_with_mid_tones(tmp_path / "neg", np.random.default_rng(9), [1] * 8)
    with pytest.raises(SystemExit) as e:
        main(["eval-stream", str(tone_export), "--data", str(tone_data), "--negatives",
              str(neg), "--target-fa-per-hour", "1", "--out", str(tmp_path / "ev")])
    assert e.value.code in (0, None)
    printed = capsys.readouterr()
    text, err = " ".join(printed.out.split()), printed.err  # undo the console's line wrapping
    assert "h of negative audio (4 test files" in text and "95 % interval" in text
    assert "thresholds chosen on validation for 1 FA/h" in text
    warning = [ln for ln in err.splitlines() if "validation audio cannot resolve" in ln]
    assert len(warning) == 1 and "3.7 h would resolve it" in warning[0]
    result = json.loads((tmp_path / "ev" / "det.json").read_text())
    assert set(result["det_per_word"]) == {"low", "mid", "high"}
    assert (tmp_path / "ev" / "det.png").read_bytes()[:4] == b"\x89PNG"


def test_saved_thresholds_travel_with_the_export(tone_export, tone_data, tmp_path):
    """--save-thresholds writes the chosen thresholds into a copy of the export as one unit;
    the Recognizer, the detector and eval-stream then use them unless told otherwise."""
    import shutil

    from kwslab.artifacts import EXPORT, verify
    from kwslab.runtime import Recognizer

    export = tmp_path / "export"
    shutil.copytree(tone_export, export)
    neg = negatives_with_mid_tones(tmp_path / "neg", np.random.default_rng(10),
                                    [0, 2, 0, 0, 0, 2, 0, 0])
    result = eval_stream(export, tone_data, negatives=neg, target_fa_per_hour=0.5,
                         save_thresholds=True)
    verify(export, EXPORT)  # the manifest matches the edited config
    rec = Recognizer.load(export)
    assert rec.thresholds == result["thresholds"]
    det = StreamDetector(rec)
    assert det.thresholds_of(rec).tolist() == [result["thresholds"].get(w, 0.8)
                                               for w in rec.labels]
    assert rec.meta["thresholds_chosen_for"]["detector"]["smooth_ms"] == 300.0
    assert rec.meta["thresholds_chosen_for"]["validation_resolves_fa_per_hour"] == \
        result["thresholds_chosen_for"]["validation_resolves_fa_per_hour"]
    assert det.threshold_mismatch() is None
    forced = StreamDetector(rec, StreamConfig(threshold=0.7, export_thresholds=False))
    assert set(forced.thresholds_of(rec)) == {0.7}
    with pytest.raises(ConfigError, match="needs --target-fa-per-hour"):
        eval_stream(export, tone_data, save_thresholds=True)


def test_hard_negatives_are_the_cuts_the_detector_fires_on(tmp_path, capsys, tone_export):
    from kwslab.data.manifest import read_manifest
    from kwslab.evaluation.stream import mine_hard_negatives

    rng = np.random.default_rng(11)
    # train quarter: files 0 and 4 (2 + 1 mid bursts); the others must not be searched
    neg = negatives_with_mid_tones(tmp_path / "neg", rng, [2, 3, 3, 3, 1, 3, 3, 3])
    clips = mine_hard_negatives(BandRecognizer(), neg, threshold=0.5)
    assert len(clips) == 3
    assert {c.path.rsplit("/", 1)[1] for c in clips} == {"00.wav", "04.wav"}
    for c in clips:
        assert c.label == "_unknown_" and c.split == "train" and c.length == SR
        bursts = [SR * (2 + 4 * j) for j in range(3)]
        assert any(c.offset < b + SR and b < c.offset + SR for b in bursts)  # overlaps one
    with pytest.raises(SystemExit) as e:
        main(["mine", str(tone_export), "--negatives", str(neg), "--out",
              str(tmp_path / "hard.jsonl"), "--threshold", "0.99"])
    assert e.value.code in (0, None)
    assert "hard negatives" in capsys.readouterr().out
    assert all(c.label == "_unknown_" for c in read_manifest(tmp_path / "hard.jsonl"))
    # a folder that only trains: every file is searched (all 21 bursts of the 8 files)
    everything = mine_hard_negatives(BandRecognizer(), neg, threshold=0.5, split="all")
    assert len(everything) == 21
    assert {c.path.rsplit("/", 1)[1] for c in everything} == {f"{i:02d}.wav" for i in range(8)}
    with pytest.raises(SystemExit) as e:
        main(["mine", str(tone_export), "--negatives", str(neg), "--out",
              str(tmp_path / "bad.jsonl"), "--split", "test"])
    assert e.value.code not in (0, None) and "train or all" in capsys.readouterr().err
    assert not (tmp_path / "bad.jsonl").exists()




def _broken_negatives(neg: Path) -> dict[str, Path]:
    """Beside the good files: one cut short part-way (its header still reads), one holding
    NaN samples, one that is not audio at all."""
    truncated = neg / "10.flac"
    sf.write(truncated, np.random.default_rng(3).normal(0, 0.1, SR * 120), SR)
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    nan = neg / "11.wav"
    sf.write(nan, np.full(SR * 5, np.nan, np.float32), SR, subtype="FLOAT")
    garbage = neg / "12.wav"
    garbage.write_text("not audio")
    return {"truncated": truncated, "nan": nan, "garbage": garbage}


def test_negative_files_that_break_are_named_and_the_rest_scored(tone_data, tmp_path,
                                                                 tone_export, capsys):
    from kwslab.evaluation.stream import mine_hard_negatives, negative_scores
    from kwslab.runtime.stream import read_blocks

    neg = negatives_with_mid_tones(tmp_path / "neg", np.random.default_rng(12), [1] * 8)
    broken = _broken_negatives(neg)
    with pytest.raises(AudioError, match="10.flac: not a readable audio file"):
        for _ in read_blocks(broken["truncated"], SR):
            pass
    scored = negative_scores(BandRecognizer(), StreamConfig(), [neg / "00.wav",
                                                                broken["truncated"],
                                                                broken["nan"]])
    assert scored.files == [neg / "00.wav"] and len(scored.scores) == 1
    assert scored.hours == pytest.approx(20 / 3600, rel=1e-3)
    assert [p for p, _ in scored.bad] == [str(broken["truncated"]), str(broken["nan"])]
    assert "NaN" in scored.bad[1][1]

    # round robin over the 10 readable files (the garbage one is refused by its header):
    # train 00, 04, 10.flac; validation 01, 05, 11.wav; test 02, 03, 06, 07
    logged: list[str] = []
    clips = mine_hard_negatives(BandRecognizer(), neg, threshold=0.5, split="all",
                                log=logged.append)
    assert len(clips) == 8  # one burst in each good file
    assert {c.path.rsplit("/", 1)[1] for c in clips} == {f"{i:02d}.wav" for i in range(8)}
    assert len(logged) == 3 and all("skipped unreadable negative file" in m for m in logged)
    assert {m.split()[4].rstrip(":") for m in logged} == {str(p) for p in broken.values()}

    result = eval_stream(BandRecognizer(), tone_data, cfg=StreamConfig(threshold=0.5),
                         negatives=neg, target_fa_per_hour=1.0)
    assert result["negatives"]["files"] == 4
    assert result["negatives"]["unreadable"] == [str(broken["garbage"])]  # the test files'
    # validation holds the NaN file: thresholds are chosen on the other validation files,
    # and it is named with the one every split refuses
    assert result["thresholds_chosen_for"]["validation_unreadable"] == [
        str(broken["garbage"]), str(broken["nan"])]

    with pytest.raises(SystemExit) as e:
        main(["mine", str(tone_export), "--negatives", str(neg), "--out",
              str(tmp_path / "hard.jsonl"), "--split", "all"])
    assert e.value.code in (0, None)
    err = " ".join(capsys.readouterr().err.split())
    assert all(f"skipped unreadable negative file {p}" in err for p in broken.values())


def test_mine_refuses_an_unwritable_out_before_scoring(tone_export, tmp_path, capsys,
                                                       monkeypatch):
    import kwslab.evaluation.stream as evaluation

    def never(*a, **k):
        raise AssertionError("scored before checking --out")

    monkeypatch.setattr(evaluation, "negative_scores", never)
    neg = negatives_with_mid_tones(tmp_path / "neg", np.random.default_rng(13), [1] * 4)
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(SystemExit) as e:
        main(["mine", str(tone_export), "--negatives", str(neg), "--out",
              str(tmp_path / "a_file" / "hard.jsonl")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "a_file" in err and ".write-test" not in err
    with pytest.raises(SystemExit) as e:  # a missing export: no folders made for --out stay
        main(["mine", str(tmp_path / "no-export"), "--negatives", str(neg), "--out",
              str(tmp_path / "new" / "deep" / "hard.jsonl")])
    assert e.value.code == 2 and not (tmp_path / "new").exists()


def test_short_validation_audio_says_which_rates_it_can_resolve():
    """No false accept in H hours still allows 3.69 / H per hour (95 %): 2.15 h cannot vouch
    for 0.5 per hour, 7.4 h can."""
    from kwslab.evaluation.stream import hours_to_resolve, poisson_interval, resolvable_fa_per_hour

    assert resolvable_fa_per_hour(2.15) == pytest.approx(3.689 / 2.15, rel=1e-3)
    assert hours_to_resolve(0.5) == pytest.approx(7.378, rel=1e-3)
    assert resolvable_fa_per_hour(hours_to_resolve(0.5)) == pytest.approx(0.5)
    assert poisson_interval(0, 2.15)[0] == 0.0

"""`kwslab stream` and `kwslab eval-stream`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import typer

from kwslab.cli.app import app, console, out
from kwslab.errors import DataError


def _one_blas_thread() -> None:
    """Windows are batched; OpenBLAS's extra threads only spin on these small matmuls. Must run
    before NumPy loads (the CLI has not loaded it yet); an explicit setting wins."""
    import os

    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def _stream_config(hop_ms: float, smooth_ms: float, threshold: float | None,
                   word_threshold: list[str], refractory_ms: float, vad_threshold: float = 0.0):
    from kwslab.errors import ConfigError
    from kwslab.runtime import StreamConfig

    overrides = []
    for item in word_threshold or []:
        word, _, value = item.partition("=")
        try:
            overrides.append((word.strip(), float(value)))
        except ValueError as e:
            raise ConfigError(f"--word-threshold {item!r}: expected WORD=NUMBER") from e
    cfg = StreamConfig(hop_ms=hop_ms, smooth_ms=smooth_ms, word_thresholds=tuple(overrides),
                       refractory_ms=refractory_ms, vad_threshold=vad_threshold)
    # No --threshold: the export's saved per-word thresholds, else the default for the rest.
    if threshold is not None:
        cfg = replace(cfg, threshold=threshold, export_thresholds=False)
    return cfg


HOP = typer.Option(100.0, "--hop-ms", min=1, help="Audio between scored 1 s windows (ms).")
SMOOTH = typer.Option(300.0, "--smooth-ms", min=0, help="Posterior moving average (ms).")
THRESHOLD = typer.Option(None, "--threshold", min=0, max=1, help="Smoothed score to fire, "
                         "every word (default: the export's saved thresholds, else 0.8).")
WORD_THRESHOLD = typer.Option(None, "--word-threshold", help="Per-word override: WORD=0.9.")
REFRACTORY = typer.Option(1000.0, "--refractory-ms", min=0, help="Quiet time after a hit (ms).")
VAD = typer.Option(0.0, "--vad-threshold", min=0, max=1, help="Fire only where Silero VAD's "
                   "speech probability reached this in the window (0: no gate; needs the VAD "
                   "that `kwslab fetch-model` keeps).")


@app.command()
def stream(
    export_dir: Path = typer.Argument(..., help="Export folder written by `kwslab export`."),
    audio: Path = typer.Argument(None, help="Audio file of any length (or use --mic)."),
    mic: bool = typer.Option(False, "--mic", help="Listen to the default input device."),
    hop_ms: float = HOP, smooth_ms: float = SMOOTH, threshold: float = THRESHOLD,
    word_threshold: list[str] = WORD_THRESHOLD, refractory_ms: float = REFRACTORY,
    vad_threshold: float = VAD,
    as_json: bool = typer.Option(False, "--json", help="One JSON object per detection."),
    int8: bool = typer.Option(False, "--int8", help="Use the int8 model."),
) -> None:
    """Detect keywords in a long recording or the microphone, with timestamps."""
    _one_blas_thread()
    from kwslab.errors import KwslabError
    from kwslab.runtime import StreamDetector, detect_file, load_export
    from kwslab.runtime.stream import detect_chunks, microphone

    if (audio is None) == (not mic):
        raise KwslabError("give an audio file or --mic (not both)")
    cfg = _stream_config(hop_ms, smooth_ms, threshold, word_threshold, refractory_ms,
                         vad_threshold)
    det = StreamDetector(load_export(export_dir, int8=int8), cfg)
    mismatch = det.threshold_mismatch()
    if mismatch:
        console.print(f"warning: {mismatch}", highlight=False)
    if mic:
        detections = detect_chunks(det, microphone(det.recognizer.sample_rate, cfg.hop_ms))
        console.print("listening on the default input device; Ctrl-C stops")
    else:
        detections = detect_file(det, audio)
    found = 0
    for d in detections:
        found += 1
        if as_json:
            print(json.dumps(d._asdict()), flush=True)
        else:
            minutes, seconds = divmod(d.time, 60)
            out.print(f"{int(minutes):02d}:{seconds:05.2f}  {d.label:<12} {d.score:.2f}")
    if not found and not as_json:  # say so: an empty screen looks like a hang or a failure
        console.print(f"no detections in {audio}", highlight=False, soft_wrap=True)


@app.command("eval-stream")
def eval_stream(
    export_dir: Path = typer.Argument(..., help="Export folder written by `kwslab export`."),
    data: Path = typer.Option(..., "--data", help="Dataset folder or .jsonl manifest."),
    split: str = typer.Option("test", "--split", help="Held-out clips to place, and the "
                              "negatives' files to score: test or validation."),
    snr: float = typer.Option(10.0, "--snr", help="Clip-to-noise ratio (dB)."),
    seed: int = typer.Option(0, "--seed", help="Clip order, gaps and noise offsets."),
    out_dir: Path = typer.Option(None, "--out", help="Folder for det.json and det.png "
                                 "(default: EXPORT_DIR/stream_eval)."),
    save_wav: Path = typer.Option(None, "--save-wav", help="Also write the test stream."),
    hop_ms: float = HOP, smooth_ms: float = SMOOTH, threshold: float = THRESHOLD,
    word_threshold: list[str] = WORD_THRESHOLD, refractory_ms: float = REFRACTORY,
    vad_threshold: float = VAD,
    int8: bool = typer.Option(False, "--int8", help="Use the int8 model."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    negatives: Path = typer.Option(None, "--negatives", help="Folder of long audio with none "
                                   "of the words; its test quarter/half is scored for false "
                                   "accepts (see README: Streaming)."),
    target: float = typer.Option(None, "--target-fa-per-hour", help="Choose per-word "
                                 "thresholds for this rate on validation audio first."),
    save: bool = typer.Option(False, "--save-thresholds", help="Write the chosen thresholds "
                              "into the export (stream and wyoming then use them)."),
) -> None:
    """Hit rate, false accepts per hour (95 % interval) and DET curves on long streams."""
    _one_blas_thread()
    from kwslab.artifacts import holds_results
    from kwslab.evaluation.stream import best_at, render_det
    from kwslab.evaluation.stream import eval_stream as run
    from kwslab.utils.io import cleaned_on_error, writable_dir, write_json

    cfg = _stream_config(hop_ms, smooth_ms, threshold, word_threshold, refractory_ms,
                         vad_threshold)
    out_dir = out_dir or Path(export_dir) / "stream_eval"
    if holds_results(out_dir):
        raise DataError(f"--out {out_dir} is a run, export or search folder; give another "
                        f"folder (default: {Path(export_dir) / 'stream_eval'})")
    with cleaned_on_error(out_dir):  # a refused request leaves no empty folder
        if Path(export_dir).is_dir():  # else loading the export says what is wrong
            writable_dir(out_dir)  # before the stream is scored, not after
        result = run(export_dir, data, split=split, snr_db=snr, seed=seed, cfg=cfg, int8=int8,
                     save_wav=save_wav, negatives=negatives, target_fa_per_hour=target,
                     save_thresholds=save)
    write_json(out_dir / "det.json", result)
    if save:
        console.print(f"thresholds written into {export_dir}/config.json (stream, serve and "
                      "wyoming use them by default)", highlight=False, soft_wrap=True)
    render_det(result, out_dir / "det.png")
    if as_json:
        print(json.dumps(result))
        return
    s, op = result["stream"], result["operating_point"]
    out.print(f"{s['keyword_clips']} keywords in {s['duration_s'] / 60:.1f} min of noise at "
              f"{s['snr_db']:g} dB SNR")
    neg = result["negatives"]
    if neg:
        out.print(f"+ {neg['hours']:.2f} h of negative audio ({neg['files']} {neg['split']} "
                  f"files of {neg['folder']}; {len(neg['unreadable'])} unreadable skipped)")
        chose_on = result["thresholds_chosen_for"] or {}
        for path in dict.fromkeys(neg["unreadable"] + chose_on.get("validation_unreadable", [])):
            console.print(f"skipped unreadable negative file {path}", highlight=False,
                          soft_wrap=True)
    chosen = result["thresholds_chosen_for"]
    per_word = ", ".join(f"{w} {t:g}" for w, t in result["thresholds"].items())
    if chosen:
        th = (f"thresholds chosen on validation for {chosen['target_fa_per_hour']:g} FA/h "
              f"({per_word})")
    elif len(set(result["thresholds"].values())) > 1:
        th = f"thresholds {per_word}"
    else:
        th = f"threshold {next(iter(result['thresholds'].values()), op['threshold']):g}"
    if chosen and chosen["validation_resolves_fa_per_hour"] > chosen["target_fa_per_hour"]:
        console.print(f"warning: {chosen['validation_hours']:.2f} h of validation audio cannot "
                      f"resolve {chosen['target_fa_per_hour']:g} FA/h: with no false accept "
                      "there the rate may still be up to "
                      f"{chosen['validation_resolves_fa_per_hour']:.2f} per hour, "
                      f"{chosen['hours_needed']:.1f} h would resolve it; expect more false "
                      "accepts than the target on new audio", highlight=False, soft_wrap=True)
    lo, hi = op["fa_per_hour_ci95"]
    out.print(f"{th}: hit rate {op['hit_rate']:.3f} ({op['hits']}/{op['hits'] + op['misses']}),"
              f" {op['false_accepts']} false accepts in {op['hours']:.2f} h = "
              f"{op['fa_per_hour']:.2f} per hour (95 % interval {lo:.2f}-{hi:.2f})")
    b = best_at(result["det"], 1.0)
    if b is not None:
        out.print(f"at <= 1 FA/hour: hit rate {b['hit_rate']:.3f} (threshold {b['threshold']:g})")
    if op.get("substitutions"):
        out.print(f"{op['substitutions']} of the false accepts are a word taken for another")
    b = best_at(result["det"], 1.0, negatives_only=True) if neg else None
    if b is not None:
        out.print(f"at <= 1 FA/hour on the negatives alone: hit rate {b['hit_rate']:.3f} "
                  f"(threshold {b['threshold']:g})")
    out.print(f"written to {out_dir / 'det.json'} and {out_dir / 'det.png'}")


@app.command()
def mine(
    export_dir: Path = typer.Argument(..., help="Export folder written by `kwslab export`."),
    negatives: Path = typer.Option(..., "--negatives", help="Folder of long audio with none "
                                   "of the words; its training quarter is searched."),
    out_file: Path = typer.Option(..., "--out", help="JSONL manifest of the clips found."),
    threshold: float = typer.Option(0.5, "--threshold", min=0, max=1,
                                    help="Smoothed score at which a cut counts as confusing."),
    split: str = typer.Option("train", "--split", help="Files searched: train (the "
                              "folder's training quarter) or all (a folder that only "
                              "trains, never measures)."),
) -> None:
    """Hard-negative mining: write the cuts of negative audio the model fires on, as _unknown_
    clips to train on again (`kwslab train --data D --data OUT.jsonl --negatives N --unknown`).
    """
    _one_blas_thread()
    from kwslab.data.manifest import write_manifest
    from kwslab.evaluation.stream import mine_hard_negatives

    if split not in ("train", "all"):
        raise DataError(f"--split {split!r}: train or all (the other quarters measure)")
    if out_file.suffix != ".jsonl":
        raise DataError(f"--out {out_file}: a manifest's name ends in .jsonl")
    if out_file.exists() and not out_file.is_file():
        raise DataError(f"--out {out_file} is a folder; give a .jsonl file")
    from kwslab.utils.io import cleaned_on_error, writable_dir

    with cleaned_on_error(out_file.parent):  # a refused run leaves no empty folders
        writable_dir(out_file.parent)  # before the scoring, not after
        clips = mine_hard_negatives(export_dir, negatives, threshold=threshold, split=split,
                                    log=lambda m: console.print(m, highlight=False,
                                                                soft_wrap=True))
    write_manifest(clips, out_file)
    out.print(f"{len(clips)} hard negatives (score >= {threshold:g}) written to {out_file}")

"""Streaming evaluation: hit rate, false accepts per hour and the DET curve.

A long stream is built from held-out clips placed at random times in background noise at a
chosen SNR; the :class:`~kwslab.runtime.stream.StreamDetector` runs over it once, and its
smoothed posteriors are re-triggered at every threshold to trace miss rate against false
accepts per hour, the figure keyword spotters are chosen by (openWakeWord picks models by
false positives per hour). Compute first, render second: :func:`eval_stream` returns plain
data and :func:`render_det` only draws it.

A detection at time t (end of its 1 s window) *hits* a clip placed at [s, s + 1] when the
labels agree and s < t < s + 2 + smoothing span (the window overlaps the clip, allowing for the
smoothing delay); further detections of an already-hit clip are counted as duplicates, not
false accepts. Every other detection is a false accept. The SNR compares each clip's mean
power over its whole second with the noise's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from kwslab.config import SILENCE, UNKNOWN
from kwslab.errors import AudioError, ConfigError, DataError
from kwslab.runtime.ensemble import ClipModel, load_export
from kwslab.runtime.stream import Detection, StreamConfig, StreamDetector, Trigger

# Thresholds of the DET curves and of per-word threshold choice: 0.05-0.925 every 0.025, a few
# up to 0.999, then 1 - 10^-x for x = 2.25-6 every 0.25 (0.99438 ... 0.999999). Models trained
# without label smoothing put true words above 0.999 and their false accepts in 0.99-0.9999;
# without the log-spaced tail every such word landed on 0.999.
THRESHOLDS = tuple(sorted({*np.round(np.concatenate([np.arange(0.05, 0.95, 0.025),
                                                     [0.95, 0.97, 0.98, 0.99, 0.995, 0.999]]), 4),
                           *np.round(1 - 10.0 ** -np.arange(2.25, 6.01, 0.25), 7)}))
GAP_S = (2.0, 6.0)  # silence (noise only) between consecutive clips, uniform, seconds


def eval_stream(model: str | Path | ClipModel, data: str | Path, *, split: str = "test",
                snr_db: float = 10.0, seed: int = 0, cfg: StreamConfig | None = None,
                gap_s: tuple[float, float] = GAP_S, int8: bool = False, threads: int = 1,
                save_wav: str | Path | None = None, negatives: str | Path | None = None,
                thresholds: dict[str, float] | None = None,
                target_fa_per_hour: float | None = None,
                save_thresholds: bool = False) -> dict[str, Any]:
    """Build a test stream from ``split`` of ``data``, run the detector, score it.

    Args:
        model: an export folder (``kwslab export``) or a loaded :class:`Recognizer`.
        data: the dataset the model was trained on (folder or manifest).
        split: which clips to place (held-out: ``test`` or ``validation``).
        snr_db: clip-to-noise power ratio in dB.
        seed: clip order, gaps and noise offsets.
        cfg: the detector's settings; ``cfg.threshold`` is the reported operating point.
        gap_s: (min, max) seconds of noise between clips; min must exceed 1 s + smoothing.
        save_wav: also write the stream (16-bit WAV) there, e.g. for ``kwslab stream``.
        negatives: a folder of long audio with none of the words (see
            :mod:`kwslab.data.negatives`); its ``split`` files are scored too, and every
            detection there is a false accept.
        thresholds: per-word thresholds for the operating point (default: ``cfg``'s).
        target_fa_per_hour: choose per-word thresholds for this rate on the *validation*
            clips and negatives first (:func:`choose_thresholds`), then measure on ``split``.
        save_thresholds: with a target and an export folder, write the chosen thresholds
            into the export's ``config.json``, so ``stream``, ``wyoming`` and the runtime use
            them by default.

    Returns:
        ``stream`` (duration, clips, SNR, ...), ``operating_point`` (at ``cfg.threshold``:
        hits, misses, false_accepts, duplicates, hit_rate, miss_rate, fa_per_hour,
        detections) and ``det`` (the same figures for every threshold in :data:`THRESHOLDS`).
        With ``negatives``: ``negatives`` (files, hours, unreadable), false accepts counted on
        both streams, ``fa_per_hour_ci95``, and ``det_per_word``; with a target:
        ``thresholds`` and how they were chosen.
    """

    cfg = cfg or StreamConfig()
    if not np.isfinite(snr_db):
        raise ConfigError(f"--snr {snr_db}: must be a finite number of dB")
    from_path = isinstance(model, str | Path)
    rec = (load_export(model, int8=int8, threads=threads) if isinstance(model, str | Path)
           else model)
    words = [w for w in rec.labels if w not in cfg.ignore]
    chosen, chosen_for = None, {}
    if target_fa_per_hour is not None:
        if not target_fa_per_hour > 0:
            raise ConfigError(f"--target-fa-per-hour {target_fa_per_hour}: must be > 0")
        if negatives is None:
            raise DataError("--target-fa-per-hour needs --negatives (audio to count false "
                            "accepts on)")
        if save_thresholds and isinstance(model, str | Path):  # it is replaced as a whole:
            from kwslab.utils.io import writable_dir  # fail now, not after the scoring

            writable_dir(Path(model).parent)
            writable_dir(model)
        val = _collect(rec, data, "validation", snr_db, seed + 1, cfg, gap_s, None, negatives)
        chosen = choose_thresholds(val, words, target_fa_per_hour)
        thresholds = chosen
        chosen_for = {"target_fa_per_hour": target_fa_per_hour,
                      "validation_unreadable": val["neg_info"]["unreadable"],
                      "validation_hours": val["hours"],
                      "validation_resolves_fa_per_hour": resolvable_fa_per_hour(val["hours"]),
                      "hours_needed": hours_to_resolve(target_fa_per_hour)}
        if save_thresholds:
            if not isinstance(model, str | Path):
                raise ConfigError("save_thresholds needs an export folder, not a Recognizer")
            from kwslab.artifacts import CONFIG, EXPORT, update_json

            update_json(model, EXPORT, CONFIG, {"thresholds": chosen, "thresholds_chosen_for": {
                **chosen_for, "negatives": str(negatives), "detector": cfg.scoring()}})
            rec.thresholds = dict(chosen)
    elif save_thresholds:
        raise ConfigError("--save-thresholds needs --target-fa-per-hour (and --negatives)")
    run = _collect(rec, data, split, snr_db, seed, cfg, gap_s, save_wav, negatives)
    if thresholds is None:
        saved = getattr(rec, "thresholds", {}) if cfg.export_thresholds else {}
        thresholds = {**saved, **dict(cfg.word_thresholds)}
    labels, hours = rec.labels, run["hours"]
    neg_hours = run["neg_info"]["hours"] if run["neg_info"] else 0.0

    def at(ths: np.ndarray) -> tuple[dict[str, Any], list[Detection]]:
        detections = Trigger(labels, cfg, ths).step(run["times"], run["scores"])
        res = score_detections(detections, run["events"], run["duration"], run["slack"])
        fa_neg = sum(count_false_accepts(labels, cfg, ths, run["neg"]).values())
        res["false_accepts_keyword_stream"] = res["false_accepts"]
        res["false_accepts_negatives"] = fa_neg
        res["false_accepts"] += fa_neg
        res["hours"] = hours
        res["fa_per_hour"] = res["false_accepts"] / hours if hours else 0.0
        if neg_hours:  # the rate on the negative audio alone (see best_at)
            res["fa_per_hour_negatives"] = fa_neg / neg_hours
        return res, detections

    base = np.array([thresholds.get(w, cfg.threshold) for w in labels])
    operating, detections = at(base)
    operating["fa_per_hour_ci95"] = poisson_interval(operating["false_accepts"], hours)
    curve = [{"threshold": float(th), **at(np.full(len(labels), th))[0]} for th in THRESHOLDS]
    per_word = {w: word_curve(run, w) for w in words} if run["neg"] else {}
    return {
        "model": str(model) if from_path else repr(model),
        "variant": rec.meta.get("loaded"), "data": str(data), "split": split,
        "stream": run["info"], "negatives": run["neg_info"], "detector": asdict(cfg),
        "thresholds": {w: float(t) for w, t in zip(labels, base, strict=True) if w in words},
        "thresholds_chosen_for": ({**chosen_for, "on": "validation speakers' clips and "
                                   "validation negatives"} if chosen else None),
        "operating_point": {"threshold": cfg.threshold, **operating,
                            "detections": [d._asdict() for d in detections]},
        "det": curve,
        "det_per_word": per_word,
    }


def _collect(rec: ClipModel, data, split: str, snr_db: float, seed: int, cfg: StreamConfig,
             gap_s, save_wav, negatives) -> dict[str, Any]:
    """Run the detector over the keyword stream of ``split`` (and ``split``'s negative
    files): the raw smoothed posteriors every threshold is then scored on."""
    from kwslab.config import DataConfig
    from kwslab.data import load_clips
    from kwslab.data.speechcommands import select_split

    words = tuple(w for w in rec.labels if w not in (SILENCE, UNKNOWN))
    wanted = DataConfig(words=words, unknown=UNKNOWN in rec.labels)  # _unknown_: distractors
    clips = select_split(load_clips(data, wanted, seed=seed), split)
    if not clips:
        raise DataError(f"{data}: no {split} clips of {', '.join(rec.labels)}")
    if gap_s[0] < 1.0 + cfg.smooth_ms / 1000:
        raise DataError(f"gap {gap_s[0]} s is too short: clips would share detections")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(clips))
    clips = [clips[i] for i in order]
    noise, noise_name = _noise_bed(data, rng)

    det = StreamDetector(rec, cfg)
    events, times, scores = [], [], []
    writer = _wav_writer(save_wav, rec.sample_rate)
    try:
        for chunk, event in _stream(clips, noise, snr_db, gap_s, rng, rec.sample_rate):
            if event is not None:
                events.append(event)
            if writer is not None:
                writer.write(np.clip(chunk, -1, 1))
            t, s = det.posteriors(chunk)
            times.append(t)
            scores.append(s)
        t, s = det.posteriors(np.zeros(det.tail_samples, np.float32))  # flush
    finally:
        if writer is not None:
            writer.close()
    times.append(t)
    scores.append(s)
    times_a, scores_a = np.concatenate(times), np.concatenate(scores)
    duration = float(times_a[-1]) if len(times_a) else 0.0
    # A window (1 s, or 1.5 s with the embedding front end's context) overlapping the clip,
    # plus the smoothing delay.
    slack = det.front.window / rec.sample_rate + cfg.smooth_ms / 1000
    neg: list[tuple[np.ndarray, np.ndarray]] = []  # (times, posteriors) per negative file
    neg_hours, neg_info = 0.0, None
    if negatives is not None:
        from kwslab.data.negatives import negative_files

        files, bad = negative_files(negatives)
        scored = negative_scores(rec, cfg, files[split])
        neg, neg_hours = scored.scores, scored.hours
        neg_info = {"folder": str(negatives), "split": split, "files": len(scored.files),
                    "hours": neg_hours,
                    "unreadable": [p for p, _ in bad + scored.bad]}
    n_words = sum(e[2] not in (UNKNOWN, SILENCE) for e in events)
    info = {"duration_s": duration, "hours": duration / 3600, "clips": len(events),
            "keyword_clips": n_words, "snr_db": snr_db, "seed": seed, "gap_s": list(gap_s),
            "noise": noise_name, "wav": str(save_wav) if save_wav else None,
            "window_hop_ms": det.hop_ms}  # hop_ms rounded to whole embeddings (80 ms) or frames
    return {"labels": list(rec.labels), "cfg": cfg, "times": times_a, "scores": scores_a,
            "events": events, "duration": duration, "slack": slack, "neg": neg,
            "hours": duration / 3600 + neg_hours, "info": info, "neg_info": neg_info}


def word_curve(run: dict[str, Any], word: str) -> list[dict[str, Any]]:
    """Hit rate of ``word``'s clips and its false accepts (both streams) per hour, at each
    threshold of :data:`THRESHOLDS`, with only this word allowed to fire."""
    labels, cfg = run["labels"], run["cfg"]
    i = labels.index(word)
    targets = sum(e[2] == word for e in run["events"])
    out = []
    for th in THRESHOLDS:
        ths = np.full(len(labels), 2.0)
        ths[i] = th
        res = score_detections(Trigger(labels, cfg, ths).step(run["times"], run["scores"]),
                               run["events"], run["duration"], run["slack"])
        fa = res["false_accepts"] + count_false_accepts(labels, cfg, ths, run["neg"])[word]
        out.append({"threshold": float(th), "hit_rate": res["hits"] / max(1, targets),
                    "false_accepts": fa,
                    "fa_per_hour": fa / run["hours"] if run["hours"] else 0.0})
    return out


class NegativeScores(NamedTuple):
    """Smoothed posteriors of the negative files that decoded whole, and the rest."""

    files: list[Path]  # decoded whole, in the order given
    scores: list[tuple[np.ndarray, np.ndarray]]  # (times, posteriors) per file of ``files``
    hours: float  # of ``files``
    bad: list[tuple[str, str]]  # (path, reason) of files that broke while decoding


def negative_scores(rec: ClipModel, cfg: StreamConfig, files: list[Path]) -> NegativeScores:
    """Smoothed posteriors over each negative recording (detector reset per file), and hours.

    Any detection on this audio is a false accept: it holds none of the words. A file that
    breaks part-way (cut short, NaN samples) is left out whole and named in ``bad``.
    """
    from kwslab.runtime.stream import read_blocks
    from kwslab.utils.progress import track

    det = StreamDetector(rec, cfg)
    good, out, bad, samples = [], [], [], 0
    for f in track(files, len(files), "negative audio"):
        det.reset()
        times, scores, n = [], [], 0
        try:
            for block in read_blocks(f, rec.sample_rate):
                n += len(block)
                t, sc = det.posteriors(block)
                times.append(t)
                scores.append(sc)
        except AudioError as e:
            bad.append((str(f), str(e).removeprefix(f"{f}: ")))
            continue
        t, sc = det.posteriors(np.zeros(det.tail_samples, np.float32))
        good.append(Path(f))
        out.append((np.concatenate([*times, t]), np.concatenate([*scores, sc])))
        samples += n
    return NegativeScores(good, out, samples / rec.sample_rate / 3600, bad)


def mine_hard_negatives(model: str | Path | ClipModel, negatives: str | Path, *,
                        threshold: float = 0.5, cfg: StreamConfig | None = None,
                        split: str = "train", limit: int = 5000,
                        log: Callable[[str], None] | None = None) -> list:
    """Hard-negative mining: the 1 s cuts of negative audio on which the detector fires.

    The detector runs over ``split``'s negative files (by default the training quarter, see
    :mod:`kwslab.data.negatives`; ``all``: every file, for a folder that only trains, never
    measures) with every word at ``threshold``; each detection gives the
    central second of the window that fired, as an ``_unknown_`` training clip (a cut of the
    recording: training reads the front end's context around it from the recording too, so
    it learns the very window that fired). Write them
    with :func:`kwslab.data.manifest.write_manifest` and train again with ``--data`` on both
    the dataset and that manifest: the model learns exactly what it confused.

    Returns:
        :class:`~kwslab.data.manifest.Clip` s (split ``train``), at most ``limit``.
    """
    from kwslab.data.manifest import Clip
    from kwslab.data.negatives import negative_files

    cfg = cfg or StreamConfig()
    rec = load_export(model) if isinstance(model, str | Path) else model
    by_split, bad = negative_files(negatives)
    if split not in (*by_split, "all"):
        raise DataError(f"unknown negatives split {split!r}: train, validation, test or all")
    files = sorted(sum(by_split.values(), [])) if split == "all" else by_split[split]
    scored = negative_scores(rec, cfg, files)
    for name, why in bad + scored.bad:  # named, and the rest is mined
        if log is not None:
            log(f"skipped unreadable negative file {name}: {why}")
    det = StreamDetector(rec, cfg)
    n = rec.clip_samples
    context = (det.front.window - n) // 2  # samples on each side of the clip in a window
    ths = np.full(len(rec.labels), threshold)
    out = []
    for path, (times, scores) in zip(scored.files, scored.scores, strict=True):
        for d in Trigger(rec.labels, cfg, ths).step(times, scores):
            start = int(round(d.time * rec.sample_rate)) - context - n
            if start >= 0:
                out.append(Clip(str(path.resolve()), UNKNOWN, f"neg-{path.stem}", "train",
                                start, n))
    return out[:limit]


def count_false_accepts(labels: list[str], cfg: StreamConfig, thresholds: np.ndarray,
                        negatives: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, int]:
    """False accepts per word on negative audio at per-word ``thresholds``."""
    counts = dict.fromkeys(labels, 0)
    for times, scores in negatives:
        for d in Trigger(labels, cfg, thresholds).step(times, scores):
            counts[d.label] += 1
    return counts


def poisson_interval(count: int, hours: float) -> tuple[float, float]:
    """Exact (Garwood) 95 % interval of a rate per hour from ``count`` events in ``hours``."""
    from scipy.stats import chi2

    if hours <= 0:
        return (0.0, float("inf"))
    lo = chi2.ppf(0.025, 2 * count) / 2 if count else 0.0
    hi = chi2.ppf(0.975, 2 * count + 2) / 2
    return (float(lo / hours), float(hi / hours))


def resolvable_fa_per_hour(hours: float) -> float:
    """The lowest false-accept rate ``hours`` of audio can vouch for: with none seen there, the
    upper end of the 95 % interval (3.69 / hours; 2.15 h cannot tell 0.5 per hour from 1.7)."""
    return poisson_interval(0, hours)[1]


def hours_to_resolve(fa_per_hour: float) -> float:
    """Hours of audio with no false accept that bound the rate at ``fa_per_hour`` (95 %)."""
    return poisson_interval(0, 1.0)[1] / fa_per_hour


def best_at(det: list[dict[str, Any]], fa_per_hour: float, *,
            negatives_only: bool = False) -> dict[str, Any] | None:
    """The point of a DET curve (:func:`eval_stream`'s ``det``) with the most hits among those
    within ``fa_per_hour`` false accepts per hour; None where none is.

    By default every wrong detection counts, over all the audio scored: on the negatives, in
    the keyword stream's noise gaps and distractor words, and a word taken for another
    (``substitutions``). ``negatives_only`` counts the detections on the negative audio per
    hour of it and leaves the keyword stream's out (a clip whose word did not fire is still a
    miss). Points without negatives never qualify.
    """
    key = "fa_per_hour_negatives" if negatives_only else "fa_per_hour"
    return max((p for p in det if key in p and p[key] <= fa_per_hour),
               key=lambda p: p["hit_rate"], default=None)


def choose_thresholds(run: dict[str, Any], words: list[str], target_fa_per_hour: float
                      ) -> dict[str, float]:
    """Per word, the lowest threshold of :data:`THRESHOLDS` whose false accepts on ``run``
    (validation clips and negatives) stay within an equal share of ``target_fa_per_hour``.

    With H hours a word may have ``floor(target * H / n_words)`` false accepts; on a few hours
    that is 0, so each threshold lands just above the word's highest false score.
    """
    allowed = int(target_fa_per_hour * run["hours"] / max(1, len(words)))
    chosen = {}
    for w in words:
        ok = [c["threshold"] for c in word_curve(run, w) if c["false_accepts"] <= allowed]
        chosen[w] = float(ok[0]) if ok else float(THRESHOLDS[-1])
    return chosen


def score_detections(detections: list[Detection], events: list[tuple[float, float, str]],
                     duration_s: float, slack_s: float) -> dict[str, Any]:
    """Hits, misses, false accepts (and per hour) of detections against placed clips.

    Args:
        detections: in time order.
        events: (start_s, end_s, label) of each placed clip, in time order; ``_unknown_``
            clips are distractors (any detection on them is a false accept).
        duration_s: stream length (for the hourly rate).
        slack_s: a detection may come this long after a clip's end and still hit it.
    """
    starts = np.array([e[0] for e in events])
    hit = [False] * len(events)
    false_accepts = duplicates = substitutions = 0
    for d in detections:
        k = int(np.searchsorted(starts, d.time, side="left")) - 1  # last clip starting before
        during = k >= 0 and d.time < events[k][1] + slack_s
        if during and events[k][2] == d.label:
            if hit[k]:
                duplicates += 1
            else:
                hit[k] = True
            continue
        false_accepts += 1
        substitutions += during and events[k][2] not in (UNKNOWN, SILENCE)
    targets = [i for i, e in enumerate(events) if e[2] not in (UNKNOWN, SILENCE)]
    hits = sum(hit[i] for i in targets)
    hours = duration_s / 3600
    rate = hits / len(targets) if targets else 0.0
    return {"hits": hits, "misses": len(targets) - hits, "false_accepts": false_accepts,
            "substitutions": substitutions,
            "duplicates": duplicates, "hit_rate": rate, "miss_rate": 1 - rate,
            "fa_per_hour": false_accepts / hours if hours else 0.0}


def _stream(clips, noise: np.ndarray, snr_db: float, gap_s: tuple[float, float],
            rng: np.random.Generator, rate: int
            ) -> Iterator[tuple[np.ndarray, tuple[float, float, str] | None]]:
    """(chunk, event) pairs: a noise gap (event None), then a clip in noise (its event)."""
    from kwslab.data.dataset import load_clip

    waves = [load_clip(c, rate) for c in clips]  # held-out splits are small: ~1 s each
    power = float(np.mean([np.mean(w.astype(np.float64) ** 2) for w in waves]))
    level = np.sqrt(power / 10 ** (snr_db / 10))  # noise RMS (the bed has unit RMS)
    pos, t = int(rng.integers(len(noise))), 0
    for clip, wave in zip(clips, waves, strict=True):
        gap = int(rng.uniform(*gap_s) * rate)
        for chunk in (np.zeros(gap, np.float32), wave):
            n = len(chunk)
            idx = (pos + np.arange(n)) % len(noise)
            pos = (pos + n) % len(noise)
            mixed = (chunk + level * noise[idx]).astype(np.float32)
            event = (t / rate, (t + n) / rate, clip.label) if chunk is wave else None
            t += n
            yield mixed, event
    tail = int(gap_s[0] * rate)  # noise after the last clip
    yield (level * noise[(pos + np.arange(tail)) % len(noise)]).astype(np.float32), None


def _noise_bed(data: str | Path, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Unit-RMS noise: the held-out (last 10 %) part of each background-noise recording."""
    from kwslab.audio import load_audio
    from kwslab.data.speechcommands import NOISE_SPLIT_BOUNDS, noise_files

    files = noise_files(data) if Path(data).is_dir() else []
    parts = []
    lo, hi = NOISE_SPLIT_BOUNDS["test"]
    for f in files:
        x = load_audio(f).astype(np.float64)
        x = x[int(lo * len(x)) : int(hi * len(x))]
        rms = np.sqrt(np.mean(x**2))
        if len(x) and rms > 1e-6:
            parts.append(x / rms)
    if not parts:
        return rng.normal(0, 1, 16000 * 30).astype(np.float32), "white (no _background_noise_)"
    return (np.concatenate(parts).astype(np.float32),
            "held-out 10 % of " + ", ".join(f.stem for f in files))


def _wav_writer(path: str | Path | None, rate: int):
    if path is None:
        return None
    import soundfile as sf

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return sf.SoundFile(str(path), "w", samplerate=rate, channels=1, subtype="PCM_16",
                        format="WAV")


def render_det(result: dict[str, Any], path: str | Path) -> None:
    """Draw the DET curve (miss rate vs false accepts per hour) of :func:`eval_stream` as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = result["det"]
    fa = [c["fa_per_hour"] for c in curve]
    miss = [100 * c["miss_rate"] for c in curve]
    op = result["operating_point"]
    fig, ax = plt.subplots(figsize=(6.5, 4.8), dpi=120)
    ax.plot(fa, miss, marker=".", lw=2, color="k", label="all words, one threshold")
    if curve and "fa_per_hour_negatives" in curve[0]:
        ax.plot([c["fa_per_hour_negatives"] for c in curve], miss, lw=1.5, ls="--",
                color="0.45", label="the same, false accepts on the negatives alone")
    for w, pts in result.get("det_per_word", {}).items():
        ax.plot([p["fa_per_hour"] for p in pts], [100 * (1 - p["hit_rate"]) for p in pts],
                lw=1, alpha=0.7, label=w)
    ax.plot([op["fa_per_hour"]], [100 * op["miss_rate"]], "o", color="C3", ms=8,
            label=f"operating point: {100 * op['hit_rate']:.1f} % hits, "
                  f"{op['fa_per_hour']:.2f} FA/h")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("false accepts per hour")
    ax.set_ylabel("miss rate (%)")
    s = result["stream"]
    neg = result.get("negatives")
    extra = f" + {neg['hours']:.1f} h negatives" if neg else ""
    ax.set_title(f"DET: {s['keyword_clips']} keywords in {s['duration_s'] / 60:.0f} min at "
                 f"{s['snr_db']:g} dB{extra}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


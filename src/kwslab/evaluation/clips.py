"""Scoring a trained model: accuracy, loss, per-class precision/recall, confusion; predictions.

The model is a run folder (``kwslab train``: torch) or an export folder (``kwslab export``:
onnxruntime, a single model or an ensemble), told apart by its ``manifest.json``. Both give
probabilities for the same clips, picked by the run config, and share one report, so an
export or an ensemble is scored as a run is.

Compute first, render second: these functions return plain dicts; the CLI and the report
only draw them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from kwslab.artifacts import CONFIG, EXPORT, MANIFEST, RUN, read_manifest
from kwslab.config import RunConfig, run_config_from_dict
from kwslab.data import load_clips
from kwslab.data.cache import cached_features
from kwslab.data.speechcommands import AUDIO_SUFFIXES, select_split
from kwslab.errors import ConfigError, DataError, KwslabError, ModelError
from kwslab.models.inference import predict_logits
from kwslab.models.io import load_model
from kwslab.runtime.recognizer import ENSEMBLE, read_export_config

if TYPE_CHECKING:
    from kwslab.data.manifest import Clip
    from kwslab.runtime.ensemble import ClipModel

PROB_FLOOR = 1e-7  # an export's probabilities are clipped here before the log of its loss
BATCH = 512  # clips per onnxruntime call when scoring an export


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict:
    """Confusion matrix (rows: true, columns: predicted) and per-class precision/recall/F1."""
    k = len(labels)
    confusion = np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)
    per_class = {}
    for i, label in enumerate(labels):
        tp = int(confusion[i, i])
        support, predicted = int(confusion[i].sum()), int(confusion[:, i].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    return {"confusion": confusion.tolist(), "per_class": per_class}


def wilson_interval(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of an accuracy of ``correct`` out of ``n``."""
    if n == 0:
        return (0.0, 0.0)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (float(centre - half), float(centre + half))


def model_kind(model_dir: str | Path) -> str:
    """``"run"``, ``"export"`` or ``"ensemble"``, from the folder's ``manifest.json``.

    Raises:
        ModelError: (one line) no such folder, or a folder that is neither a run nor an export.
    """
    folder = Path(model_dir)
    if not folder.is_dir():
        what = "a file, not a folder" if folder.exists() else "no such folder"
        raise ModelError(f"{folder}: {what}; give a run folder (`kwslab train`) or an "
                         f"export folder (`kwslab export`)")
    manifest = read_manifest(folder)
    if manifest is None or manifest.kind not in (RUN, EXPORT):
        why = f"no {MANIFEST}" if manifest is None else f"its {MANIFEST} says {manifest.kind!r}"
        raise ModelError(f"{folder} is not a kwslab run folder or export folder ({why}); "
                         f"create one with `kwslab train` or `kwslab export`")
    if manifest.kind == RUN:
        return RUN
    return ENSEMBLE if read_export_config(folder).get("kind") == ENSEMBLE else EXPORT


def evaluate(run_dir: str | Path, data: str | Path, split: str = "test", *,
             progress: bool = False, worst: int = 20) -> dict[str, Any]:
    """Score the model of ``run_dir`` on one split of ``data``.

    An export is scored on the same clips as its run (its ``config.json`` holds the run
    config; an ensemble's come from its first member, all members share the labels), every
    clip by the model: no ``_silence_`` shortcut, as for a run. An export gives probabilities,
    not logits, so its ``loss`` is the mean of -log p(true label), p clipped to
    :data:`PROB_FLOOR`; a run's is the cross-entropy of its logits.

    Args:
        run_dir: a run folder (:func:`kwslab.training.train`) or an export folder, single
            model or ensemble (:mod:`kwslab.export`).
        data: dataset folder or manifest; the model's own words (and extra classes) are used.
        split: ``test``, ``validation``, ``train``, or ``all`` (every clip of those words,
            whatever the split lists say).
        worst: how many of the most confident mistakes to list.

    Returns:
        ``model_kind`` (:func:`model_kind`), ``accuracy``, ``accuracy_ci95``, ``loss``,
        ``n``, ``labels``, ``per_class``, ``confusion`` and ``skipped`` (unreadable files);
        ``keyword_accuracy`` and ``keyword_n`` count only the clips of the keywords (not
        _unknown_/_silence_; a keyword taken for _unknown_ is wrong), the same as
        ``accuracy`` without those classes;
        ``per_speaker`` ({speaker: [correct, n]}, keyword clips) and ``confused`` (the
        ``worst`` most confident mistakes: path, speaker, label, predicted, probability), so
        the errors can be listened to.
    """
    s = _scored(run_dir, data, split, progress)
    labels, y, probs, ok = s["labels"], s["y"], s["probs"], s["clips"]
    index = {label: i for i, label in enumerate(labels)}
    pred = probs.argmax(1)
    correct = int((pred == y).sum())
    words = np.isin(y, [index[w] for w in s["words"]])  # keyword clips, not the extras
    word_correct = int((pred[words] == y[words]).sum())
    per_speaker: dict[str, list[int]] = {}
    for c, ok_, is_word in zip(ok, pred == y, words, strict=True):
        if is_word:
            entry = per_speaker.setdefault(c.speaker, [0, 0])
            entry[0] += int(ok_)
            entry[1] += 1
    wrong = np.flatnonzero(pred != y)
    wrong = wrong[np.argsort(-probs[wrong, pred[wrong]])][:worst]
    return {
        "run_dir": str(run_dir), "model_kind": s["kind"], "data": str(data), "split": split,
        "accuracy": correct / len(y), "accuracy_ci95": wilson_interval(correct, len(y)),
        "keyword_accuracy": word_correct / max(1, int(words.sum())),
        "keyword_n": int(words.sum()),
        "loss": _loss(s["logits"], probs, y), "n": int(len(y)),
        "labels": labels, **classification_report(y, pred, labels),
        "per_speaker": per_speaker,
        "confused": [{"path": ok[i].path, "speaker": ok[i].speaker, "label": labels[y[i]],
                      "predicted": labels[pred[i]], "probability": float(probs[i, pred[i]])}
                     for i in wrong],
        "skipped": [p for p, _ in s["bad"]],
    }


def _loss(logits: torch.Tensor | None, probs: np.ndarray, y: np.ndarray) -> float:
    """Cross-entropy of the logits, or (an export) of the probabilities clipped to
    :data:`PROB_FLOOR`."""
    if logits is not None:
        return float(F.cross_entropy(logits, torch.from_numpy(y)))
    return float(-np.log(np.clip(probs[np.arange(len(y)), y], PROB_FLOOR, 1.0)).mean())


def _scored(run_dir: str | Path, data: str | Path, split: str, progress: bool = False
            ) -> dict[str, Any]:
    """The model's probabilities (and a run's logits, else None) for every readable clip of
    ``split``: ``kind``, ``labels``, ``words``, ``clips``, ``bad``, ``y``, ``logits``,
    ``probs``."""
    kind = model_kind(run_dir)
    if kind == RUN:
        model, cfg, meta = load_model(run_dir)
        labels = list(meta["labels"])
    else:
        from kwslab.runtime.ensemble import load_export

        clip_model = load_export(run_dir)
        cfg, labels = _export_run_config(clip_model), clip_model.labels
    clips = load_clips(data, cfg.data, seed=cfg.train.seed,
                       splits_from="all" if split == "all" else "lists")
    clips = select_split(clips, split)
    if not clips:
        raise DataError(f"{data}: no {split} clips for {', '.join(labels)}")
    logits: torch.Tensor | None = None
    if kind == RUN:
        x, ok, bad = cached_features(clips, cfg.features, progress=progress)
        logits = predict_logits(model, x)
        probs = torch.softmax(logits, 1).numpy()
    else:
        ok, bad, probs = _export_probabilities(clip_model, clips, progress)
    index = {label: i for i, label in enumerate(labels)}
    return {"kind": kind, "labels": labels, "words": cfg.data.words, "clips": ok, "bad": bad,
            "y": np.array([index[c.label] for c in ok]), "logits": logits, "probs": probs}


def _export_run_config(clip_model: ClipModel) -> RunConfig:
    """The run config an export carries (an ensemble: its first member's)."""
    from kwslab.runtime.ensemble import Ensemble

    first = clip_model.members[0] if isinstance(clip_model, Ensemble) else clip_model
    where = Path(first.export_dir or ".") / CONFIG
    raw = first.meta.get("config")
    if not isinstance(raw, dict):
        raise ModelError(f"{where}: no run config to pick the clips with; export the run again")
    try:
        return run_config_from_dict(raw)
    except (ConfigError, TypeError, ValueError) as e:
        raise ModelError(f"{where}: unreadable run config ({e}); export the run again") from e


def _export_probabilities(clip_model: ClipModel, clips: Sequence[Clip], progress: bool
                          ) -> tuple[list[Clip], list[tuple[str, str]], np.ndarray]:
    """(readable clips, [(path, reason)] of the others, probabilities) as the runtime
    computes them: audio in, each model its own features (an ensemble: the mean)."""
    from kwslab.data.dataset import load_waves

    loaded = load_waves(clips, clip_model.clip_samples, progress=progress)
    if not loaded.clips:
        raise DataError(f"none of the {len(clips)} clips could be read"
                        + (f"; first: {loaded.bad[0][1]}" if loaded.bad else ""))
    probs = np.concatenate([clip_model.probabilities(loaded.waves[s : s + BATCH])
                            for s in range(0, len(loaded.waves), BATCH)])
    return loaded.clips, loaded.bad, probs


def expand_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """Files as given, and the audio files found (recursively) in any folder given."""
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_SUFFIXES))
        elif p.exists():
            files.append(p)
        else:
            raise DataError(f"{p}: no such file or folder")
    if not files:
        raise DataError(f"no audio files in {', '.join(map(str, inputs))}")
    return files


def predict(run_dir: str | Path, inputs: Sequence[str | Path], top: int = 3
            ) -> list[dict[str, Any]]:
    """Top-``top`` labels with probabilities for each audio file (folders are searched).

    ``run_dir`` is a run folder or an export folder (single model or ensemble). Unreadable
    files get an ``error`` entry instead of labels; the others are still scored. A silent
    clip is ``_silence_`` where the model has that class, as the runtime answers
    (:func:`kwslab.runtime.recognizer.silent`).
    """
    from kwslab.audio import load_audio
    from kwslab.config import SILENCE
    from kwslab.runtime.recognizer import silent

    labels, sample_rate, clip_samples, probabilities = _clip_scorer(run_dir)
    results: list[dict[str, Any]] = []
    for f in expand_inputs(inputs):
        try:
            wave = load_audio(f, sample_rate, max_seconds=60.0)
        except KwslabError as e:  # report per file, keep going
            results.append({"file": str(f), "error": str(e)})
            continue
        if SILENCE in labels and silent(wave, clip_samples):
            probs = np.array([float(label == SILENCE) for label in labels])
        else:
            probs = probabilities(wave)
        order = np.argsort(-probs)[:top]
        results.append({"file": str(f), "label": labels[order[0]],
                        "top": [{"label": labels[i], "probability": float(probs[i])}
                                for i in order]})
    return results


def _clip_scorer(run_dir: str | Path
                 ) -> tuple[list[str], int, int, Callable[[np.ndarray], np.ndarray]]:
    """(labels, sample rate, clip samples, probabilities of one clip's audio) of a run or an
    export folder."""
    if model_kind(run_dir) != RUN:
        from kwslab.runtime.ensemble import load_export

        m = load_export(run_dir)
        return m.labels, m.sample_rate, m.clip_samples, m.probabilities
    from kwslab.features import compute_features

    model, cfg, meta = load_model(run_dir)

    def probabilities(wave: np.ndarray) -> np.ndarray:
        x = compute_features(wave, cfg.features)[None]
        return torch.softmax(predict_logits(model, x), 1)[0].numpy()

    return list(meta["labels"]), cfg.features.sample_rate, cfg.features.clip_samples, \
        probabilities


def clip_predictions(run_dir: str | Path, data: str | Path, split: str = "test") -> dict[str, Any]:
    """Each clip's true and predicted label, probability and speaker, so errors can be heard
    (``run_dir``: a run or an export folder, as for :func:`evaluate`).

    Returns:
        ``labels`` and ``clips``: one dict per readable clip with ``path``, ``speaker``,
        ``label``, ``predicted``, ``probability`` (of the prediction), ``is_keyword``.
    """
    s = _scored(run_dir, data, split)
    labels, words = s["labels"], set(s["words"])
    top = s["probs"].argmax(1)
    return {"labels": labels, "clips": [
        {"path": c.path, "speaker": c.speaker, "label": c.label, "predicted": labels[int(j)],
         "probability": float(p[j]), "is_keyword": c.label in words}
        for c, p, j in zip(s["clips"], s["probs"], top, strict=True)]}

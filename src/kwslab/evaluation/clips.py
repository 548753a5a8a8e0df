"""Scoring a trained model: accuracy, loss, per-class precision/recall, confusion; predictions.

Compute first, render second: these functions return plain dicts; the CLI and the report
only draw them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from kwslab.data import load_clips
from kwslab.data.cache import cached_features
from kwslab.data.speechcommands import AUDIO_SUFFIXES, select_split
from kwslab.errors import DataError, KwslabError
from kwslab.models.inference import predict_logits
from kwslab.models.io import load_model


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


def evaluate(run_dir: str | Path, data: str | Path, split: str = "test", *,
             progress: bool = False, worst: int = 20) -> dict[str, Any]:
    """Score the model of ``run_dir`` on one split of ``data``.

    Args:
        run_dir: a folder written by :func:`kwslab.training.train`.
        data: dataset folder or manifest; the model's own words (and extra classes) are used.
        split: ``test``, ``validation``, ``train``, or ``all`` (every clip of those words,
            whatever the split lists say).
        worst: how many of the most confident mistakes to list.

    Returns:
        ``accuracy``, ``accuracy_ci95``, ``loss``, ``n``, ``labels``, ``per_class``,
        ``confusion`` and ``skipped`` (unreadable files); ``keyword_accuracy`` and
        ``keyword_n`` count only the clips of the keywords (not _unknown_/_silence_; a keyword
        taken for _unknown_ is wrong), the same as ``accuracy`` without those classes;
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
        "run_dir": str(run_dir), "data": str(data), "split": split,
        "accuracy": correct / len(y), "accuracy_ci95": wilson_interval(correct, len(y)),
        "keyword_accuracy": word_correct / max(1, int(words.sum())),
        "keyword_n": int(words.sum()),
        "loss": float(F.cross_entropy(s["logits"], torch.from_numpy(y))), "n": int(len(y)),
        "labels": labels, **classification_report(y, pred, labels),
        "per_speaker": per_speaker,
        "confused": [{"path": ok[i].path, "speaker": ok[i].speaker, "label": labels[y[i]],
                      "predicted": labels[pred[i]], "probability": float(probs[i, pred[i]])}
                     for i in wrong],
        "skipped": [p for p, _ in s["bad"]],
    }


def _scored(run_dir: str | Path, data: str | Path, split: str, progress: bool = False
            ) -> dict[str, Any]:
    """The model's logits and probabilities for every readable clip of ``split``."""
    model, cfg, meta = load_model(run_dir)
    labels = meta["labels"]
    clips = load_clips(data, cfg.data, seed=cfg.train.seed,
                       splits_from="all" if split == "all" else "lists")
    clips = select_split(clips, split)
    if not clips:
        raise DataError(f"{data}: no {split} clips for {', '.join(labels)}")
    x, ok, bad = cached_features(clips, cfg.features, progress=progress)
    index = {label: i for i, label in enumerate(labels)}
    logits = predict_logits(model, x)
    return {"labels": labels, "words": cfg.data.words, "clips": ok, "bad": bad,
            "y": np.array([index[c.label] for c in ok]), "logits": logits,
            "probs": torch.softmax(logits, 1).numpy()}


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

    Unreadable files get an ``error`` entry instead of labels; the others are still scored.
    A silent clip is ``_silence_`` where the model has that class, as the runtime answers
    (:func:`kwslab.runtime.recognizer.silent`).
    """
    from kwslab.audio import load_audio
    from kwslab.config import SILENCE
    from kwslab.features import compute_features
    from kwslab.runtime.recognizer import silent

    model, cfg, meta = load_model(run_dir)
    labels = meta["labels"]
    results: list[dict[str, Any]] = []
    for f in expand_inputs(inputs):
        try:
            wave = load_audio(f, max_seconds=60.0)
        except KwslabError as e:  # report per file, keep going
            results.append({"file": str(f), "error": str(e)})
            continue
        if SILENCE in labels and silent(wave, cfg.features.clip_samples):
            probs = np.array([float(label == SILENCE) for label in labels])
        else:
            x = compute_features(wave, cfg.features)[None]
            probs = torch.softmax(predict_logits(model, x), 1)[0].numpy()
        order = np.argsort(-probs)[:top]
        results.append({"file": str(f), "label": labels[order[0]],
                        "top": [{"label": labels[i], "probability": float(probs[i])}
                                for i in order]})
    return results


def clip_predictions(run_dir: str | Path, data: str | Path, split: str = "test") -> dict[str, Any]:
    """Each clip's true and predicted label, probability and speaker, so errors can be heard.

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

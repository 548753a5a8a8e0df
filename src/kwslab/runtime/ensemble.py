"""Several exports of the same words, their probabilities combined per clip.

Models on different front ends err on different clips: on 5 speaker folds the embedding head
(96.0 %) and the from-scratch TC-ResNet (94.9 %) combine to 97.1-97.9 %, three heads and a
TC-ResNet to 97.4 %, and with a second TC-ResNet distilled from the heads to 97.7 %
(``benchmarks/fold_ensemble.py``). ``kwslab export RUN_A RUN_B --out
DIR`` writes an ensemble folder: each member a complete export in ``DIR/memberN/`` (its own
manifest), and a ``config.json`` naming the members with the SHA-256 of each member's
manifest, so an edited or swapped member is refused, and the rule that combines them
(:data:`COMBINE`). :func:`load_export` loads either kind of export.

Each member computes its own features of a clip (members on one front end share them); a
stream (:class:`~kwslab.runtime.StreamDetector`) runs each member on its incremental front end
and combines the members' probabilities by the same rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kwslab.artifacts import CONFIG, MANIFEST, sha256
from kwslab.errors import ModelError
from kwslab.runtime.recognizer import (
    ENSEMBLE,
    ClipAnswers,
    Recognizer,
    _check_samples,
    _thresholds,
    read_export_config,
)

# How an ensemble's probabilities become one answer. "mean": their average, a word likely
# for any member stays likely. "geometric": the average of their logs, renormalised, so a word
# must be likely for every member; on 5 speaker folds it scored at least the mean on the
# folds' validation speakers in 9 of 11 make-ups (benchmarks/fold_ensemble.py).
COMBINE = ("mean", "geometric")
LEGACY_COMBINE = {"mean of the members' probabilities": "mean"}  # exports before the choice
PROB_FLOOR = 1e-9  # a member's 0 would otherwise veto a word outright


def combine(probs: list[np.ndarray], rule: str) -> np.ndarray:
    """The members' probabilities (each (..., n_labels)) combined by ``rule`` (one of
    :data:`COMBINE`), float32 of the same shape."""
    stacked = np.asarray(probs, dtype=np.float64)
    if rule == "mean":
        return stacked.mean(axis=0).astype(np.float32)
    if rule != "geometric":
        raise ModelError(f"unknown ensemble rule {rule!r}; valid: {', '.join(COMBINE)}")
    logs = np.log(np.maximum(stacked, PROB_FLOOR)).mean(axis=0)
    logs -= logs.max(axis=-1, keepdims=True)
    out = np.exp(logs)
    return (out / out.sum(axis=-1, keepdims=True)).astype(np.float32)


def combine_rule(meta: dict[str, Any], where: Path | str = CONFIG) -> str:
    """The rule an ensemble's ``config.json`` names (an export before the choice: mean)."""
    rule = meta.get("combine", "mean")
    rule = LEGACY_COMBINE.get(rule, rule)
    if rule not in COMBINE:
        raise ModelError(f"{where}: unknown ensemble rule {rule!r} (valid: "
                         f"{', '.join(COMBINE)}); export the ensemble again")
    return str(rule)


class Ensemble(ClipAnswers):
    """Exported models of the same labels and clip length, probabilities combined by
    ``meta["combine"]`` (:data:`COMBINE`; the mean when absent).

    Has the clip interface of :class:`Recognizer` (``predict``, ``probabilities``,
    ``predict_file``, ``is_silence``, ``labels``, ``thresholds``, ``meta``) but no single
    feature config: ``probabilities`` takes audio, each member featurises it itself.

    Attributes:
        members: the member recognisers, in the order of ``config.json``.
    """

    def __init__(self, members: list[Recognizer], meta: dict[str, Any], *,
                 where: Path | str = CONFIG):
        first = members[0]
        for m in members[1:]:
            if m.labels != first.labels:
                raise ModelError(f"ensemble members disagree on labels: {first.labels} vs "
                                 f"{m.labels}")
            if (m.sample_rate, m.clip_samples) != (first.sample_rate, first.clip_samples):
                raise ModelError("ensemble members disagree on sample rate or clip length")
        self.members = members
        self.meta = meta
        self.combine: str = combine_rule(meta, where)  # where: named in its error
        self.labels: list[str] = list(first.labels)
        self.sample_rate: int = first.sample_rate
        self.clip_samples: int = first.clip_samples
        self.thresholds: dict[str, float] = _thresholds(meta, self.labels)
        self.export_dir: Path | None = None  # set by load(); a stream's VAD looks there
        self.front_end = None

    @classmethod
    def load(cls, export_dir: str | Path, *, int8: bool = False, threads: int = 1) -> Ensemble:
        """Load an ensemble folder written by ``kwslab export RUN_A RUN_B --out DIR``.

        Raises:
            ModelError: (one line) not a complete ensemble export, a member missing, edited
                or swapped since export, or members that do not fit together.
        """
        export_dir = Path(export_dir)
        meta = read_export_config(export_dir)
        if meta.get("kind") != ENSEMBLE:
            raise ModelError(f"{export_dir}: a single-model export; load it with "
                             f"Recognizer.load")
        members = []
        for entry in meta["members"]:
            folder = export_dir / entry["dir"]
            manifest = folder / MANIFEST
            if not manifest.is_file() or sha256(manifest) != entry["manifest_sha256"]:
                raise ModelError(f"{folder}: this member is missing or is not the one exported "
                                 f"(its {MANIFEST} differs from {export_dir / CONFIG}); "
                                 f"export the ensemble again")
            members.append(Recognizer.load(folder, int8=int8, threads=threads))
        ens = cls(members, {**meta, "loaded": "int8" if int8 else "fp32"},
                  where=export_dir / CONFIG)
        if ens.labels != meta["labels"]:
            raise ModelError(f"{export_dir / CONFIG}: labels {meta['labels']} are not its "
                             f"members' {ens.labels}; export the ensemble again")
        ens.export_dir = export_dir
        vad = [m.export_dir for m in members if m.front_end is not None]
        if vad:  # the Silero VAD ships beside the speech_embedding front end
            ens.export_dir = vad[0]
        return ens

    def probabilities(self, samples: np.ndarray) -> np.ndarray:
        """The members' probabilities combined: (n_labels,) for one clip, (batch, n_labels)
        for a batch of float mono clips at :attr:`sample_rate`. Members on the same front
        end (feature config and graphs) share its features: computed once per call."""
        from kwslab.runtime.frontend import feature_key

        samples = _check_samples(samples)
        batch = samples if samples.ndim == 2 else samples[None]
        features: dict[tuple, np.ndarray] = {}
        probs = []
        for m in self.members:
            key = feature_key(m)
            if key not in features:
                features[key] = m.compute(batch)
            probs.append(m.run(features[key]))
        joint = combine(probs, self.combine)
        return joint if samples.ndim == 2 else joint[0]

    def __repr__(self) -> str:
        return f"Ensemble({len(self.members)} models, labels={self.labels})"


ClipModel = Recognizer | Ensemble  # what load_export gives: the clip interface of both


def load_export(export_dir: str | Path, *, int8: bool = False, threads: int = 1) -> ClipModel:
    """A single-model export as a :class:`Recognizer`, an ensemble as an :class:`Ensemble`."""
    if read_export_config(export_dir).get("kind") == ENSEMBLE:
        return Ensemble.load(export_dir, int8=int8, threads=threads)
    return Recognizer.load(export_dir, int8=int8, threads=threads)

"""Several exports of the same words, their probabilities averaged per clip.

Models on different front ends err on different clips: on 5 speaker folds the embedding head
(95.5 %) and the from-scratch TC-ResNet (95.1 %) average to 96.9 %
(``benchmarks/fold_ensemble.py``). ``kwslab export RUN_A RUN_B --out DIR`` writes an ensemble
folder: each member a complete export in ``DIR/memberN/`` (its own manifest), and a
``config.json`` naming the members with the SHA-256 of each member's manifest, so an edited
or swapped member is refused. :func:`load_export` loads either kind of export.

An ensemble scores whole clips: each member computes its own features of the clip, and a
stream (:class:`~kwslab.runtime.StreamDetector`) re-featurises the last second every hop
instead of sharing an incremental front end.
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


class Ensemble(ClipAnswers):
    """Exported models of the same labels and clip length, probabilities averaged.

    Has the clip interface of :class:`Recognizer` (``predict``, ``probabilities``,
    ``predict_file``, ``is_silence``, ``labels``, ``thresholds``, ``meta``) but no single
    feature config: ``probabilities`` takes audio, each member featurises it itself.

    Attributes:
        members: the member recognisers, in the order of ``config.json``.
    """

    def __init__(self, members: list[Recognizer], meta: dict[str, Any]):
        first = members[0]
        for m in members[1:]:
            if m.labels != first.labels:
                raise ModelError(f"ensemble members disagree on labels: {first.labels} vs "
                                 f"{m.labels}")
            if (m.sample_rate, m.clip_samples) != (first.sample_rate, first.clip_samples):
                raise ModelError("ensemble members disagree on sample rate or clip length")
        self.members = members
        self.meta = meta
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
        ens = cls(members, {**meta, "loaded": "int8" if int8 else "fp32"})
        if ens.labels != meta["labels"]:
            raise ModelError(f"{export_dir / CONFIG}: labels {meta['labels']} are not its "
                             f"members' {ens.labels}; export the ensemble again")
        ens.export_dir = export_dir
        vad = [m.export_dir for m in members if m.front_end is not None]
        if vad:  # the Silero VAD ships beside the speech_embedding front end
            ens.export_dir = vad[0]
        return ens

    def probabilities(self, samples: np.ndarray) -> np.ndarray:
        """The members' probabilities averaged: (n_labels,) for one clip, (batch, n_labels)
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
        mean = np.asarray(np.mean(probs, axis=0), dtype=np.float32)
        return mean if samples.ndim == 2 else mean[0]

    def __repr__(self) -> str:
        return f"Ensemble({len(self.members)} models, labels={self.labels})"


ClipModel = Recognizer | Ensemble  # what load_export gives: the clip interface of both


def load_export(export_dir: str | Path, *, int8: bool = False, threads: int = 1) -> ClipModel:
    """A single-model export as a :class:`Recognizer`, an ensemble as an :class:`Ensemble`."""
    if read_export_config(export_dir).get("kind") == ENSEMBLE:
        return Ensemble.load(export_dir, int8=int8, threads=threads)
    return Recognizer.load(export_dir, int8=int8, threads=threads)

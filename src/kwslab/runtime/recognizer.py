"""Recognise 1 s clips with an exported model: NumPy features + one onnxruntime session.

This module (and :mod:`kwslab.runtime`) imports only NumPy, onnxruntime and kwslab's pure
modules, never torch or librosa, so a deployment box needs ``pip install kwslab[runtime]``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from kwslab.artifacts import CONFIG, EXPORT, EXPORT_TAG, INPUT, OUTPUT, verify
from kwslab.config import SILENCE, FeatureConfig, from_dict
from kwslab.errors import ConfigError, ModelError
from kwslab.features.mel import compute_features
from kwslab.utils.onnx import open_session

# A clip whose peak is under this is labelled _silence_ without the model, where the model has
# that label. -60 dBFS is 33 steps of 16-bit audio, 40 dB under a word recorded at any usable
# gain (speech peaks around -20 to -3 dBFS), and broadband noise that quiet leaves log-Mel
# features within 0.2 nats of their ln(1e-6) floor: the model would be answering about nothing,
# or (db_max features, scaled to each clip's own peak) about amplified noise, and still says a
# word with confidence. Quieter than -80 dBFS the service also warns (kwslab.audio.SILENT_PEAK).
SILENCE_PEAK_DBFS = -60.0
SILENCE_PEAK = 10 ** (SILENCE_PEAK_DBFS / 20)  # 0.001 of full scale
ENSEMBLE = "ensemble"  # config.json's "kind" of an ensemble export (kwslab.runtime.ensemble)


class Prediction(NamedTuple):
    """The top label and every label's probability (they sum to 1)."""

    label: str
    probabilities: dict[str, float]


class ClipAnswers:
    """``predict``, ``is_silence`` and ``predict_file`` from a class's ``probabilities``,
    ``labels``, ``sample_rate`` and ``clip_samples`` (a :class:`Recognizer`, an ensemble)."""

    labels: list[str]
    sample_rate: int
    clip_samples: int

    def probabilities(self, samples: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict(self, samples: np.ndarray) -> Prediction:
        """The label and per-label probabilities of one clip (float32 mono, 16 kHz).

        A silent clip (:meth:`is_silence`) is ``_silence_`` with probability 1, others 0,
        without running the model, where the model has that label.
        """
        samples = _check_samples(samples)
        if samples.ndim != 1:
            raise ValueError("predict() takes one clip, shape (n,); use probabilities() for "
                             "a batch")
        if self.is_silence(samples):
            return Prediction(SILENCE, {label: float(label == SILENCE) for label in self.labels})
        probs = self.probabilities(samples)
        return Prediction(self.labels[int(probs.argmax())],
                          {label: float(p) for label, p in zip(self.labels, probs, strict=True)})

    def is_silence(self, samples: np.ndarray) -> bool:
        """Whether :meth:`predict` calls one clip ``_silence_`` without asking the model: the
        model has that label and the clip is :func:`silent`."""
        return SILENCE in self.labels and silent(_check_samples(samples), self.clip_samples)

    def predict_file(self, path: str | Path) -> Prediction:
        """:meth:`predict` on an audio file (any rate or channel count; needs soundfile)."""
        from kwslab.audio import load_audio

        return self.predict(load_audio(path, self.sample_rate, max_seconds=60.0))


class Recognizer(ClipAnswers):
    """An exported keyword spotter.

    Example::

        r = Recognizer.load("runs/x/export")
        label, probs = r.predict(samples)  # float32 mono at 16 kHz, ~1 s

    Attributes:
        labels: class names in output order.
        features: the :class:`FeatureConfig` the model was trained on.
        sample_rate: input rate in Hz (16,000).
        meta: the export's ``config.json``.
    """

    def __init__(self, session: Any, meta: dict[str, Any], front_end: Path | None = None):
        self.session = session
        self.meta = meta
        self.labels: list[str] = list(meta["labels"])
        try:
            self.features: FeatureConfig = from_dict(FeatureConfig, meta["features"])
        except ConfigError as e:
            raise ModelError(f"export config: bad feature config ({e})") from e
        self.sample_rate: int = self.features.sample_rate
        self.clip_samples: int = self.features.clip_samples
        # The folder of a pretrained front end's files (speech_embedding: the export itself).
        self.front_end = front_end
        self.export_dir: Path | None = None  # set by load()
        self.thresholds: dict[str, float] = _thresholds(meta, self.labels)

    @classmethod
    def load(cls, export_dir: str | Path, *, int8: bool = False,
             threads: int = 1) -> Recognizer:
        """Load ``export_dir`` (written by ``kwslab export``).

        Args:
            export_dir: folder with ``config.json`` and ``model.onnx``.
            int8: use ``model.int8.onnx`` instead (export with ``--int8``).
            threads: onnxruntime intra-op threads (1, as openWakeWord: lowest latency per
                clip and no contention when several recognisers share a machine).

        Raises:
            ModelError: the folder is not a complete export, is from an incompatible
                version, or its config.json does not fit the ONNX graph (one line).
            MissingExtraError: onnxruntime is not installed.
        """
        export_dir = Path(export_dir)
        meta = read_export_config(export_dir)
        if meta.get("kind") == ENSEMBLE:
            raise ModelError(f"{export_dir} is an ensemble of {len(meta['members'])} exports; "
                             f"load it with kwslab.runtime.load_export")
        kind = "int8" if int8 else "fp32"
        name = meta.get("files", {}).get(kind)
        if name is None:
            raise ModelError(f"{export_dir}: no {kind} model; re-export with "
                             f"`kwslab export RUN --format onnx{' --int8' if int8 else ''}`")
        path = export_dir / name
        if not path.is_file():
            raise ModelError(f"{path}: model file is missing")
        front_end = export_dir if meta.get("front_end") else None
        rec = cls(open_session(path, threads), {**meta, "loaded": kind}, front_end)
        rec.export_dir = export_dir  # where a stream looks for the export's VAD
        check_graph(rec.session, rec.features, rec.labels, path)
        declared = (meta.get("input") or {}).get("shape", ["batch", *rec.features.shape])
        if list(declared[1:]) != list(rec.features.shape):
            raise ModelError(f"{export_dir / CONFIG}: input shape {declared} does not match its "
                             f"features ({list(rec.features.shape)}); export the run again")
        return rec

    def compute(self, samples: np.ndarray) -> np.ndarray:
        """Features of one clip (n,) or a batch (batch, n): :func:`compute_features`."""
        return compute_features(samples, self.features, self.front_end)

    def probabilities(self, samples: np.ndarray) -> np.ndarray:
        """Probabilities, shape (n_labels,) for one clip or (batch, n_labels) for a batch.

        Args:
            samples: float mono audio at :attr:`sample_rate`; each clip is padded or
                centre-cropped to 1 s.
        """
        samples = _check_samples(samples)
        x = self.compute(samples)
        probs = self.run(x if samples.ndim == 2 else x[None])
        return probs if samples.ndim == 2 else probs[0]

    def run(self, features: np.ndarray) -> np.ndarray:
        """Probabilities (batch, n_labels) float32 of features (batch, *features.shape)."""
        return self.session.run([OUTPUT], {INPUT: np.ascontiguousarray(features, np.float32)})[0]

    def __repr__(self) -> str:
        return f"Recognizer(labels={self.labels}, model={self.meta.get('loaded')})"


def silent(samples: np.ndarray, clip_samples: int) -> bool:
    """Whether the part of one clip a model hears (padded or centre-cropped to
    ``clip_samples``) peaks under :data:`SILENCE_PEAK` (-60 dBFS): too quiet to hold a word."""
    from kwslab.audio import fix_length

    return bool(np.abs(fix_length(np.asarray(samples), clip_samples)).max() < SILENCE_PEAK)


def read_export_config(export_dir: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a verified export folder (see :func:`kwslab.artifacts.verify`).

    Raises:
        ModelError: (one line) not a complete export of this format, or a config.json
            without ``labels``, ``features`` or ``files``.
    """
    export_dir = Path(export_dir)
    verify(export_dir, EXPORT)
    path = export_dir / CONFIG
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ModelError(f"{path}: not valid JSON ({e}); export the run again") from e
    if not isinstance(meta, dict) or meta.get("format") != EXPORT_TAG:
        raise ModelError(f"{path}: not a kwslab ONNX export config; export the run again")
    labels = meta.get("labels")
    if not (isinstance(labels, list) and labels and all(isinstance(x, str) for x in labels)):
        raise ModelError(f"{path}: 'labels' must be a non-empty list of words, got {labels!r}")
    if meta.get("kind") == ENSEMBLE:
        members = meta.get("members")
        if not (isinstance(members, list) and members and all(
                isinstance(m, dict) and isinstance(m.get("dir"), str) and "/" not in m["dir"]
                and m["dir"] not in ("", ".", "..")
                and isinstance(m.get("manifest_sha256"), str) for m in members)
                and len({m["dir"] for m in members}) == len(members)):
            raise ModelError(f"{path}: 'members' must list the member folders and their "
                             f"manifests' SHA-256; export the ensemble again")
        return meta
    for key in ("features", "files"):
        if not isinstance(meta.get(key), dict):
            raise ModelError(f"{path}: missing {key!r}; export the run again")
    return meta


def check_graph(session: Any, features: FeatureConfig, labels: list[str], path: Path) -> None:
    """Raise a one-line ModelError where the ONNX graph does not take ``features``' shape
    under the name ``features`` or does not give one probability per label."""
    inputs = {i.name: i.shape for i in session.get_inputs()}
    outputs = {o.name: o.shape for o in session.get_outputs()}
    if INPUT not in inputs or OUTPUT not in outputs:
        raise ModelError(f"{path}: the graph has inputs {sorted(inputs)} and outputs "
                         f"{sorted(outputs)}, not {INPUT!r} -> {OUTPUT!r}; export the run again")
    try:
        want = list(features.shape)
    except (ConfigError, ValueError, ZeroDivisionError) as e:
        raise ModelError(f"{path.parent / CONFIG}: bad feature config ({e})") from e
    got = [d if isinstance(d, int) else None for d in inputs[INPUT][1:]]
    if got != want:
        raise ModelError(f"{path} takes features of shape {got} but config.json's features "
                         f"make {want}; config.json does not belong to this model")
    n_out = outputs[OUTPUT][-1] if outputs[OUTPUT] else None
    if isinstance(n_out, int) and n_out != len(labels):
        raise ModelError(f"{path} outputs {n_out} probabilities but config.json names "
                         f"{len(labels)} labels; config.json does not belong to this model")


def _check_samples(samples: np.ndarray) -> np.ndarray:
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim not in (1, 2) or samples.shape[-1] == 0:
        raise ValueError(f"samples must have shape (n,) or (batch, n) with n > 0, got "
                         f"{samples.shape}")
    return samples


def _thresholds(meta: dict[str, Any], labels: list[str]) -> dict[str, float]:
    """Per-word stream thresholds saved in the export (``kwslab eval-stream
    --save-thresholds``): {word: threshold in (0, 1]}; empty when none were saved."""
    raw = meta.get("thresholds") or {}
    ok = isinstance(raw, dict) and all(
        w in labels and isinstance(t, int | float) and 0 < t <= 1 for w, t in raw.items())
    if not ok:
        raise ModelError(f"export config: 'thresholds' must map labels ({', '.join(labels)}) "
                         "to numbers in (0, 1]")
    return {w: float(t) for w, t in raw.items()}

"""Knowledge distillation: a student learns a teacher export's probabilities beside the labels.

A small from-scratch model (``--config tcresnet``) trails the ensemble of heads on the
pretrained front end; learning the teacher's full distribution over the words (which words a
clip resembles, and how much) as well as its label narrows that gap at no run-time cost. The
teacher is any export (one model or an ensemble) with the student's labels; it is run once on
every version of a training clip the student sees (the clean clip, and each waveform-augmented
copy when the recipe makes copies), never per batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from kwslab.errors import ConfigError

BATCH = 256  # clips per teacher call


class Waves(Protocol):
    """Clip-length waveforms by index (:class:`kwslab.data.dataset.WaveSource`)."""

    def __len__(self) -> int: ...

    def get(self, idx: np.ndarray) -> np.ndarray: ...


def check_pairing(teacher: str | None, weight: float) -> None:
    """A teacher's weight needs a teacher, and a teacher a weight (one line, before work)."""
    if weight > 0 and not teacher:
        raise ConfigError(f"train.distill={weight:g} learns from a teacher: add --teacher "
                          f"EXPORT (train.teacher)")
    if teacher and weight == 0:
        raise ConfigError(f"train.teacher={teacher} has no weight: set train.distill in (0, 1]")


def load_teacher(path: str | Path, labels: list[str], threads: int = 1):
    """The teacher export, checked against the student's labels (one-line errors)."""
    from kwslab.runtime import load_export

    teacher = load_export(path, threads=threads)
    if list(teacher.labels) != list(labels):
        raise ConfigError(f"teacher {path} answers {', '.join(teacher.labels)}; the student "
                          f"learns {', '.join(labels)} (train the teacher on the same words)")
    return teacher


def soften(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``probs ** (1 / T)`` renormalised: the teacher's distribution at temperature ``T``
    (softmax of its logits over ``T`` for a single model; T > 1 spreads it)."""
    logp = np.log(np.clip(probs, 1e-9, None)) / temperature
    logp -= logp.max(axis=-1, keepdims=True)
    p = np.exp(logp)
    return (p / p.sum(axis=-1, keepdims=True)).astype(np.float32)


def teacher_probs(teacher, waves: np.ndarray) -> np.ndarray:
    """The teacher's probabilities (clips, labels) of clip-length waveforms (at least one),
    in batches."""
    return source_probs(teacher, _Array(waves))


def source_probs(teacher, source: Waves) -> np.ndarray:
    """The teacher's probabilities of every clip of ``source`` (at least one), decoded a
    batch at a time (a source streaming from disk is never read into memory whole)."""
    n = len(source)
    return np.concatenate([teacher.probabilities(source.get(np.arange(s, min(s + BATCH, n))))
                           for s in range(0, n, BATCH)]).astype(np.float32)


class _Array:
    """Waveforms in memory as a :class:`Waves` source."""

    def __init__(self, waves: np.ndarray):
        self.waves = waves

    def __len__(self) -> int:
        return len(self.waves)

    def get(self, idx: np.ndarray) -> np.ndarray:
        return self.waves[idx]


def distill_loss(logits: torch.Tensor, targets: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher || student) at ``temperature``, scaled by T^2 so its gradients keep their
    size as T changes (Hinton et al., 2015). ``targets`` are already softened."""
    log_student = F.log_softmax(logits / temperature, dim=1)
    return F.kl_div(log_student, targets, reduction="batchmean") * temperature**2

"""Data: recipes that turn folders into clips, audio loading, augmentation, downloads, TTS."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from kwslab.config import DataConfig
from kwslab.data.manifest import Clip, counts, read_manifest
from kwslab.errors import DataError


def load_clips(data: str | Path | Sequence[str | Path], cfg: DataConfig, *, seed: int = 0,
               splits_from: str = "lists") -> list[Clip]:
    """Clips for ``cfg`` from a Speech Commands-style folder or a JSONL manifest.

    A manifest keeps its own labels and splits; clips whose label is not one of ``cfg.labels``
    are dropped. Several sources (e.g. a synthetic and a real folder) are concatenated, each
    keeping its own splits; ``cfg.max_per_word`` then caps each source separately.
    """
    from kwslab.data.speechcommands import prepare_speech_commands

    if not isinstance(data, str | os.PathLike):  # several sources
        if not data:
            raise DataError("no dataset given")
        return [c for d in data for c in load_clips(d, cfg, seed=seed, splits_from=splits_from)]
    path = Path(data)
    if path.is_file() and path.suffix == ".jsonl":
        labels = set(cfg.labels)
        clips = [c for c in read_manifest(path) if c.label in labels]
        if not clips:
            raise DataError(f"{path}: no clips with labels {', '.join(cfg.labels)}")
        return clips
    if path.is_file():
        raise DataError(f"{path}: expected a dataset folder or a .jsonl manifest")
    return prepare_speech_commands(path, cfg, seed=seed, splits_from=splits_from)


__all__ = ["Clip", "counts", "load_clips"]

"""Gather a report's plain data from what producers wrote (compute first, render second).

A folder may be a run or an export (each closed by a manifest, :mod:`kwslab.artifacts`), a
tune/compare/lr-find output, an eval-stream output (``det.json``/``det.png``), or a demo
folder holding several of these. :func:`gather` walks it once and returns a
:class:`ReportData` of dicts, arrays and file paths. Files are recognised by their exact
names (those in :mod:`kwslab.artifacts`); nothing here evaluates a model or draws.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from kwslab import artifacts as A
from kwslab.errors import DataError, KwslabError
from kwslab.utils.io import read_json

MAX_DEPTH = 3  # folder levels searched below the report's root
MAX_TRIALS = 50  # rows of trials.csv shown
SEARCH_SUBFOLDERS = (A.MANUAL_DIR, A.PLOTS_DIR, "trials")
ROOT_IMAGES = {A.COMPARISON_PNG: "comparison", A.LR_FIND_PNG: "lr_find", A.DET_PNG: "det"}
NO_EVALUATION = (f"no test evaluation ({A.EVAL_TEST}): train with --eval-test, or write one "
                 f"with `kwslab evaluate RUN --data D --out RUN/{A.EVAL_TEST}`")


@dataclass
class Example:
    """One clip of a word: its samples and the features the model sees."""

    label: str
    path: str
    wave: np.ndarray  # (clip_samples,) float32 at sample_rate
    features: np.ndarray  # (bins, frames) float32
    sample_rate: int
    feature_kind: str  # "log-Mel" or "MFCC"


@dataclass
class DatasetData:
    """Counts per word and split, and one example per word, of one dataset."""

    path: str
    counts: dict[str, dict[str, int]]
    examples: list[Example] = field(default_factory=list)


@dataclass
class ImageFile:
    """A PNG another tool wrote, to embed as it is."""

    path: Path
    kind: str  # det, lr_find, history, importance, manual or other
    title: str


@dataclass
class RunData:
    """A trained model's folder: config, training history, card and test evaluation
    (``eval_test.json``, where a producer wrote one)."""

    name: str
    path: Path
    labels: list[str]
    config: dict[str, Any]
    metrics: dict[str, Any]
    card: dict[str, Any] | None
    evaluation: dict[str, Any] | None
    data_path: Path | None
    note: str | None = None  # why there is no evaluation, if there is none


@dataclass
class SearchData:
    """A tune/compare/lr-find output: comparison, trials and the plots it drew."""

    name: str
    path: Path
    comparison: Any  # parsed comparison.json, or None
    trials: list[dict[str, str]]
    n_trials: int
    images: list[ImageFile]


@dataclass
class StreamData:
    """An eval-stream output: the DET curve as data and/or as a PNG."""

    name: str
    path: Path
    det: dict[str, Any] | None
    images: list[ImageFile]


@dataclass
class ExportData:
    """An ONNX export folder: its config.json and, if scored, export_metrics.json."""

    name: str
    path: Path
    config: dict[str, Any]
    metrics: dict[str, Any] | None
    sizes: dict[str, int]  # model file -> bytes


@dataclass
class ReportData:
    """Everything a report shows; sections without data are simply empty."""

    title: str
    root: Path
    runs: list[RunData]
    datasets: list[DatasetData]
    searches: list[SearchData]
    streams: list[StreamData]
    exports: list[ExportData] = field(default_factory=list)
    demo: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def best_run(self) -> RunData | None:
        """The run with the best test accuracy (validation accuracy where none was tested)."""
        if not self.runs:
            return None
        if self.demo and self.demo.get("run"):
            for r in self.runs:
                if r.path.resolve() == (self.root / self.demo["run"]).resolve():
                    return r

        def key(r: RunData) -> tuple[float, float]:
            test = r.evaluation["accuracy"] if r.evaluation else -1.0
            return (test, r.metrics.get("val_accuracy") or -1.0)

        return max(self.runs, key=key)


def gather(path: str | Path, data: str | Path | None = None) -> ReportData:
    """Read everything reportable under ``path``.

    Args:
        path: a run, search, stream or demo folder.
        data: dataset folder or manifest for the example clips; default: each run's own
            (``metrics.json`` ``data``).

    Raises:
        DataError: ``path`` is not a folder or holds nothing a report can show.
    """
    root = Path(path)
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "no such folder"
        raise DataError(f"{root}: {what}; give a run, search, stream or demo folder")
    runs, searches, streams, exports = [], [], [], []
    for folder, files in _walk(root):
        images = _images(folder, files)
        if A.MANIFEST in files and A.is_run(folder):
            runs.append(_read_run(root, folder, data))
        elif A.MANIFEST in files and A.is_export(folder):
            exports.append(ExportData(
                _name(root, folder), folder, _read_json(folder / A.CONFIG) or {},
                _read_json(folder / A.EXPORT_METRICS),
                {f: (folder / f).stat().st_size for f in sorted(files) if f.endswith(".onnx")}))
        det = _stream_result(folder, files)
        det_images = [i for i in images if i.kind == "det"]
        if det is not None or det_images:
            streams.append(StreamData(_name(root, folder), folder, det, det_images))
        others = [i for i in images if i.kind != "det"]
        if _is_search(files) or any(i.kind != "other" for i in others):
            trials, n = _read_trials(folder / "trials.csv")
            comparison = _read_json(folder / "comparison.json")
            searches.append(SearchData(_name(root, folder), folder, comparison, trials, n, others))
    demo = _read_json(root / A.DEMO_JSON)
    if not (runs or searches or streams or exports):
        raise DataError(f"{root}: nothing to report: no run or export folder ({A.MANIFEST}), "
                        f"search output ({A.COMPARISON}, {A.TRIALS_CSV}) or eval-stream result "
                        f"({A.DET_JSON})")
    report = ReportData(root.resolve().name, root, runs, [], searches, streams, exports, demo)
    report.datasets = _datasets(runs, report.notes)
    report.notes += [f"{r.name}: {r.note}" for r in runs if r.note]
    return report


def _walk(root: Path):
    """(folder, file names) below ``root``, skipping datasets, hidden and very deep folders.

    A search's ``plots/`` and ``manual/`` are read with the search itself, and its
    ``trials/N`` run folders (the best of which is ``best/``) only appear in trials.csv.
    """
    base = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root):
        folder = Path(dirpath)
        if _is_dataset(folder, filenames, dirnames):
            dirnames[:] = []
            continue
        skip = SEARCH_SUBFOLDERS if _is_search(set(filenames)) else ()
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_"))
                             and d not in skip)
        if len(folder.parts) - base >= MAX_DEPTH:
            dirnames[:] = []
        yield folder, set(filenames)


def _is_search(files: set[str]) -> bool:
    return bool(files & A.SEARCH_FILES)


def _images(folder: Path, files: set[str]) -> list[ImageFile]:
    """The figures producers wrote in ``folder``, by their exact names."""
    found = [(folder / name, kind) for name, kind in ROOT_IMAGES.items() if name in files]
    if _is_search(files):
        found += [(folder / A.PLOTS_DIR / name, kind) for name, kind in A.PLOTS.items()
                  if (folder / A.PLOTS_DIR / name).is_file()]
        found += [(p, "manual") for p in sorted((folder / A.MANUAL_DIR).glob("*.png"))]
    return [ImageFile(p, kind, p.stem if kind == "manual" else _title(p.stem))
            for p, kind in found]


def _is_dataset(folder: Path, files: list[str], dirs: list[str]) -> bool:
    return "validation_list.txt" in files or "testing_list.txt" in files or (
        "_background_noise_" in dirs)


def _name(root: Path, folder: Path) -> str:
    rel = folder.relative_to(root)
    return str(rel) if str(rel) != "." else root.resolve().name


def _title(stem: str) -> str:
    return stem.replace("_", " ").replace("-", " ").strip().capitalize()


def _read_json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return read_json(path)
    except (ValueError, UnicodeDecodeError):
        return None


def _stream_result(folder: Path, files: set[str]) -> dict[str, Any] | None:
    """The eval-stream result in ``folder`` (``det.json`` with a ``det`` list), if any."""
    if A.DET_JSON not in files:
        return None
    value = _read_json(folder / A.DET_JSON)
    return value if isinstance(value, dict) and isinstance(value.get("det"), list) else None


def _read_trials(path: Path) -> tuple[list[dict[str, str]], int]:
    if not path.is_file():
        return [], 0
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return rows[:MAX_TRIALS], len(rows)


def _resolve_data(run_dir: Path, metrics: dict[str, Any], data: str | Path | None) -> Path | None:
    if data is not None:
        return Path(data)
    recorded = metrics.get("data")
    if not recorded:
        return None
    for candidate in (Path(recorded), run_dir / recorded):
        if candidate.exists():
            return candidate
    return None


def _read_run(root: Path, folder: Path, data: str | Path | None) -> RunData:
    meta = _read_json(folder / A.CONFIG) or {}
    metrics = _read_json(folder / A.METRICS) or {}
    card = _read_json(folder / A.CARD)
    data_path = _resolve_data(folder, metrics, data)
    evaluation = _read_json(folder / A.EVAL_TEST)
    note = None if evaluation is not None else NO_EVALUATION
    return RunData(_name(root, folder), folder, list(meta.get("labels", [])),
                   meta.get("config", {}), metrics, card, evaluation, data_path, note)


def _datasets(runs: list[RunData], notes: list[str]) -> list[DatasetData]:
    """One entry per distinct dataset (and label set) the runs were trained on."""
    seen: dict[tuple[str, tuple[str, ...]], DatasetData] = {}
    for run in runs:
        key = (str(run.data_path or run.metrics.get("data", "")), tuple(run.labels))
        if key in seen or not run.metrics.get("counts"):
            continue
        ds = DatasetData(key[0], run.metrics["counts"])
        if run.data_path is not None:
            try:
                ds.examples = examples(run)
            except KwslabError as e:
                notes.append(f"{run.name}: no example clips ({e})")
        seen[key] = ds
    return list(seen.values())


def examples(run: RunData) -> list[Example]:
    """One clip per label of ``run`` (test split first) with the features the model sees.

    Flattened features (the seed recipe) are shown as the 2-D image they were cut from.
    """
    from kwslab.config import run_config_from_dict
    from kwslab.data import load_clips
    from kwslab.data.dataset import load_clip
    from kwslab.features import compute_features

    if run.data_path is None:
        raise DataError(f"{run.path}: the dataset it was trained on is not known")
    cfg = run_config_from_dict(run.config)
    fc = replace(cfg.features, flatten=False)
    clips = load_clips(run.data_path, cfg.data, seed=cfg.train.seed)
    order = {"test": 0, "validation": 1, "train": 2}
    chosen: dict[str, Any] = {}
    for c in sorted(clips, key=lambda c: (order.get(c.split, 3), c.path, c.offset)):
        chosen.setdefault(c.label, c)
    out = []
    for label in run.labels:
        if label not in chosen:
            continue
        try:
            wave = load_clip(chosen[label], fc.clip_samples)
        except KwslabError:
            continue
        kind = {"mfcc": "MFCC", "speech_embedding": "speech-embedding"}.get(fc.kind, "log-Mel")
        out.append(Example(label, chosen[label].path, wave, compute_features(wave, fc),
                           fc.sample_rate, kind))
    if not out:
        raise DataError(f"{run.data_path}: none of the example clips could be read")
    return out


def dumps(value: Any) -> str:
    """Compact JSON for a table cell."""
    return json.dumps(value, separators=(", ", ": "))

"""Torch run folder -> deployable ONNX folder for :mod:`kwslab.runtime`.

An export folder holds ``model.onnx`` (one file, no external data: input ``features``
float32 (batch, *FeatureConfig.shape), output ``probabilities`` (batch, n_labels), softmax
and input normalisation inside the graph, BatchNorm folded into the convs) and
``config.json`` (labels, sample rate, feature config, run config, model card, opset, format
version). ``--int8`` adds ``model.int8.onnx`` quantised by onnxruntime; with a dataset, both
are scored on its test split and ``export_metrics.json`` records the accuracy cost. The
folder is written as one unit with its ``manifest.json`` (:mod:`kwslab.artifacts`): a killed
export leaves the previous export whole.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from onnxruntime.quantization import CalibrationDataReader

from kwslab.artifacts import (
    CARD,
    CONFIG,
    DEFAULT_EXPORT,
    EXPORT,
    EXPORT_FORMAT,
    EXPORT_METRICS,
    EXPORT_TAG,
    FP32,
    INPUT,
    INT8,
    OUTPUT,
    check_target,
    staged,
    verify,
)
from kwslab.config import to_dict
from kwslab.errors import ConfigError, DataError, ModelError
from kwslab.utils.io import read_json, write_json
from kwslab.utils.onnx import open_session

OPSET = 17
CALIBRATION_CLIPS = 256  # training clips used to calibrate static int8 ranges
PARITY_ATOL = 1e-4  # max |torch - onnx| probability difference accepted at export


def export_onnx(run_dir: str | Path, out: str | Path | None = None, *, int8: bool = False,
                data: str | Path | None = None, opset: int = OPSET,
                overwrite: bool = False) -> dict[str, Any]:
    """Export the model of ``run_dir`` to an ONNX folder.

    Args:
        run_dir: a folder written by :func:`kwslab.training.train`.
        out: the export folder (default ``RUN_DIR/export``); created, or an earlier export
            there replaced as a whole (a folder of other files is refused).
        int8: also write ``model.int8.onnx``. With ``data``, activations are calibrated on
            its training clips (static QDQ quantisation); without, weights only (dynamic).
        data: dataset folder or manifest; if given, fp32 and int8 accuracy on its test split
            go to ``export_metrics.json``.
        opset: ONNX opset.
        overwrite: replace an export at ``out`` even if it holds thresholds saved by
            ``eval-stream --save-thresholds`` (an earlier export is otherwise replaced).

    Returns:
        ``out``, ``files`` and, with ``data``, ``metrics`` (also written to disk).

    Raises:
        ModelError: the run folder does not load, ``out`` holds other files or saved
            thresholds (without ``overwrite``), or the ONNX graph disagrees with torch.
    """
    from kwslab.models.io import load_model

    model, cfg, meta = load_model(run_dir)
    out = Path(out) if out is not None else Path(run_dir) / DEFAULT_EXPORT
    _keep_thresholds(out, overwrite)
    check_target(out, EXPORT, overwrite=True)
    with staged(out, EXPORT, overwrite=True) as tmp:
        result = _write_export(tmp, run_dir, model, cfg, meta, int8=int8, data=data,
                               opset=opset)
    return {**result, "out": str(out)}


def _keep_thresholds(out: Path, overwrite: bool) -> None:
    """Refuse to replace an export whose thresholds were chosen on validation audio (hours of
    scoring no re-export can redo) unless asked to."""
    config = out / CONFIG
    if overwrite or not config.is_file():
        return
    try:
        saved = read_json(config).get("thresholds")
    except (ValueError, AttributeError, OSError):
        return  # not a readable export: check_target decides
    if saved:
        raise ModelError(f"{out} holds per-word thresholds saved by `eval-stream "
                         "--save-thresholds`; pass --overwrite to replace them, or export to "
                         "another folder")


def export_ensemble(run_dirs: Sequence[str | Path], out: str | Path, *, int8: bool = False,
                    data: str | Path | None = None, opset: int = OPSET,
                    overwrite: bool = False, combine: str = "mean") -> dict[str, Any]:
    """Export several runs of the same words as one ensemble folder (probabilities combined
    per clip by :class:`kwslab.runtime.Ensemble`, by ``combine``: one of
    :data:`kwslab.runtime.ensemble.COMBINE`).

    Each run becomes a complete export in ``OUT/memberN`` (its own manifest); ``config.json``
    names them with their manifests' SHA-256. The whole folder is written as one unit.

    Raises:
        ModelError: fewer than two runs, a run that does not load, runs with other labels,
            sample rates or clip lengths, ``out`` holding other files, or saved thresholds
            without ``overwrite`` (as :func:`export_onnx`).
        ConfigError: an unknown ``combine`` rule.
    """
    from kwslab.artifacts import MANIFEST, sha256, write_manifest
    from kwslab.models.io import load_model, versions
    from kwslab.runtime.ensemble import COMBINE

    if combine not in COMBINE:
        raise ConfigError(f"unknown ensemble rule {combine!r}; valid: {', '.join(COMBINE)}")
    if len(run_dirs) < 2:
        raise ModelError("an ensemble needs at least two run folders")
    loaded = [load_model(r) for r in run_dirs]
    labels = list(loaded[0][2]["labels"])
    for run, (_, cfg, meta) in zip(run_dirs, loaded, strict=True):
        if list(meta["labels"]) != labels:
            raise ModelError(f"{run}: labels {meta['labels']} differ from {run_dirs[0]}'s "
                             f"{labels}; an ensemble's models must answer the same words")
        first = loaded[0][1].features
        if (cfg.features.sample_rate, cfg.features.clip_samples) != (first.sample_rate,
                                                                      first.clip_samples):
            raise ModelError(f"{run}: its clips ({cfg.features.clip_samples} samples at "
                             f"{cfg.features.sample_rate} Hz) differ from {run_dirs[0]}'s")
    out = Path(out)
    _keep_thresholds(out, overwrite)
    check_target(out, EXPORT, overwrite=True)
    members = []
    with staged(out, EXPORT, overwrite=True) as tmp:
        for i, (run, (model, cfg, meta)) in enumerate(zip(run_dirs, loaded, strict=True)):
            folder = tmp / f"member{i}"
            folder.mkdir()
            result = _write_export(folder, run, model, cfg, meta, int8=int8, data=data,
                                   opset=opset)
            write_manifest(folder, EXPORT)
            members.append({"dir": folder.name, "manifest_sha256": sha256(folder / MANIFEST),
                            "run_dir": str(Path(run).resolve()), "family": cfg.model.name,
                            "features": cfg.features.kind,
                            "parity_max_abs_diff": result["parity_max_abs_diff"]})
        write_json(tmp / CONFIG, {
            "format": EXPORT_TAG,
            "format_version": EXPORT_FORMAT,
            "kind": "ensemble",
            "combine": combine,
            "labels": labels,
            "sample_rate": loaded[0][1].features.sample_rate,
            "members": members,
            "int8": int8,
            "versions": {**versions(), **_onnx_versions()},
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        })
    return {"out": str(out), "members": members, "combine": combine,
            "files": {"fp32": "member*/" + FP32, **({"int8": "member*/" + INT8} if int8 else {})},
            "parity_max_abs_diff": max(m["parity_max_abs_diff"] for m in members)}


def _write_export(out: Path, run_dir: str | Path, model, cfg, meta: dict[str, Any], *,
                  int8: bool, data: str | Path | None, opset: int) -> dict[str, Any]:
    """Write every file of an export into the (staging) folder ``out``."""
    from kwslab.models.io import versions

    labels, shape = list(meta["labels"]), tuple(meta["input_shape"])
    wrapped = WithSoftmax(model).eval()
    example = torch.zeros((1, *shape), dtype=torch.float32)
    _to_onnx(wrapped, example, out / FP32, opset)
    parity = _check_parity(wrapped, out / FP32, shape)

    card = _card(run_dir, model, shape)
    files = {"fp32": FP32}
    int8_mode = None
    if int8:
        int8_mode = "static" if data is not None else "dynamic"
        calib = _calibration_features(cfg, data) if data is not None else None
        quantize(out / FP32, out / INT8, calib)
        files["int8"] = INT8

    front_end = _copy_front_end(cfg.features, out)
    write_json(out / CONFIG, {
        "format": EXPORT_TAG,
        "format_version": EXPORT_FORMAT,
        "opset": opset,
        "labels": labels,
        "sample_rate": cfg.features.sample_rate,
        "input": {"name": INPUT, "shape": ["batch", *shape], "dtype": "float32"},
        "output": {"name": OUTPUT, "shape": ["batch", len(labels)], "softmax": True},
        "features": to_dict(cfg.features),
        "files": files,
        "front_end": front_end,
        "int8_mode": int8_mode,
        "parity_max_abs_diff": parity,
        "model_card": card,
        "config": to_dict(cfg),
        "run_dir": str(Path(run_dir).resolve()),
        "versions": {**versions(), **_onnx_versions()},
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })
    result: dict[str, Any] = {"out": str(out), "files": files, "parity_max_abs_diff": parity}
    if data is not None:
        result["metrics"] = _score(out, read_json(out / CONFIG), data, run_dir=run_dir)
        write_json(out / EXPORT_METRICS, result["metrics"])
    return result


def _copy_front_end(fc, out: Path) -> dict[str, Any] | None:
    """For ``speech_embedding`` features, copy its two ONNX files into the export folder, so
    the folder alone runs (the runtime reads them from there); None otherwise."""
    if fc.kind != "speech_embedding":
        return None
    import shutil

    from kwslab.features import embedding

    src = embedding.resolve()
    for name in embedding.FILES:
        shutil.copyfile(src / name, out / name)
    files = list(embedding.FILES) + embedding.write_derived(out)  # the runtime needs no onnx
    if (src / embedding.VAD).is_file():  # for streams' voice-activity gate
        shutil.copyfile(src / embedding.VAD, out / embedding.VAD)
        files.append(embedding.VAD)
    return {"kind": "speech_embedding", "files": files, "source": embedding.WHEEL_URL}


class WithSoftmax(torch.nn.Module):
    """The model with a softmax on its logits, so the graph outputs probabilities."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.inner(x), dim=-1)


class _Calibration(CalibrationDataReader):
    """Feeds calibration features to onnxruntime one example at a time."""

    def __init__(self, x: np.ndarray):
        self._items = iter([{INPUT: x[i : i + 1]} for i in range(len(x))])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)


def _to_onnx(model, example, path: Path, opset: int) -> None:
    """Write one self-contained ONNX file (legacy exporter; dynamo if it is gone).

    The file is staged beside ``path`` so the exporter's external-data files never mix
    with the export's own."""
    import onnx

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    kwargs: dict[str, Any] = dict(
        input_names=[INPUT], output_names=[OUTPUT], opset_version=opset,
        dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        try:
            torch.onnx.export(model, (example,), str(tmp), dynamo=False,
                              do_constant_folding=True, **kwargs)
        except (TypeError, RuntimeError, ImportError):  # legacy path removed: use dynamo
            torch.onnx.export(model, (example,), str(tmp), dynamo=True, external_data=False,
                              dynamic_shapes=({0: torch.export.Dim("batch")},),
                              input_names=[INPUT], output_names=[OUTPUT], opset_version=opset)
    proto = onnx.load(str(tmp))  # pulls in any external data so the file stands alone
    proto.doc_string = "kwslab keyword spotter: features -> probabilities"
    onnx.checker.check_model(proto)
    onnx.save_model(proto, str(tmp), save_as_external_data=False)
    os.replace(tmp, path)
    for stray in path.parent.glob(f".{path.name}.*.tmp.data"):
        stray.unlink()


def _check_parity(model, path: Path, shape: tuple[int, ...]) -> float:
    """Max |torch - onnxruntime| over a random batch; raise if above :data:`PARITY_ATOL`."""
    x = np.random.default_rng(0).normal(0, 3, (8, *shape)).astype(np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    got = open_session(path).run([OUTPUT], {INPUT: x})[0]
    diff = float(np.abs(want - got).max())
    if not diff <= PARITY_ATOL:
        raise ModelError(f"{path}: onnxruntime differs from torch by {diff:.2e} "
                         f"(limit {PARITY_ATOL:.0e}); please report this model family")
    return diff


def _card(run_dir: str | Path, model, shape: tuple[int, ...]) -> dict[str, Any]:
    card_path = Path(run_dir) / CARD
    if card_path.is_file():
        return read_json(card_path)
    from kwslab.models.card import model_card

    return model_card(model, shape)


def _onnx_versions() -> dict[str, str]:
    import onnx
    import onnxruntime

    return {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}


def quantize(src: Path, dst: Path, calibration: np.ndarray | None = None) -> None:
    """int8 model of ``src``: static QDQ with ``calibration`` features, else dynamic."""
    from onnxruntime.quantization import QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        staged = Path(tmp) / "int8.onnx"
        if calibration is None:
            quantize_dynamic(str(pre), str(staged), weight_type=QuantType.QInt8)
        else:
            from onnxruntime.quantization import QuantFormat

            quantize_static(str(pre), str(staged), _Calibration(calibration),
                            quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, per_channel=True)
        os.replace(staged, dst)


def _calibration_features(cfg, data: str | Path) -> np.ndarray:
    """Features of up to :data:`CALIBRATION_CLIPS` training clips (a fixed random subset)."""
    from kwslab.data import load_clips
    from kwslab.data.cache import cached_features
    from kwslab.data.speechcommands import select_split

    clips = select_split(load_clips(data, cfg.data, seed=cfg.train.seed), "train")
    if not clips:
        raise DataError(f"{data}: no training clips to calibrate int8 on")
    rng = np.random.default_rng(0)
    pick = rng.permutation(len(clips))[:CALIBRATION_CLIPS]
    x, _, _ = cached_features([clips[i] for i in sorted(pick)], cfg.features,
                              neighbours=True)  # as training computed them
    return x


def score_export(export_dir: str | Path, data: str | Path, split: str = "test",
                 run_dir: str | Path | None = None) -> dict[str, Any]:
    """Accuracy of each model file of an export folder (and of torch) on one split of ``data``.

    Raises:
        ModelError: ``export_dir`` is not a complete export.

    Returns:
        ``{"split", "n", "fp32": {"accuracy", "size_bytes"}, "int8": {...}?,
        "torch_accuracy"?, "int8_points_lost"?, "fp32_int8_agreement"?}``; accuracies in [0, 1],
        points lost in percentage points.
    """
    verify(export_dir, EXPORT)
    return _score(Path(export_dir), read_json(Path(export_dir) / CONFIG), data, split, run_dir)


def _score(export_dir: Path, meta: dict[str, Any], data: str | Path, split: str = "test",
           run_dir: str | Path | None = None) -> dict[str, Any]:
    from kwslab.config import run_config_from_dict
    from kwslab.data import load_clips
    from kwslab.data.cache import cached_features
    from kwslab.data.speechcommands import select_split

    cfg = run_config_from_dict(meta["config"])
    labels = meta["labels"]
    clips = select_split(load_clips(data, cfg.data, seed=cfg.train.seed), split)
    if not clips:
        raise DataError(f"{data}: no {split} clips for {', '.join(labels)}")
    x, ok, _ = cached_features(clips, cfg.features)
    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index[c.label] for c in ok])
    result: dict[str, Any] = {"data": str(data), "split": split, "n": int(len(y))}
    preds = {}
    for kind, name in meta["files"].items():
        probs = _batched(open_session(export_dir / name, threads=os.cpu_count() or 1), x)
        preds[kind] = probs.argmax(1)
        result[kind] = {"accuracy": float((preds[kind] == y).mean()),
                        "size_bytes": (export_dir / name).stat().st_size}
    if "int8" in preds:
        result["int8_points_lost"] = 100 * (result["fp32"]["accuracy"]
                                            - result["int8"]["accuracy"])
        result["fp32_int8_agreement"] = float((preds["fp32"] == preds["int8"]).mean())
    if run_dir is not None:
        from kwslab.models.inference import predict_logits
        from kwslab.models.io import load_model

        model, _, _ = load_model(run_dir)
        result["torch_accuracy"] = float(
            (predict_logits(model, x).argmax(1).numpy() == y).mean())
    return result


def _batched(sess, x: np.ndarray, batch: int = 256) -> np.ndarray:
    return np.concatenate([sess.run([OUTPUT], {INPUT: x[s : s + batch]})[0]
                           for s in range(0, len(x), batch)])

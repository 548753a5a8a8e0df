"""The training loop: plain, top-down code (nanoGPT-style).

``train(cfg, data, out)`` reads the clips, builds the model, runs epochs of (augmented)
mini-batches, validates after each epoch, keeps the best checkpoint by validation accuracy,
stops early when asked, and writes the run folder. ``report(epoch, metrics)`` is called after
each epoch; the tuner turns it into Optuna's ``trial.report`` and may raise to prune.
"""

from __future__ import annotations

import copy
import math
import os
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from kwslab.artifacts import CARD, MANIFEST, METRICS, RUN, WEIGHTS, check_target, sha256, staged
from kwslab.config import RunConfig, to_dict, validate
from kwslab.data import load_clips
from kwslab.data.augment import Augmenter, mixup
from kwslab.data.cache import cached_features
from kwslab.data.checks import dataset_problems
from kwslab.data.dataset import WaveSource
from kwslab.data.manifest import counts
from kwslab.data.speechcommands import noise_files, select_split
from kwslab.errors import ConfigError, DataError
from kwslab.features import compute_features, in_context
from kwslab.models import build, input_norm
from kwslab.models.inference import predict_logits
from kwslab.models.io import save_model
from kwslab.training.distill import (
    check_pairing,
    distill_loss,
    load_teacher,
    soften,
    source_probs,
    teacher_probs,
)
from kwslab.training.optim import make_optimizer, make_scheduler
from kwslab.utils.io import write_json
from kwslab.utils.progress import make_progress

Report = Callable[[int, dict[str, float]], None]


@dataclass
class TrainResult:
    """Where the run was written and its metrics (also in ``metrics.json``)."""

    run_dir: Path
    metrics: dict[str, Any]


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch; return the run's NumPy generator."""
    random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def train(cfg: RunConfig, data: str | Path | Sequence[str | Path], out: str | Path, *,
          report: Report | None = None, progress: bool = True,
          log: Callable[[str], None] | None = None, overwrite: bool = False) -> TrainResult:
    """Train a model on the train split of ``data`` and write it to ``out``.

    Args:
        cfg: the full recipe (data, features, model, training).
        data: a Speech Commands-style folder (real or synthetic) or a JSONL manifest, or a
            list of them to train on all at once (e.g. synthetic speech plus a few real clips).
        out: run folder to create; gets model.safetensors, config.json, metrics.json,
            model_card.json and manifest.json, all at once (see :mod:`kwslab.artifacts`).
        report: called after each epoch with ``{"val_accuracy", "val_loss", ...}``.
        progress: show a progress bar.
        log: receives one-line notes (bad files skipped, early stop).
        overwrite: replace a finished run at ``out`` (all of it: no old file stays).

    Returns:
        The run folder and its metrics. The weights are those of the best validation epoch.

    Raises:
        ModelError: ``out`` holds a finished run (without ``overwrite``) or other files.
        ConfigError: the loss stopped being finite (nothing is written), or the teacher is
            not the one ``train.teacher_sha256`` names (before any work).
    """
    validate(cfg)
    check_pairing(cfg.train.teacher, cfg.train.distill)
    check_target(out, RUN, overwrite=overwrite)  # before any work, not after it
    start = time.perf_counter()
    tc, fc = cfg.train, cfg.features
    log = log or (lambda msg: None)
    rng = seed_everything(tc.seed)
    torch.set_num_threads(train_threads(tc.threads))
    labels = list(cfg.data.labels)
    teacher = teacher_sha = None
    if tc.teacher:  # checked before any work; hashed as loaded (what this run learned from)
        teacher = load_teacher(tc.teacher, labels)  # one thread: the same answers anywhere
        if (Path(tc.teacher) / MANIFEST).is_file():
            teacher_sha = sha256(Path(tc.teacher) / MANIFEST)
        if tc.teacher_sha256 and tc.teacher_sha256 != teacher_sha:
            found = (f"its manifest.json hash is {teacher_sha[:12]}" if teacher_sha
                     else "it has no manifest.json")
            raise ConfigError(f"teacher {tc.teacher} is not the one this config was trained "
                              f"with ({found}, expected {tc.teacher_sha256[:12]}); give "
                              f"--teacher {tc.teacher} to learn from it as it is now")
    cfg = replace(cfg, train=replace(tc, teacher_sha256=teacher_sha))  # saved with the run

    if fc.kind == "speech_embedding":  # first use: fetch the pretrained front end (16 MB)
        from kwslab.features.embedding import default_dir, fetch, is_ready

        if not is_ready(default_dir()):
            log(f"downloading the speech_embedding model to {default_dir()}")
            fetch(progress=progress)
    clips = load_clips(data, cfg.data, seed=tc.seed)
    for problem in dataset_problems(data, clips):  # warnings: the run goes on
        log(f"warning: {problem}")
    if cfg.data.negatives:  # named once here; their cuts are drawn from the readable files
        from kwslab.data.negatives import negative_files

        for path, why in negative_files(cfg.data.negatives)[1]:
            log(f"skipped unreadable negative file {path}: {why}")
    index = {label: i for i, label in enumerate(labels)}
    train_clips, val_clips = select_split(clips, "train"), select_split(clips, "validation")
    if not train_clips:
        raise DataError(f"{data}: no training clips for {', '.join(cfg.data.words)}")
    if not val_clips:
        raise DataError(f"{data}: no validation clips (add validation_list.txt or more speakers)")

    noises = []
    sources = [data] if isinstance(data, str | os.PathLike) else list(data)
    if tc.augment.noise_prob:
        from kwslab.audio import load_audio

        noises = [load_audio(p) for d in sources if Path(d).is_dir() for p in noise_files(d)]
    aug = Augmenter(tc.augment, noises, rng)
    # Without augmentation every epoch sees the same features: compute them once (through the
    # cache), and never decode the training waveforms. With ``copies``, the clean features plus
    # that many waveform-augmented copies are made once and each epoch draws one version of
    # every clip (feature-level masks stay per batch).
    # A training clip cut from a long recording (negatives, mined false accepts) is a window
    # a stream scored: a front end that reads context around it gets the recording's real
    # audio there, as the stream did, not zeros (a lone clip: zeros). Waveform augmentation
    # then works on the whole window, so its noise reaches every clip's context, as a
    # stream's does. Validation keeps lone clips with silent context, as predict sees them.
    source: WaveSource | None = None
    static = None
    context, wide = in_context(fc)
    if aug.active:
        source = WaveSource(train_clips, fc.clip_samples, progress=progress, context=context)
        train_ok, bad_train = source.clips, source.bad
        if tc.augment.copies:
            static = cached_features(source.clips, fc, progress=progress,
                                     neighbours=True)[0][None]
    else:
        x_train, train_ok, bad_train = cached_features(train_clips, fc, progress=progress,
                                                       neighbours=True)
        static = x_train[None]
    y_train = np.array([index[c.label] for c in train_ok])
    x_val, val_ok, bad_val = cached_features(val_clips, fc, progress=progress)
    y_val = np.array([index[c.label] for c in val_ok])
    for why, n in Counter(why for _, why in bad_train + bad_val).items():  # once per file:
        log(f"skipped unreadable clip: {why}" + (f" ({n} cuts of it)" if n > 1 else ""))
    # The teacher's (softened) probabilities of every version of a training clip the student
    # sees: shape (versions, clips, labels); one version (the clean clip) when batches are
    # augmented afresh.
    targets = None
    if teacher is not None:
        if not tc.augment.copies:
            log("note: the teacher scores the clean clips only (it also scores augmented "
                "copies, train.augment.copies, when the recipe makes them)")
        # The runtime centre-crops a window to its clip: the teacher hears the clip alone.
        clean = source if source is not None else WaveSource(train_ok, fc.clip_samples)
        if len(clean) != len(train_ok):
            raise DataError(f"{len(train_ok) - len(clean)} training clips could not be read "
                            f"again for the teacher; first: {clean.bad[0][1]}")
        targets = source_probs(teacher, clean)[None]
        del clean
    if static is not None and aug.active:  # tc.augment.copies
        feats, probs = _augmented_copies(_waves(source), aug, fc, tc.augment.copies,
                                         tc.batch_size, progress, teacher)
        static = np.concatenate([static, feats])
        if targets is not None:
            targets = np.concatenate([targets, probs])
    if targets is not None:
        targets = soften(targets, tc.distill_temperature)
        teacher = None  # its sessions are not needed for training
        if static is not None and len(targets) != len(static):
            raise AssertionError("one teacher answer per version of a clip")
    sample = static[0] if static is not None else compute_features(
        _waves(source).get(rng.permutation(len(train_ok))[:2000]), wide)
    mean, std = float(sample.mean()), float(sample.std() + 1e-5)

    model = build(cfg.model, fc.shape, len(labels))
    norm = input_norm(model)
    norm.feat_mean.fill_(mean)
    norm.feat_std.fill_(std)
    steps = max(1, -(-len(train_ok) // tc.batch_size))
    opt = make_optimizer(model.parameters(), tc)
    sched = make_scheduler(opt, tc, steps)
    ema = None
    if tc.ema:
        ema = torch.optim.swa_utils.AveragedModel(
            model, multi_avg_fn=_ema_with_warmup(tc.ema), use_buffers=True)
    balance = cfg.data.unknown or cfg.data.silence
    mix_rng = np.random.default_rng(tc.seed + 1)  # the batch thread owns ``rng``

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]:
        order = _epoch_order(y_train, rng, balance)
        for s in range(0, len(order), tc.batch_size):
            idx = np.sort(order[s : s + tc.batch_size])
            version = np.zeros(len(idx), dtype=int)
            if static is not None:
                version = rng.integers(len(static), size=len(idx))
                x = static[version, idx]
                if aug.active:
                    x = aug.features(x)
            else:
                x = aug.features(compute_features(aug.waves(_waves(source).get(idx)), wide))
            soft = None
            if targets is not None:  # the teacher's answer for the version drawn
                soft = torch.from_numpy(targets[version, idx])
            yield torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y_train[idx]), soft

    history: list[dict[str, float]] = []
    best: dict[str, Any] = {"val_accuracy": -1.0, "val_loss": float("inf"), "epoch": -1}
    best_state = copy.deepcopy(model.state_dict())
    # One BLAS thread: the feature thread gets one core, torch the rest.
    with _single_threaded_blas(), make_progress(transient=True) as bar:
        task = bar.add_task("training", total=tc.epochs, visible=progress)
        for epoch in range(tc.epochs):
            model.train()
            seen = correct = 0
            loss_sum = 0.0
            for xb, yb, tb in _prefetch(batches()):
                logits, loss = _step(model, xb, yb, tb, tc, mix_rng)
                loss_value = float(loss.detach())
                if not math.isfinite(loss_value):
                    raise _diverged("training", loss_value, epoch + 1, tc)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                if ema is not None:
                    ema.update_parameters(model)
                loss_sum += loss_value * len(yb)
                correct += int((logits.argmax(1) == yb).sum())
                seen += len(yb)
            scored = ema.module if ema is not None else model
            val_loss, val_acc = evaluate_arrays(scored, x_val, y_val)
            if not math.isfinite(val_loss):
                raise _diverged("validation", val_loss, epoch + 1, tc)
            row = {"epoch": epoch + 1, "train_loss": loss_sum / seen,
                   "train_accuracy": correct / seen, "val_loss": val_loss,
                   "val_accuracy": val_acc, "lr": opt.param_groups[0]["lr"]}
            history.append(row)
            top = max(val_acc, best["val_accuracy"])
            bar.update(task, advance=1,
                       description=f"training  val acc {val_acc:.3f}  best {top:.3f}")
            if (val_acc, -val_loss) > (best["val_accuracy"], -best["val_loss"]):
                best = {"val_accuracy": val_acc, "val_loss": val_loss, "epoch": epoch + 1,
                        "train_accuracy": row["train_accuracy"], "train_loss": row["train_loss"]}
                best_state = copy.deepcopy(scored.state_dict())
            if report is not None:
                report(epoch + 1, row)
            if tc.patience and epoch + 1 - best["epoch"] >= tc.patience:
                log(f"early stop after epoch {epoch + 1}: no gain for {tc.patience} epochs")
                break

    model.load_state_dict(best_state)
    model.eval()
    out = Path(out)
    metrics = {
        "best_epoch": best["epoch"], "epochs_run": len(history),
        "val_accuracy": best["val_accuracy"], "val_loss": best["val_loss"],
        "train_accuracy": best.get("train_accuracy"), "train_loss": best.get("train_loss"),
        "seconds": time.perf_counter() - start, "n_train": len(train_ok), "n_val": len(y_val),
        "skipped": list(dict.fromkeys(p for p, _ in bad_train + bad_val)),
        "counts": counts(clips),
        "data": str(Path(sources[0]).resolve()),
        "data_sources": [str(Path(d).resolve()) for d in sources], "history": history,
    }
    if tc.teacher:  # which teacher, down to its files (a replaced export has another hash)
        metrics["teacher"] = str(Path(tc.teacher).resolve())
        if teacher_sha:
            metrics["teacher_manifest_sha256"] = teacher_sha
    with staged(out, RUN, overwrite=overwrite) as tmp:
        save_model(tmp, model, cfg, labels, fc.shape)
        write_json(tmp / METRICS, metrics)
        _write_card(tmp, model, fc.shape, cfg)
    return TrainResult(out, metrics)


def _diverged(what: str, value: float, epoch: int, tc) -> ConfigError:
    return ConfigError(f"{what} loss became {value} in epoch {epoch} (train.lr={tc.lr}, "
                       f"optimizer {tc.optimizer}); lower the learning rate. No model was written")


def _waves(source: WaveSource | None) -> WaveSource:
    """The training waveforms, which augmented runs always have."""
    if source is None:
        raise AssertionError("waveforms are read for augmented runs only")
    return source


def _augmented_copies(source: WaveSource, aug: Augmenter, fc, copies: int, batch: int,
                      progress: bool, teacher=None) -> tuple[np.ndarray, np.ndarray | None]:
    """``copies`` waveform-augmented versions of every training clip's features,
    shape (copies, clips, *fc.shape), and a ``teacher``'s probabilities of the same augmented
    clips, (copies, clips, labels) (None without a teacher).

    A front end that reads context around the clip (``speech_embedding``) gets the clip with
    its context (``source`` holds windows: the recording's audio for cuts, zeros for lone
    clips) *before* augmentation, so noise and shifts reach the context as the neighbouring
    audio of a stream does; features are then taken of that whole window with no further
    padding (the same shape).
    """
    out = np.empty((copies, len(source), *fc.shape), dtype=np.float32)
    probs = None if teacher is None else np.empty((copies, len(source), len(teacher.labels)),
                                                  dtype=np.float32)
    pad, wide = in_context(fc)
    if source.context != pad:
        raise AssertionError("the waveforms hold the front end's context")
    with make_progress(transient=True) as bar:
        task = bar.add_task("augmented copies", total=copies * len(source), visible=progress)
        for c in range(copies):
            for s in range(0, len(source), batch * 4):
                idx = np.arange(s, min(s + batch * 4, len(source)))
                waves = aug.waves(source.get(idx))
                out[c, idx] = compute_features(waves, wide)
                if probs is not None:  # the clip itself, as the teacher's export reads it
                    probs[c, idx] = teacher_probs(teacher, waves[:, pad : pad + fc.clip_samples])
                bar.update(task, advance=len(idx))
    return out, probs


def _ema_with_warmup(decay: float) -> Callable:
    """EMA update whose decay ramps up as ``min(decay, (1 + n) / (10 + n))`` after n updates
    (TensorFlow's ``num_updates`` rule), so short runs are not dominated by the initial weights.
    """

    @torch.no_grad()
    def update(ema_params: list, params: list, n_averaged) -> None:
        n = float(n_averaged)
        d = min(decay, (1 + n) / (10 + n))
        if torch.is_floating_point(ema_params[0]):
            torch._foreach_lerp_(ema_params, params, 1 - d)
        else:  # integer buffers (BatchNorm's num_batches_tracked): keep the model's
            for p_ema, p in zip(ema_params, params, strict=True):
                p_ema.copy_(p)

    return update


def train_threads(requested: int) -> int:
    """Torch intra-op threads: ``requested``, or (0) every core but the one that the prefetch
    thread's feature extraction runs on. On a 2-core box one torch thread beside one feature
    thread beats two torch threads fighting the feature thread for the cores."""
    return requested or max(1, (os.cpu_count() or 1) - 1)


def _single_threaded_blas():
    """A context limiting NumPy's BLAS to one thread (the batch thread's small matmuls)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _epoch_order(y: np.ndarray, rng: np.random.Generator, balance: bool) -> np.ndarray:
    """A shuffled epoch; with ``balance`` every class is drawn equally often."""
    if not balance:
        return rng.permutation(len(y))
    freq = np.bincount(y)
    p = 1.0 / freq[y]
    return rng.choice(len(y), size=len(y), replace=True, p=p / p.sum())


def _step(model: torch.nn.Module, xb: torch.Tensor, yb: torch.Tensor,
          tb: torch.Tensor | None, tc, rng) -> tuple:
    """Logits and loss of one batch: cross-entropy with the labels (mixed with mixup), and
    with a teacher's targets ``tb`` the distillation loss, weighted by ``tc.distill``."""
    if tc.augment.mixup:
        lam = float(rng.beta(tc.augment.mixup, tc.augment.mixup))
        perm = torch.from_numpy(rng.permutation(len(yb)))
        logits = model(mixup(xb, lam, perm))
        loss = lam * F.cross_entropy(logits, yb, label_smoothing=tc.label_smoothing) + (
            1 - lam) * F.cross_entropy(logits, yb[perm], label_smoothing=tc.label_smoothing)
        if tb is not None:
            tb = mixup(tb, lam, perm)
    else:
        logits = model(xb)
        loss = F.cross_entropy(logits, yb, label_smoothing=tc.label_smoothing)
    if tb is not None:
        loss = (1 - tc.distill) * loss + tc.distill * distill_loss(
            logits, tb, tc.distill_temperature)
    return logits, loss


@torch.no_grad()
def evaluate_arrays(model: torch.nn.Module, x: np.ndarray, y: np.ndarray,
                    batch: int = 512) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` on features ``x`` with labels ``y``."""
    model.eval()
    logits = predict_logits(model, x, batch)
    yt = torch.from_numpy(y)
    return float(F.cross_entropy(logits, yt)), float((logits.argmax(1) == yt).float().mean())


@torch.no_grad()
def _prefetch(it: Iterator, depth: int = 2) -> Iterator:
    """Run a batch iterator in a background thread so feature extraction overlaps training."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()

    def work():
        try:
            for item in it:
                q.put(item)
        except BaseException as e:  # re-raised in the consumer
            q.put(e)
        q.put(done)

    threading.Thread(target=work, daemon=True).start()
    while (item := q.get()) is not done:
        if isinstance(item, BaseException):
            raise item
        yield item


def _write_card(out: Path, model: torch.nn.Module, shape: tuple[int, ...], cfg: RunConfig) -> None:
    from kwslab.models.card import model_card

    card = model_card(model, shape)
    card["size_bytes"] = (out / WEIGHTS).stat().st_size
    card["family"] = cfg.model.name
    card["features"] = to_dict(cfg.features)
    if cfg.features.kind == "speech_embedding":  # the frozen front end runs on every clip too
        from kwslab.features import embedding

        card["front_end"] = embedding.front_end_card(cfg.features.clip_samples,
                                                     cfg.features.context_samples)
        card["total_macs"] = card["macs"] + card["front_end"]["macs"]
    write_json(out / CARD, card)

"""Distillation: the student learns a teacher export's answers, from every version it sees."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kwslab.config import with_teacher
from kwslab.errors import ConfigError, ModelError
from kwslab.training import distill, train

probs_strategy = st.lists(st.floats(0.0, 1.0), min_size=2, max_size=6).filter(
    lambda v: sum(v) > 1e-3).map(lambda v: np.array(v) / sum(v))


@settings(max_examples=50, deadline=None)
@given(probs_strategy, st.floats(0.25, 8.0))
def test_soften_keeps_a_distribution_and_its_order(p, temperature):
    q = distill.soften(p[None], temperature)[0]
    assert np.isclose(q.sum(), 1.0, atol=1e-5) and np.all(q >= 0)
    order = np.argsort(-p, kind="stable")
    assert np.all(np.diff(q[order]) <= 1e-6)  # the teacher's ranking survives any temperature
    if temperature > 1:  # warmer: the top answer gives mass away, never gains it
        assert q.max() <= p.max() + 1e-6


def test_soften_at_temperature_one_is_the_teacher():
    p = np.array([[0.7, 0.2, 0.1]])
    np.testing.assert_allclose(distill.soften(p, 1.0), p, atol=1e-6)


def test_distill_loss_is_zero_only_when_the_student_agrees():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]])
    for t in (1.0, 3.0):
        agree = torch.softmax(logits / t, dim=1)
        assert float(distill.distill_loss(logits, agree, t)) == pytest.approx(0.0, abs=1e-6)
        other = agree.flip(1)
        assert float(distill.distill_loss(logits, other, t)) > 0.1


class _Rolled:
    """A teacher that answers the next word's probability for each word (mid for low...):
    trained with distill=1 the student must follow it, not the labels."""

    def __init__(self, teacher):
        self.inner, self.labels = teacher, teacher.labels
        self.calls: list[int] = []

    def probabilities(self, waves):
        self.calls.append(waves.shape[-1])
        return np.roll(self.inner.probabilities(waves), 1, axis=-1)


def test_the_student_follows_its_teacher_over_the_labels(tone_data, tone_config, tone_export,
                                                         tmp_path, monkeypatch):
    from kwslab.runtime import load_export
    from kwslab.training import loop

    rolled = _Rolled(load_export(tone_export))
    monkeypatch.setattr(loop, "load_teacher", lambda path, labels, threads=1: rolled)
    cfg = replace(tone_config, train=replace(tone_config.train, epochs=12, teacher="t",
                                             distill=1.0, distill_temperature=1.0))
    run = train(cfg, tone_data, tmp_path / "rolled", progress=False)
    assert rolled.calls and set(rolled.calls) == {16000}  # clean clips, as exported: 1 s
    assert run.metrics["val_accuracy"] <= 0.1  # the labels carried no weight
    ref = replace(cfg, train=replace(cfg.train, teacher=None, distill=0.0))
    assert train(ref, tone_data, tmp_path / "labels", progress=False).metrics[
        "val_accuracy"] >= 0.9  # the same run on the labels alone learns the tones

    from kwslab.evaluation import clip_predictions

    pred = clip_predictions(tmp_path / "rolled", tone_data, "validation")["clips"]
    words = ["low", "mid", "high"]
    follows = [p["predicted"] == words[(words.index(p["label"]) + 1) % 3] for p in pred]
    assert np.mean(follows) >= 0.9


class _Phased:
    """A teacher whose answer names the version of the clips it is shown: word 0 for the
    clean clips (scored first), word c + 1 for augmented copy c (scored in order after)."""

    labels = ["low", "mid", "high"]

    def __init__(self, n: int):
        self.n, self.seen, self.waves = n, 0, []

    def probabilities(self, waves):
        version = self.seen // self.n
        self.seen += len(waves)
        self.waves.append(np.array(waves))
        out = np.full((len(waves), 3), 0.01, np.float32)
        out[:, version] = 0.98
        return out


def test_each_version_of_a_clip_gets_the_teachers_answer_for_it(tone_data, tone_config,
                                                                tmp_path, monkeypatch):
    """With copies the teacher scores the clean clips and each augmented copy (the shifted,
    louder clip, not the clean one), and every batch pairs a version's features with the
    teacher's answer for that same version."""
    from kwslab.data import load_clips
    from kwslab.training import loop

    n = sum(c.split == "train" for c in load_clips(tone_data, tone_config.data))
    teacher = _Phased(n)
    versions, steps = [], []
    real_copies, real_cached, real_step = (loop._augmented_copies, loop.cached_features,
                                           loop._step)

    def copies(*a, **k):
        feats, probs = real_copies(*a, **k)
        versions.extend(feats)
        return feats, probs

    def cached(clips, *a, **k):
        out = real_cached(clips, *a, **k)
        if len(clips) == n:  # the training clips (validation is scored too)
            versions.insert(0, out[0])
        return out

    def step(model, xb, yb, tb, tc, rng):
        steps.append((xb.numpy().copy(), tb.numpy().copy()))
        return real_step(model, xb, yb, tb, tc, rng)

    monkeypatch.setattr(loop, "load_teacher", lambda path, labels, threads=1: teacher)
    monkeypatch.setattr(loop, "_augmented_copies", copies)
    monkeypatch.setattr(loop, "cached_features", cached)
    monkeypatch.setattr(loop, "_step", step)
    aug = replace(tone_config.train.augment, copies=2, time_shift_ms=100, gain_db=(-6.0, 6.0))
    cfg = replace(tone_config, train=replace(tone_config.train, epochs=2, teacher="t",
                                             distill=0.5, augment=aug))
    metrics = train(cfg, tone_data, tmp_path / "copies", progress=False).metrics
    assert metrics["n_train"] == n and teacher.seen == 3 * n  # clean + 2 copies, once each
    assert {w.shape[1] for w in teacher.waves} == {16000}
    clean, copy0 = teacher.waves[0], np.concatenate(teacher.waves[1:])[:n]
    assert not np.allclose(clean, copy0)  # a copy is scored as augmented, not as the clean clip
    assert len(versions) == 3
    drawn = set()
    for xb, tb in steps:
        for x, t in zip(xb, tb, strict=True):
            v = [k for k, feats in enumerate(versions) if np.any(np.all(feats == x, axis=(1, 2)))]
            assert len(v) == 1 and int(t.argmax()) == v[0]  # that version's answer
            drawn.add(v[0])
    assert drawn == {0, 1, 2}
    assert metrics["teacher"] == str(Path("t").resolve())


def test_mixup_mixes_the_teachers_answers_like_the_labels():
    from kwslab.config import AugmentConfig, TrainConfig
    from kwslab.data.augment import mixup
    from kwslab.training import loop

    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    xb, yb = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    tb = torch.softmax(torch.randn(6, 3), dim=1)
    tc = TrainConfig(distill=1.0, distill_temperature=2.0, augment=AugmentConfig(mixup=0.4))
    logits, loss = loop._step(model, xb, yb, tb, tc, np.random.default_rng(3))
    rng = np.random.default_rng(3)  # the same draws: lambda, then the permutation
    lam = float(rng.beta(0.4, 0.4))
    perm = torch.from_numpy(rng.permutation(6))
    expected = distill.distill_loss(logits, mixup(tb, lam, perm), 2.0)
    assert float(loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-6)


def test_a_teacher_with_other_words_is_refused_before_work(tone_data, tone_config,
                                                           tone_export, tmp_path):
    cfg = with_teacher(replace(tone_config, data=replace(tone_config.data,
                                                        words=("low", "high"))), tone_export)
    with pytest.raises(ConfigError, match="answers low, mid, high; the student learns low, high"):
        train(cfg, tone_data, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    missing = with_teacher(tone_config, tmp_path / "no")
    with pytest.raises(ModelError):
        train(missing, tone_data, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_a_weight_needs_a_teacher_and_a_teacher_a_weight(tone_data, tone_config, tone_export,
                                                         tmp_path):
    """Whatever sets them (a preset, a TOML file, code), before any work."""
    from kwslab.config import DISTILL, PRESETS

    assert with_teacher(tone_config, tone_export).train.distill == DISTILL
    assert with_teacher(PRESETS["tcresnet-distill"], "t").train.distill == DISTILL
    weighted = replace(tone_config, train=replace(tone_config.train, distill=0.5))
    with pytest.raises(ConfigError, match="train.distill=0.5 learns from a teacher: add --teacher"):
        train(weighted, tone_data, tmp_path / "run", progress=False)
    alone = replace(tone_config, train=replace(tone_config.train, teacher=str(tone_export)))
    with pytest.raises(ConfigError, match="has no weight: set train.distill"):
        train(alone, tone_data, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_teacher_weights_are_checked(tone_config):
    from kwslab.config import validate

    for field, value in (("distill", 1.5), ("distill", -0.1), ("distill_temperature", 0.0)):
        with pytest.raises(ConfigError, match=f"train.{field} must be"):
            validate(replace(tone_config, train=replace(tone_config.train, **{field: value})))


def test_the_teacher_is_saved_with_the_run(tone_data, tone_config, tone_export, tmp_path):
    cfg = with_teacher(replace(tone_config, train=replace(tone_config.train, epochs=2)),
                       tone_export)
    run = train(cfg, tone_data, tmp_path / "run", progress=False)
    saved = json.loads((run.run_dir / "config.json").read_text())
    assert saved["config"]["train"]["teacher"] == str(tone_export)
    assert run.metrics["teacher"] == str(tone_export.resolve())
    from kwslab.artifacts import MANIFEST, sha256

    assert run.metrics["teacher_manifest_sha256"] == sha256(tone_export / MANIFEST)
    # Retraining from the run's config.json finds the same teacher; another one is refused.
    from kwslab.config import load_config

    again = load_config(run.run_dir / "config.json")
    assert again.train.teacher_sha256 == sha256(tone_export / MANIFEST)
    assert train(again, tone_data, tmp_path / "again", progress=False).metrics["teacher"]
    other = replace(again, train=replace(again.train, teacher_sha256="0" * 64))
    with pytest.raises(ConfigError, match="not the one this config was trained with"):
        train(other, tone_data, tmp_path / "other", progress=False)
    assert not (tmp_path / "other").exists()
    assert with_teacher(other, tone_export).train.teacher_sha256 is None  # a teacher named anew

"""The training loop: learns, is reproducible, stops early, writes a complete run folder."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from safetensors.torch import load_file

from kwslab import artifacts as A
from kwslab.config import OPTIMIZERS, SCHEDULES, TrainConfig
from kwslab.errors import ConfigError, DataError, ModelError
from kwslab.models.io import load_model
from kwslab.training import train
from kwslab.training.optim import lr_factor


def test_run_folder_is_complete_and_never_pickled(tone_run):
    names = {p.name for p in tone_run.iterdir()}
    assert {"model.safetensors", "config.json", "metrics.json"} <= names
    files = A.verify(tone_run, A.RUN).files  # the manifest lists exactly what training wrote
    assert sorted(files) == sorted([A.CARD, A.CONFIG, A.METRICS, A.WEIGHTS])
    meta = json.loads((tone_run / "config.json").read_text())
    assert meta["labels"] == ["low", "mid", "high"] and meta["input_shape"] == [40, 101]
    assert {"kwslab", "torch", "numpy"} <= set(meta["versions"])
    assert "net.1.weight" in load_file(str(tone_run / "model.safetensors"))
    metrics = json.loads((tone_run / "metrics.json").read_text())
    hist = metrics["history"]
    assert len(hist) == metrics["epochs_run"] and hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert metrics["val_accuracy"] >= 0.9  # three clearly different tones
    assert metrics["val_accuracy"] == max(h["val_accuracy"] for h in hist)
    model, cfg, _ = load_model(tone_run)
    assert cfg.model.neurons == 64 and not model.training


def test_same_seed_same_metrics(tone_data, tone_config, tmp_path):
    cfg = replace(tone_config, train=replace(tone_config.train, epochs=3))
    a = train(cfg, tone_data, tmp_path / "a", progress=False).metrics
    b = train(cfg, tone_data, tmp_path / "b", progress=False).metrics
    assert [h["val_loss"] for h in a["history"]] == [h["val_loss"] for h in b["history"]]
    c = train(replace(cfg, train=replace(cfg.train, seed=1)), tone_data, tmp_path / "c",
              progress=False).metrics
    assert [h["train_loss"] for h in a["history"]] != [h["train_loss"] for h in c["history"]]


def test_early_stopping_and_report_callback(tone_data, tone_config, tmp_path):
    cfg = replace(tone_config, train=replace(tone_config.train, epochs=40, patience=2))
    seen = []
    m = train(cfg, tone_data, tmp_path / "r", progress=False,
              report=lambda e, row: seen.append((e, row["val_accuracy"]))).metrics
    assert m["epochs_run"] < 40 and m["epochs_run"] == m["best_epoch"] + 2
    assert [e for e, _ in seen] == list(range(1, m["epochs_run"] + 1))


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_trains(tone_data, tone_config, tmp_path, optimizer):
    cfg = replace(tone_config, train=replace(tone_config.train, epochs=2, optimizer=optimizer,
                                             lr=0.01 if optimizer == "sgd" else 3e-3))
    m = train(cfg, tone_data, tmp_path / optimizer, progress=False).metrics
    assert np.isfinite(m["val_loss"])


def test_lr_schedules():
    base = TrainConfig(epochs=10, decay=0.5, step_size=3)
    f = {s: [lr_factor(replace(base, schedule=s), e) for e in (0, 3, 10)] for s in SCHEDULES}
    assert f["constant"] == [1, 1, 1]
    assert f["time"] == pytest.approx([1, 1 / 2.5, 1 / 6])
    assert f["step"] == pytest.approx([1, 0.5, 0.5**3])
    assert f["exponential"] == pytest.approx([1, 0.125, 0.5**10])
    assert f["cosine"][0] == 1 and f["cosine"][2] == pytest.approx(0)


def test_augmented_training_runs_and_bad_files_are_skipped(tone_data, tone_config, tmp_path):
    import shutil

    root = tmp_path / "data"
    shutil.copytree(tone_data, root)
    (root / "low" / "0000000a_nohash_0.wav").write_bytes(b"RIFF broken")
    aug = replace(tone_config.train.augment, time_shift_ms=100, noise_prob=0.5, freq_masks=1,
                  freq_mask_width=4, time_masks=1, time_mask_width=8, mixup=0.2)
    cfg = replace(tone_config, train=replace(tone_config.train, epochs=3, augment=aug))
    notes = []
    m = train(cfg, root, tmp_path / "aug", progress=False, log=notes.append).metrics
    assert m["skipped"] == [str((root / "low" / "0000000a_nohash_0.wav").resolve())]
    assert any("0000000a_nohash_0.wav" in n for n in notes)


def test_unreadable_negative_files_are_named_once(tone_data, tone_config, tmp_path):
    """A negatives folder's broken files are named and training goes on: one refused by its
    header, and one cut short part-way (each of its many cuts fails the same way)."""
    import dataclasses

    import soundfile as sf

    neg = tmp_path / "neg"
    neg.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        sf.write(neg / f"{i:02d}.wav", rng.normal(0, 0.05, 16000 * 20), 16000)
    cut_short = neg / "04.flac"  # the fifth readable file: the training quarter
    sf.write(cut_short, rng.normal(0, 0.05, 16000 * 200), 16000)
    cut_short.write_bytes(cut_short.read_bytes()[:20000])
    (neg / "05.wav").write_text("not audio")
    data = dataclasses.replace(tone_config.data, negatives=str(neg))
    cfg = replace(tone_config, data=data, train=replace(tone_config.train, epochs=2))
    notes: list[str] = []
    m = train(cfg, tone_data, tmp_path / "r", progress=False, log=notes.append).metrics
    named = [n for n in notes if "05.wav" in n]
    assert len(named) == 1
    assert named[0].startswith(f"skipped unreadable negative file {neg / '05.wav'}: ")
    short = [n for n in notes if "04.flac" in n]
    assert len(short) == 1 and "cuts of it)" in short[0]
    assert m["skipped"] == [str(cut_short.resolve())]


def test_no_validation_clips_is_a_clear_error(tone_data, tone_config, tmp_path):
    import shutil

    root = tmp_path / "data"
    shutil.copytree(tone_data, root)
    (root / "validation_list.txt").write_text("")
    with pytest.raises(DataError, match="no validation clips"):
        train(tone_config, root, tmp_path / "x", progress=False)


def test_several_sources_train_together(tone_data, tone_config, tmp_path):
    """Synthetic + real style mixing: clips of both folders train, each keeping its splits."""
    import shutil

    from kwslab.data import load_clips

    other = tmp_path / "other"
    shutil.copytree(tone_data, other)
    one = load_clips(tone_data, tone_config.data)
    both = load_clips([tone_data, other], tone_config.data)
    assert len(both) == 2 * len(one)
    cfg = replace(tone_config, train=replace(tone_config.train, epochs=2))
    m = train(cfg, [tone_data, other], tmp_path / "mix", progress=False).metrics
    assert m["n_train"] == 2 * sum(c.split == "train" for c in one)
    assert m["data_sources"] == [str(tone_data.resolve()), str(other.resolve())]


def test_augmented_copies_are_made_once_and_differ(tone_data, tone_config, monkeypatch,
                                                   tmp_path):
    """With ``copies``, waveform augmentation runs once per copy (not per epoch), and every
    copy of a clip is a different augmented version."""
    from kwslab.data import load_clips
    from kwslab.data.augment import Augmenter
    from kwslab.data.dataset import WaveSource
    from kwslab.features import compute_features
    from kwslab.training import loop

    aug_cfg = replace(tone_config.train.augment, time_shift_ms=100, gain_db=(-6.0, 6.0),
                      copies=3)
    clips = [c for c in load_clips(tone_data, tone_config.data) if c.split == "train"]
    source = WaveSource(clips, 16000, progress=False)
    aug = Augmenter(aug_cfg, [], np.random.default_rng(0))
    copies, _ = loop._augmented_copies(source, aug, tone_config.features, 3, 16, False)
    clean = compute_features(source.get(np.arange(len(source))), tone_config.features)
    assert copies.shape == (3, len(source), *tone_config.features.shape)
    assert not np.allclose(copies[0], clean) and not np.allclose(copies[0], copies[1])

    calls = []
    real = Augmenter.waves
    monkeypatch.setattr(Augmenter, "waves", lambda self, x: calls.append(len(x)) or real(self, x))
    cfg = replace(tone_config, train=replace(tone_config.train, epochs=4, augment=aug_cfg))
    train(cfg, tone_data, tmp_path / "copies", progress=False)
    assert sum(calls) == 3 * len(source)  # 3 copies, whatever the number of epochs


def test_copies_for_a_context_front_end_augment_the_context_too(tone_data, tone_config,
                                                                tmp_path):
    """speech_embedding reads 250 ms around the clip: its augmented copies are made on the
    whole window, so noise reaches the context as a stream's neighbouring audio does; a lone
    clip's context is silence, a cut of a long recording's is that recording's audio."""
    from kwslab.audio import load_audio, write_wav
    from kwslab.config import DEFAULT
    from kwslab.data import load_clips
    from kwslab.data.augment import Augmenter
    from kwslab.data.dataset import WaveSource
    from kwslab.data.manifest import Clip
    from kwslab.features import compute_features, embedding
    from kwslab.training import loop

    embedding.fetch(progress=False)
    fc = DEFAULT.features
    pad = fc.context_samples
    write_wav(tmp_path / "long.wav", np.random.default_rng(3).normal(0, 0.1, 80000))
    long = load_audio(tmp_path / "long.wav")  # 16-bit, as the file holds it
    cut = Clip(str(tmp_path / "long.wav"), "_unknown_", "neg-long", "train", 30000, 16000)
    clips = [c for c in load_clips(tone_data, tone_config.data) if c.split == "train"][:5]
    source = WaveSource([*clips, cut], 16000, progress=False, context=pad)
    seen = []

    class Recording(Augmenter):
        def waves(self, x):
            seen.append(x.shape[1])
            return x + 0.01  # a constant "noise" over the whole window, context included

    copies, _ = loop._augmented_copies(source, Recording(DEFAULT.train.augment, [], None), fc,
                                       1, 16, False)
    assert seen == [16000 + 2 * pad]
    lone = np.pad(WaveSource(clips, 16000).get(np.arange(5)), ((0, 0), (pad, pad)))
    window = long[30000 - pad : 46000 + pad][None]
    whole = compute_features(np.concatenate([lone, window]) + 0.01,
                             replace(fc, clip_samples=16000 + 2 * pad, context_ms=0.0))
    np.testing.assert_allclose(copies[0], whole, atol=1e-5)
    assert copies.shape[2:] == fc.shape
    with pytest.raises(AssertionError, match="context"):  # windows without it: a caller's bug
        loop._augmented_copies(WaveSource(clips, 16000), Recording(DEFAULT.train.augment, [],
                                                                   None), fc, 1, 16, False)


def test_training_clips_get_their_recordings_context_and_validation_does_not(
        tone_data, tone_config, monkeypatch, tmp_path):
    """train() reads training clips' features with the recording around cuts (as a stream
    window holds it) and validation clips as lone clips (as predict sees them)."""
    from kwslab.training import loop

    calls = []
    real = loop.cached_features

    def spy(clips, cfg, **kw):
        calls.append(({c.split for c in clips}, kw.get("neighbours", False)))
        return real(clips, cfg, **kw)

    monkeypatch.setattr(loop, "cached_features", spy)
    plain = replace(tone_config, train=replace(tone_config.train, epochs=1,
                                               augment=replace(tone_config.train.augment,
                                                               noise_prob=0.0, time_shift_ms=0)))
    train(plain, tone_data, tmp_path / "run", progress=False)
    assert ({"train"}, True) in calls and ({"validation"}, False) in calls
    assert all(n == (splits == {"train"}) for splits, n in calls)


def test_finished_run_is_replaced_only_with_overwrite(tone_run, tone_data, tone_config,
                                                      tmp_path):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(tone_run, out)
    (out / A.EVAL_TEST).write_text('{"accuracy": 0.1}')  # the old run's annexes
    (out / A.REPORT).write_text("<html>old</html>")
    before = sorted(p.name for p in out.iterdir())
    cfg = replace(tone_config, train=replace(tone_config.train, epochs=1))
    with pytest.raises(ModelError, match="already holds a finished run; pass --overwrite"):
        train(cfg, tone_data, out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == before
    m = train(cfg, tone_data, out, progress=False, overwrite=True).metrics
    assert m["epochs_run"] == 1
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [A.CARD, A.CONFIG, A.METRICS, A.WEIGHTS, A.MANIFEST])  # nothing of the old run
    assert json.loads((out / A.METRICS).read_text())["epochs_run"] == 1
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    with pytest.raises(ModelError, match="holds other files"):
        train(cfg, tone_data, tmp_path / "notes", progress=False, overwrite=True)
    assert (tmp_path / "notes" / "todo.txt").read_text() == "mine"


def test_non_finite_loss_stops_training_and_writes_nothing(tone_data, tone_config, tmp_path):
    cfg = replace(tone_config, train=replace(tone_config.train, epochs=3, optimizer="sgd",
                                             lr=1e30))
    with pytest.raises(ConfigError, match=r"loss became (nan|inf) in epoch 1 \(train.lr=1e\+30"
                                          r", optimizer sgd\); lower the learning rate") as e:
        train(cfg, tone_data, tmp_path / "nan", progress=False)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "nan").exists() and list(tmp_path.iterdir()) == []

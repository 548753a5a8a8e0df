"""Configs: presets, TOML overrides, validation with clear messages, JSON round trip."""

from __future__ import annotations

import json

import pytest

from kwslab.config import (
    DEFAULT,
    SEED,
    TCRESNET,
    RunConfig,
    load_config,
    run_config_from_dict,
    to_dict,
)
from kwslab.errors import ConfigError


def test_seed_preset_is_the_student_recipe():
    assert SEED.model.name == "mlp" and SEED.model.hidden_layers == 1
    assert SEED.model.neurons == 1024 and SEED.model.activation == "relu"
    assert SEED.model.init == "he_uniform" and SEED.model.dropout == 0.1
    assert SEED.train.optimizer == "adam" and SEED.features.shape == (1024,)
    assert SEED.features.n_mels == 128 and SEED.features.n_frames == 32


def test_default_is_a_head_on_speech_embeddings_and_tcresnet_a_cnn_on_40_log_mels():
    assert DEFAULT.model.name == "embedconv" and DEFAULT.features.kind == "speech_embedding"
    assert DEFAULT.features.shape == (96, 9)  # 1 s + 2 x 250 ms context, one every 80 ms
    assert load_config(None) is DEFAULT and load_config("tcresnet") is TCRESNET
    assert TCRESNET.model.name == "tcresnet" and TCRESNET.features.shape == (40, 101)


def test_an_empty_list_switches_an_optional_range_off(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[train.augment]\nspeed = []\ngain_db = [-6, 6]\n")
    aug = load_config(path).train.augment
    assert aug.speed is None and aug.gain_db == (-6.0, 6.0)


def test_toml_overrides_a_preset(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('base = "seed"\n[model]\nneurons = 256\n[train]\nlr = 0.01\n'
                    '[train.augment]\ntime_shift_ms = 50\n')
    cfg = load_config(path)
    assert cfg.model.neurons == 256 and cfg.train.lr == 0.01
    assert cfg.train.augment.time_shift_ms == 50.0 and cfg.features == SEED.features


@pytest.mark.parametrize("text,message", [
    ("[model]\nlayers = 3\n", "unknown key 'layers'"),
    ("[model]\nneurons = 'many'\n", "model.neurons: expected an integer"),
    ("[model]\nactivation = 'swish'\n", "model.activation='swish' is not one of relu"),
    ("[train]\nlr = -1\n", "train.lr must be positive"),
    ('base = "huge"\n', "base 'huge' is not one of student, default"),
    ("[model\n", "c.toml"),
    ("[train.augment]\nsnr_db = [20, 0]\n", "snr_db must be [low, high] with low <= high"),
    ("[train.augment]\nfreq_warp = [0, 1.1]\n", "freq_warp factors must be positive"),
])
def test_bad_files_are_rejected(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_config(path)


def test_unknown_preset_or_missing_file():
    with pytest.raises(ConfigError, match="neither a preset"):
        load_config("nothere.toml")


def test_json_round_trip():
    for cfg in (SEED, DEFAULT, TCRESNET, RunConfig()):
        assert run_config_from_dict(json.loads(json.dumps(to_dict(cfg)))) == cfg


@pytest.mark.parametrize("text,message", [
    ('[data]\nwords = ["go"]\n', r"data.words gives 1 class \('go'\); a classifier needs"),
    ('[data]\nwords = ["go", "go", "stop"]\n', "data.words names 'go' twice"),
    ("[data]\nwords = [1, 2]\n", "data.words must be non-empty strings .* got 1"),
    ('[data]\nwords = ["go", ""]\n', "data.words must be non-empty strings"),
    ("[data]\nmax_per_word = -3\n", r"data.max_per_word must be an integer >= 1 \(or unset\), "
                                    "got -3"),
    ("[data]\nmax_per_word = 0\n", "data.max_per_word must be an integer >= 1"),
    ("[data]\noff_centre_per_word = -1.0\n", r"data.off_centre_per_word must be >= 0 \(0 = none\), "
                                            "got -1.0"),
    ("[data]\noff_centre_per_word = nan\n", "data.off_centre_per_word must be a finite number"),
    ("[data]\nnegatives_per_word = -2.0\n", "data.negatives_per_word must be >= 0, got -2.0"),
    ("[features]\ncontext_ms = 600.0\n", r"features.context_ms must be in \[0, 500\], "
                                       "got 600.0"),
    ("[train]\nlr = inf\n", "train.lr must be a finite number, got inf"),
    ("[train]\nlr = nan\n", "train.lr must be a finite number, got nan"),
    ("[train]\nlr = 0\n", r"train.lr must be positive \(> 0\), got 0.0"),
    ("[train]\nweight_decay = -0.1\n", "train.weight_decay must be >= 0, got -0.1"),
    ("[train]\nthreads = -2\n", r"train.threads must be >= 0 \(0 = all cores but one\), got -2"),
    ("[train]\nstep_size = 0\n", "train.step_size must be an integer >= 1, got 0"),
    ("[train]\nseed = 99999999999\n", r"train.seed must be in \[0, 4294967295\], got 99999999999"),
    ("[train]\nseed = -1\n", r"train.seed must be in \[0, 4294967295\]"),
    ("[train.augment]\nmixup = -0.5\n", r"train.augment.mixup must be >= 0 \(0 = off\)"),
    ("[train.augment]\nsnr_db = [0, inf]\n", "train.augment.snr_db must hold finite numbers"),
    ("[train.augment]\nsnr_db = ['a', 'b']\n", r"snr_db must be \[low, high\]"),
    ("[features]\nclip_samples = 0\n", r"features.clip_samples must be positive \(> 0\), got 0"),
    ("[features]\nsample_rate = 0\n", r"features.sample_rate must be positive \(> 0\), got 0"),
    ("[features]\nresize = [0, 0]\n", r"features.resize must be two positive integers "
                                      r"\[mels, frames\], got \[0, 0\]"),
    ("[features]\nresize = ['a', 'b', 'c']\n", "features.resize must be two positive integers"),
    ("[features]\nresize = [32]\n", "features.resize must be two positive integers"),
    ("[features]\nfmax = 10.0\nfmin = 20.0\n", "features.fmax must be above features.fmin"),
])
def test_nonsense_values_name_the_field_and_its_range(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as e:
        load_config(path)
    assert "\n" not in str(e.value)


def test_one_word_with_unknown_or_silence_is_two_classes(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[data]\nwords = ["go"]\nunknown = true\n')
    assert load_config(path).data.labels == ("go", "_unknown_")


@pytest.mark.parametrize("text", ["[1, 2, 3]", '"a string"', "42", '{"config": [1]}'])
def test_a_json_config_that_is_not_an_object(tmp_path, text):
    path = tmp_path / "c.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match="c.json: expected a JSON object of config tables"):
        load_config(path)


def test_every_preset_is_valid():
    from kwslab.config import PRESETS, validate

    for cfg in PRESETS.values():
        assert validate(cfg) is cfg


@pytest.mark.parametrize("args,message", [
    (["--words", "low"], "data.words gives 1 class ('low')"),
    (["--words", "low,low,mid"], "data.words names 'low' twice"),
    (["--seed", "99999999999999999999"], "train.seed must be in [0, 4294967295]"),
    (["--config", "{lr_inf}"], "train.lr must be a finite number, got inf"),
])
def test_train_refuses_nonsense_in_one_line_before_any_work(tone_data, tmp_path, args, message):
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "lr.toml").write_text("[train]\nlr = inf\n")
    args = [a.replace("{lr_inf}", str(tmp_path / "lr.toml")) for a in args]
    kwslab = Path(sys.executable).with_name("kwslab")
    out = tmp_path / "run"
    p = subprocess.run([str(kwslab), "train", "--data", str(tone_data), "--out", str(out),
                        *args], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode != 0
    assert p.stderr.strip().count("\n") == 0 and message in p.stderr, p.stderr
    assert "Traceback" not in p.stderr and not out.exists()


def test_stream_presets_differ_from_their_bases_only_in_unknown_and_label_smoothing():
    from dataclasses import replace

    from kwslab.config import DEFAULT, STREAM, TCRESNET, TCRESNET_STREAM, load_config

    for base, stream in ((DEFAULT, STREAM), (TCRESNET, TCRESNET_STREAM)):
        assert stream.data.unknown and not base.data.unknown
        assert stream.data.labels[-1] == "_unknown_"
        assert stream.train.label_smoothing == 0.0 < base.train.label_smoothing
        assert replace(stream, data=base.data, train=base.train) == base
    assert load_config("stream") == STREAM
    assert load_config("tcresnet-stream") == TCRESNET_STREAM

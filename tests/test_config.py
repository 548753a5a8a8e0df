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
    ('base = "huge"\n', "base 'huge' is not one of seed, default"),
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

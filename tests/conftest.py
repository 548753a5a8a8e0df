"""Shared fixtures: a tiny tone dataset in the Speech Commands layout and a model trained on it.

Unit tests use these synthetic clips (made here, in tmp folders); tests that need real speech
read ``../shared/data/speech_commands_mini`` in place.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from tones import TONE_CONFIG, TONE_HZ, TONE_WORDS, make_tone_dataset, tone_clip  # noqa: F401

from kwslab.config import RunConfig

MINI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "speech_commands_mini"


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Keep feature caches and progress bars out of the user's environment."""
    os.environ["KWSLAB_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    os.environ["KWSLAB_PROGRESS"] = "0"


@pytest.fixture(scope="session")
def mini_data() -> Path:
    """The real mini Speech Commands folder beside the repository."""
    assert MINI.is_dir(), f"{MINI} is missing: the shared data must sit beside the repo"
    return MINI


@pytest.fixture(scope="session")
def tone_data(tmp_path_factory) -> Path:
    """A 3-word tone dataset (low/mid/high), 10 speakers x 3 clips per word."""
    return make_tone_dataset(tmp_path_factory.mktemp("tones"))


@pytest.fixture(scope="session")
def tone_run(tone_data, tmp_path_factory) -> Path:
    """A small MLP trained on the tone dataset (a valid run folder for downstream tests)."""
    from kwslab.training import train

    out = tmp_path_factory.mktemp("runs") / "tone"
    train(TONE_CONFIG, tone_data, out, progress=False)
    return out


@pytest.fixture(scope="session")
def second_run(tone_data, tmp_path_factory) -> Path:
    """The tone words on another front end (the seed's log-Mel vector) and seed: with
    ``tone_run``, two members whose features differ (ensembles)."""
    from kwslab.config import SEED
    from kwslab.training import train

    cfg = replace(TONE_CONFIG, features=SEED.features,
                  train=replace(TONE_CONFIG.train, seed=1))
    out = tmp_path_factory.mktemp("second") / "run"
    train(cfg, tone_data, out, progress=False)
    return out


@pytest.fixture(scope="session")
def tone_export(tone_run) -> Path:
    """``tone_run`` exported to ONNX with a (dynamic) int8 copy, beside the run folder."""
    from kwslab.export import export_onnx

    out = tone_run.parent / "tone_export"
    if not (out / "config.json").is_file():
        export_onnx(tone_run, out, int8=True)
    return out


@pytest.fixture
def tone_config() -> RunConfig:
    """The tone run's config (change it with dataclasses.replace)."""
    return replace(TONE_CONFIG)

"""Fixtures of the service tests: a real `kwslab serve` process, and a model with _silence_."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from serve_audio import NOISE
from serve_process import serving

from kwslab.config import TCRESNET, AugmentConfig, DataConfig, ModelConfig, RunConfig, TrainConfig

WAKE_CONFIG = RunConfig(
    data=DataConfig(words=("low", "high"), unknown=True, silence=True),
    features=TCRESNET.features,
    model=ModelConfig(name="mlp", hidden_layers=1, neurons=64, dropout=0.0),
    train=TrainConfig(epochs=8, batch_size=16, optimizer="adam", lr=3e-3, weight_decay=0.0,
                      schedule="constant", label_smoothing=0.0, augment=AugmentConfig(), seed=0),
)


@pytest.fixture(scope="session")
def server(tone_export, tmp_path_factory):
    """`kwslab serve` in a subprocess on a free loopback port (upload limit 256 KiB)."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    with serving(tone_export, log, "--max-upload-mb", "0.25") as (url, proc):
        yield Server(url, proc, log)


class Server:
    """A running server: its base URL, process and log file."""

    def __init__(self, url: str, proc, log: Path):
        self.url, self.proc, self.log = url, proc, log


@pytest.fixture(scope="session")
def wake_export(tone_data, tmp_path_factory) -> Path:
    """An export of words low/high with _silence_ (quiet noise) and _unknown_ (mid): a
    stream with a low or high tone in it "says a word" (trained in a few seconds)."""
    from kwslab.audio import write_wav
    from kwslab.export import export_onnx
    from kwslab.training import train

    root = tmp_path_factory.mktemp("wake")
    data = Path(shutil.copytree(tone_data, root / "data"))
    noise = data / "_background_noise_"
    shutil.rmtree(noise)  # the stream's quiet floor, not the tone set's loud noise, is silence
    rng = np.random.default_rng(1)
    for i, level in enumerate([1e-4, 0.001, NOISE, 0.01, 0.03]):
        write_wav(noise / f"noise_{i}.wav", rng.normal(0, level, 16000 * 6).astype(np.float32))
    train(WAKE_CONFIG, data, root / "run", progress=False)
    export_onnx(root / "run", root / "export")
    return root / "export"

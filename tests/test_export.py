"""kwslab.export: one self-contained ONNX file that agrees with torch, and int8 accuracy."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from kwslab.artifacts import EXPORT_METRICS as METRICS
from kwslab.artifacts import FP32, INT8, MANIFEST, verify
from kwslab.cli import main
from kwslab.export import export_onnx, score_export
from kwslab.models.io import load_model
from kwslab.runtime import Recognizer


@pytest.fixture(scope="module")
def exported(tone_run, tone_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    result = export_onnx(tone_run, out, int8=True, data=tone_data)
    return out, result


def test_export_folder_is_self_contained(exported):
    out, result = exported
    assert sorted(p.name for p in out.iterdir()) == ["config.json", METRICS, MANIFEST, INT8,
                                                     FP32]
    assert sorted(verify(out, "export").files) == ["config.json", METRICS, INT8, FP32]
    proto = onnx.load(str(out / FP32), load_external_data=False)
    onnx.checker.check_model(proto)
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)
    assert [i.name for i in proto.graph.input] == ["features"]
    assert [o.name for o in proto.graph.output] == ["probabilities"]
    meta = json.loads((out / "config.json").read_text())
    assert meta["labels"] == ["low", "mid", "high"]
    assert meta["sample_rate"] == 16000 and meta["opset"] == 17
    assert meta["files"] == {"fp32": FP32, "int8": INT8} and meta["int8_mode"] == "static"
    assert meta["model_card"]["params"] > 0
    assert result["parity_max_abs_diff"] < 1e-4


def test_onnx_matches_torch(exported, tone_run):
    out, _ = exported
    model, cfg, _ = load_model(tone_run)
    x = np.random.default_rng(1).normal(-5, 3, (5, *cfg.features.shape)).astype(np.float32)
    with torch.no_grad():
        want = torch.softmax(model(torch.from_numpy(x)), 1).numpy()
    got = Recognizer.load(out).run(x)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_int8_accuracy_is_measured(exported, tone_data):
    out, result = exported
    metrics = json.loads((out / METRICS).read_text())
    assert metrics == result["metrics"]
    assert metrics["n"] == 9 and metrics["split"] == "test"
    assert metrics["fp32"]["accuracy"] == metrics["torch_accuracy"]
    assert metrics["int8_points_lost"] <= 100 / 9 + 1e-9  # at most one of the 9 test clips
    assert metrics["fp32_int8_agreement"] >= 8 / 9
    assert metrics["int8"]["size_bytes"] < metrics["fp32"]["size_bytes"] / 3
    assert Recognizer.load(out, int8=True).labels == ["low", "mid", "high"]
    every = score_export(out, tone_data, "all")  # all 90 clips: int8 keeps fp32's answers
    assert every["n"] == 90 and every["fp32_int8_agreement"] >= 0.95
    assert abs(every["int8_points_lost"]) <= 5


def test_cli_export_and_errors(tone_run, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["export", str(tone_run), "--format", "onnx", "--out", str(tmp_path / "e")])
    assert e.value.code in (0, None)
    assert (tmp_path / "e" / FP32).is_file() and not (tmp_path / "e" / INT8).exists()
    with pytest.raises(SystemExit) as e:
        main(["export", str(tmp_path / "nope"), "--format", "onnx"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1
    with pytest.raises(SystemExit) as e:
        main(["export", str(tone_run), "--format", "tflite"])
    assert e.value.code == 2
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:  # tmp_path holds "e": never replaced by an export
        main(["export", str(tone_run), "--out", str(tmp_path)])
    assert e.value.code == 2 and "holds other files" in capsys.readouterr().err
    assert (tmp_path / "e" / FP32).is_file()

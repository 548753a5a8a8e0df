"""lr-find and compare on the tone data."""

from __future__ import annotations

import json

import pytest

from kwslab.errors import ConfigError
from kwslab.search.compare import compare
from kwslab.search.lrfind import lr_find
from kwslab.search.study import Budget


def test_lr_find_suggests_a_rate_in_range_and_plots(tone_data, tone_config, tmp_path):
    res = lr_find(tone_config, tone_data, tmp_path, optimizers=["adam", "sgd"], min_steps=40,
                  lr_min=1e-5, lr_max=10.0)
    assert set(res["suggested_lr"]) == {"adam", "sgd"}
    for name, r in res["optimizers"].items():
        assert 1e-5 <= r["suggested_lr"] <= 10.0, name
        assert r["lr"] == sorted(r["lr"]) and len(r["lr"]) == len(r["smoothed"]) > 10
    # adam at 10 explodes: the test stops before the last step
    assert len(res["optimizers"]["adam"]["lr"]) < 40
    assert (tmp_path / "lr_find.png").stat().st_size > 10_000
    assert json.loads((tmp_path / "lr_find.json").read_text())["suggested_lr"]


@pytest.mark.parametrize("names", [["adam", "adam"], [""], ["adam", ""]])
def test_lr_find_wants_distinct_optimizer_names(tone_data, tone_config, tmp_path, names):
    with pytest.raises(ConfigError, match="give distinct optimizer names"):
        lr_find(tone_config, tone_data, tmp_path / "lr", optimizers=names)
    assert not (tmp_path / "lr").exists()


def test_compare_writes_the_table(tone_data, tone_space, tmp_path):
    rows = compare(tone_data, tmp_path, methods=["random", "hyperband"],
                   budget=Budget(epochs=6), space=tone_space(epochs=2), progress=False)
    saved = json.loads((tmp_path / "comparison.json").read_text())["methods"]
    assert saved == json.loads(json.dumps(rows))
    assert [r["method"] for r in saved] == ["random", "hyperband"]
    for r in saved:
        assert {"method", "val_loss", "val_accuracy", "test_accuracy", "seconds", "trials",
                "epochs"} <= set(r)
        assert r["epochs"] == 6 and 0 <= r["test_accuracy"] <= 1
        lo, hi = r["test_ci95"]
        assert lo <= r["test_accuracy"] <= hi
    table = (tmp_path / "comparison.md").read_text()
    assert "| random |" in table and "| hyperband |" in table
    assert "one seed, so no difference in test accuracy can be told from luck" in table
    assert (tmp_path / "comparison.png").is_file()
    assert (tmp_path / "random" / "best" / "model.safetensors").is_file()

"""Accuracy against cost: the Pareto front, its plot, its bad input and retraining its points."""

from __future__ import annotations

import json
import math

import pytest
from optuna.trial import TrialState

from kwslab.errors import ConfigError
from kwslab.search.pareto import dominates, front
from kwslab.search.storage import load_study
from kwslab.search.study import Budget, run_search

PNG = b"\x89PNG\r\n\x1a\n"
# One epoch at a low learning rate: wider layers learn faster, so accuracy costs parameters.
TRADE_OFF = """
[fixed]
"train.epochs" = 1
"train.patience" = 0
[params]
"train.lr" = { choices = [1e-4, 3e-4] }
"model.neurons" = { choices = [8, 32, 128] }
"""


def _beats(a: dict, b: dict, costs: list[str]) -> bool:
    """The definition, on pareto.json/trials.json rows: as good everywhere, better once."""
    ge = a["accuracy"] >= b["accuracy"] and all(a["costs"][c] <= b["costs"][c] for c in costs)
    gt = a["accuracy"] > b["accuracy"] or any(a["costs"][c] < b["costs"][c] for c in costs)
    return ge and gt


def test_dominance_and_front_on_plain_numbers():
    dirs = ["maximize", "minimize"]
    assert dominates([0.9, 1.0], [0.8, 1.0], dirs)
    assert not dominates([0.9, 1.0], [0.9, 1.0], dirs)  # equal: neither dominates
    assert not dominates([0.9, 2.0], [0.8, 1.0], dirs)
    rows = [[0.9, 2.0], [0.8, 1.0], [0.7, 1.5], [0.9, 2.0], [0.95, 3.0]]
    assert front(rows, dirs) == [0, 1, 3, 4]


def test_grid_over_width_and_lr_gives_a_non_dominated_front_a_png_and_retrainable_points(
        tone_data, tone_config, tmp_path, cli):
    from dataclasses import replace

    from kwslab.search.space import parse_space

    base = replace(tone_config, train=replace(tone_config.train, threads=1))
    out = tmp_path / "p"
    res = run_search(tone_data, out, method="grid", space=parse_space(TRADE_OFF, base=base),
                     objectives="accuracy,macs,params", progress=False)
    assert res.trials == 6 and res.objectives == ("accuracy", "macs", "params")
    data = json.loads((out / "pareto.json").read_text())
    costs = ["macs", "params"]
    assert data["objectives"] == ["accuracy", *costs]
    assert data["directions"] == ["maximize", "minimize", "minimize"]
    points = data["points"]
    assert len(points) >= 2 and data["trials"] == 6
    for a in points:  # no point of the front dominates another
        assert not any(_beats(b, a, costs) for b in points if b is not a)
    trials = [t for t in json.loads((out / "trials.json").read_text())
              if t["state"] == "COMPLETE"]
    assert len(trials) == 6 and all(set(t["costs"]) == set(costs) for t in trials)
    on_front = {p["trial"] for p in points}
    rows = [{"accuracy": t["value"], "costs": t["costs"], "trial": t["number"]} for t in trials]
    for r in rows:  # every other completed trial is dominated by a point of the front
        dominated = any(_beats(p, r, costs) for p in points)
        assert dominated == (r["trial"] not in on_front), (r, points)
    assert len(on_front) < len(rows)
    assert (out / "pareto.png").read_bytes()[:8] == PNG
    assert (out / "pareto.png").stat().st_size > 5_000
    for p in points:  # each point's model is kept; no dominated trial's is
        assert p["run_dir"] == f"trials/{p['trial']}" and (out / p["run_dir"]).is_dir()
    kept = {int(d.name) for d in (out / "trials").iterdir()}
    assert kept == on_front
    assert res.best_number in on_front
    assert res.best_value == max(p["accuracy"] for p in points)
    assert (out / "plots" / "history.png").is_file()

    point = points[-1]  # the cheapest end of the front
    run = tmp_path / "retrained"
    code, stdout, err = cli("train", "--data", tone_data, "--from-trial",
                            f"{out}:{point['trial']}", "--out", run, "--quiet", "--no-report")
    assert code == 0, err
    saved = json.loads((run / "config.json").read_text())["config"]
    study = load_study(res.storage, res.study)
    assert saved == study.trials[point["trial"]].user_attrs["config"]
    assert json.loads((run / "metrics.json").read_text())["val_accuracy"] == pytest.approx(
        point["accuracy"])
    card = json.loads((run / "model_card.json").read_text())
    assert card["params"] == point["costs"]["params"]
    assert card["macs"] == point["costs"]["macs"]


def test_latency_objective_records_a_positive_finite_value(tone_data, tone_files, tmp_path,
                                                           cli):
    space, cfg = tone_files(epochs=1)
    out = tmp_path / "t"
    code, stdout, err = cli("tune", "--data", tone_data, "--method", "random", "--space", space,
                            "--config", cfg, "--trials", "1", "--out", out, "--quiet",
                            "--objectives", "accuracy,latency")
    assert code == 0, err
    assert "Pareto front, accuracy against latency (1 points" in stdout
    info = json.loads((out / "search.json").read_text())
    study = load_study(info["storage"], info["study"])
    (trial,) = study.get_trials(states=(TrialState.COMPLETE,))
    latency = trial.values[1]
    assert math.isfinite(latency) and latency > 0
    assert trial.user_attrs["costs"] == {"latency": latency}
    (point,) = json.loads((out / "pareto.json").read_text())["points"]
    assert point["costs"]["latency"] == latency and point["trial"] == trial.number
    assert f"trial {trial.number}: accuracy" in stdout and " ms" in stdout


def test_hyperband_with_costs_says_it_cannot_prune_and_runs_trials_in_full(
        tone_data, tone_space, tmp_path):
    said: list[str] = []
    res = run_search(tone_data, tmp_path, method="hyperband", budget=Budget(trials=3),
                     space=tone_space(epochs=2), objectives="accuracy,params", progress=False,
                     log=said.append)
    notes = [m for m in said if "cannot prune" in m]
    assert len(notes) == 1 and "\n" not in notes[0]
    study = load_study(res.storage, res.study)
    trials = [t for t in study.get_trials() if t.user_attrs.get("budget") == "run"]
    assert len(trials) == 3 and all(t.state == TrialState.COMPLETE for t in trials)
    assert all(t.user_attrs["epochs_run"] == 2 for t in trials)


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.parametrize(("objectives", "says"), [
    ("accuracy,speed", "unknown objective 'speed'; choose from accuracy, latency, macs, params"),
    ("accuracy,macs,macs", "'macs' is repeated"),
    ("latency,macs", "must include accuracy"),
    ("", "must include accuracy"),
])
def test_bad_objectives_are_one_line_before_any_trial(objectives, says, tone_data, tone_files,
                                                      tmp_path, cli):
    space, cfg = tone_files(epochs=1)
    out = tmp_path / "t"
    code, _, err = cli("tune", "--data", tone_data, "--method", "random", "--space", space,
                       "--config", cfg, "--trials", "1", "--out", out, "--quiet",
                       "--objectives", objectives)
    assert code == 2 and says in one_line(err)
    assert not out.exists()


def test_space_file_objectives_default_and_errors(tone_data, tone_space, tmp_path):
    from kwslab.search.space import load_space, parse_space

    assert load_space("cnn").objectives == ("accuracy", "latency")
    assert load_space("embed").objectives == ("accuracy", "latency")
    assert load_space("seed").objectives == ("accuracy",)
    text = '[params]\n"train.lr" = { choices = [1e-3, 1e-2] }\n'
    assert parse_space('objectives = ["macs", "accuracy"]\n' + text).objectives == (
        "accuracy", "macs")
    with pytest.raises(ConfigError, match=r"s.toml:2: objectives .*'latency' is repeated"):
        parse_space('base = "seed"\nobjectives = ["accuracy", "latency", "latency"]\n' + text,
                    "s.toml")
    with pytest.raises(ConfigError, match="s.toml:1: objectives must be a list"):
        parse_space('objectives = "accuracy"\n' + text, "s.toml")
    with pytest.raises(ConfigError, match="manual fixes parameters by accuracy alone"):
        run_search(tone_data, tmp_path, method="manual", space=tone_space(),
                   objectives="accuracy,macs", progress=False)
    assert not (tmp_path / "study.db").exists()


@pytest.mark.parametrize("sampler", ["tpe", "gp", "nsga2"])
def test_bayesian_samplers_search_accuracy_against_cost(sampler, tone_data, tone_space,
                                                        tmp_path):
    res = run_search(tone_data, tmp_path, method="bayesian", sampler=sampler,
                     budget=Budget(trials=3), space=tone_space(epochs=1),
                     objectives="accuracy,params", progress=False)
    study = load_study(res.storage, res.study)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert res.trials == 3 and len(study.get_trials(states=(TrialState.COMPLETE,))) == 3
    assert res.pareto and (tmp_path / "pareto.json").is_file()


def test_a_study_keeps_its_objectives(tone_data, tone_space, tmp_path):
    from kwslab.errors import SearchError

    run_search(tone_data, tmp_path, method="random", budget=Budget(trials=1),
               space=tone_space(epochs=1), progress=False)
    with pytest.raises(SearchError, match="run with objectives accuracy, not accuracy,macs"):
        run_search(tone_data, tmp_path, method="random", budget=Budget(trials=2),
                   space=tone_space(epochs=1), objectives="accuracy,macs", progress=False)
    study = load_study(f"sqlite:///{tmp_path / 'study.db'}", "random")
    assert len(study.get_trials()) == 1

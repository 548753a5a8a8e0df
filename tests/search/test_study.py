"""Search methods under trial and epoch budgets, pruning, manual, replay, --from-trial."""

from __future__ import annotations

import json

import pytest
from optuna.trial import TrialState

from kwslab.config import run_config_from_dict, to_dict
from kwslab.search.storage import config_from_trial, load_study
from kwslab.search.study import Budget, run_search


def _trials(res):
    study = load_study(res.storage, res.study)
    return [t for t in study.get_trials() if t.user_attrs.get("budget") == "run"]


@pytest.mark.parametrize(("method", "sampler", "budget"), [
    ("grid", "tpe", Budget(trials=3)),
    ("random", "tpe", Budget(trials=3)),
    ("bayesian", "gp", Budget(trials=3)),
    ("bayesian", "tpe", Budget(epochs=5)),
    ("random", "tpe", Budget(epochs=5)),
])
def test_methods_respect_the_budget(method, sampler, budget, tone_data, tone_space, tmp_path):
    res = run_search(tone_data, tmp_path, method=method, sampler=sampler, budget=budget,
                     space=tone_space(epochs=2), progress=False)
    trials = _trials(res)
    epochs = sum(t.user_attrs["epochs_run"] for t in trials)
    assert res.epochs == epochs
    if budget.trials:
        assert res.trials == len(trials) == 3 and epochs == 6
        assert all(t.state == TrialState.COMPLETE for t in trials)
    else:  # 2 + 2 + 1: the last trial stops at the budget, recorded as pruned
        assert epochs == 5 and len(trials) == 3
        assert trials[-1].state == TrialState.PRUNED and "stopped" in trials[-1].user_attrs
    if method == "grid":
        assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == 3
    assert (res.best_dir / "model.safetensors").is_file()
    rows = (tmp_path / "trials.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + len(trials) and "train.lr" in rows[0]
    assert (tmp_path / "plots" / "history.png").is_file()


def test_hyperband_prunes_bad_trials_within_the_epoch_budget(tone_data, tone_space, tmp_path):
    res = run_search(tone_data, tmp_path, method="hyperband", budget=Budget(epochs=15),
                     space=tone_space(epochs=3), seed=0, workers=1, progress=False)
    trials = _trials(res)
    assert res.epochs == sum(t.user_attrs["epochs_run"] for t in trials) == 15
    pruned = [t for t in trials if t.state == TrialState.PRUNED and "stopped" not in t.user_attrs]
    assert pruned, [(t.number, t.state, t.params) for t in trials]
    info = [(t.number, t.state.name, t.params, t.intermediate_values) for t in trials]
    assert all(t.user_attrs["epochs_run"] < 3 for t in pruned), info
    # trials 0 and 1 (bracket 0) reach its rung with too few rivals and stop whatever they
    # score; later ones stop only if not in the best third there: the useless rate
    assert all(t.params["train.lr"] == 1e-7 for t in pruned if t.number > 1), info
    assert {0, 1} <= {t.number for t in pruned}, info
    assert (tmp_path / "plots" / "intermediate.png").is_file()


def test_manual_keeps_the_better_value_and_draws_its_figure(tone_data, tone_space, tmp_path):
    res = run_search(tone_data, tmp_path, method="manual", budget=Budget(epochs=7),
                     space=tone_space(epochs=2), progress=False)
    trials = _trials(res)
    assert res.epochs == 7 and len(trials) == 4  # 2 values x 2 repeats; the last one cut to 1
    assert sorted(t.user_attrs["seed"] for t in trials) == [0, 0, 1, 1]
    assert len({json.dumps(t.user_attrs["config"], sort_keys=True) for t in trials}) == 4
    stages = json.loads((tmp_path / "manual.json").read_text())
    assert stages[0]["param"] == "train.lr" and stages[0]["chosen"] == 3e-3
    scores = {v["value"]: v["val_accuracy"] for v in stages[0]["values"]}
    assert scores[3e-3] > scores[1e-7]
    assert (tmp_path / "manual" / "train.lr.png").stat().st_size > 10_000
    assert json.loads((tmp_path / "best.json").read_text())["params"]["train.lr"] == 3e-3
    # running it again changes nothing: every run is recorded
    again = run_search(tone_data, tmp_path, method="manual", budget=Budget(epochs=7),
                       space=tone_space(epochs=2), progress=False)
    assert again.trials == 4 and again.epochs == 7


def test_seeded_study_replays_and_from_trial_rebuilds(tone_data, tone_space, tmp_path):
    space = tone_space(epochs=1)
    a = run_search(tone_data, tmp_path / "a", method="random", budget=Budget(trials=3),
                   space=space, seed=3, progress=False)
    # the same study in two runs (stopped after 2 trials, then resumed) replays it too
    run_search(tone_data, tmp_path / "b", method="random", budget=Budget(trials=2), space=space,
               seed=3, progress=False)
    b = run_search(tone_data, tmp_path / "b", method="random", budget=Budget(trials=3),
                   space=space, seed=3, progress=False)
    ta, tb = _trials(a), _trials(b)
    assert [t.params for t in ta] == [t.params for t in tb]
    assert [t.value for t in ta] == [t.value for t in tb]
    assert len({json.dumps(t.params, sort_keys=True) for t in ta}) > 1

    cfg = config_from_trial(f"{tmp_path / 'a'}:1")
    assert cfg == space.config(ta[1].params, seed=3 + 1)
    assert cfg == config_from_trial(f"{a.storage}#random:1")
    assert cfg == run_config_from_dict(ta[1].user_attrs["config"])

    from typer.testing import CliRunner

    from kwslab.cli import _load_commands, app

    _load_commands()
    run = tmp_path / "retrained"
    result = CliRunner().invoke(app, ["train", "--data", str(tone_data), "--from-trial",
                                      f"{tmp_path / 'a'}:1", "--out", str(run), "--quiet"])
    assert result.exit_code == 0, result.output
    saved = json.loads((run / "config.json").read_text())["config"]
    assert saved == to_dict(cfg)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["val_accuracy"] == pytest.approx(ta[1].value)


def test_manual_reuses_a_run_it_already_has(tone_data, tone_config, tmp_path):
    from dataclasses import replace

    from kwslab.search.space import parse_space

    base = replace(tone_config, train=replace(tone_config.train, threads=1))
    space = parse_space("""
repeats = 1
order = ["train.lr", "model.neurons"]
[fixed]
"train.epochs" = 1
[params]
"train.lr" = { choices = [1e-7, 3e-3] }
"model.neurons" = { choices = [64, 8] }
""", "reuse.toml", base=base)
    assert base.model.neurons == 64
    res = run_search(tone_data, tmp_path, method="manual", space=space, seed=4, progress=False)
    stages = json.loads((tmp_path / "manual.json").read_text())
    assert [s["chosen"] for s in stages][0] == 3e-3 and stages[1]["chosen"] in (64, 8)
    # lr=3e-3 with the base's 64 neurons is stage 2's first run too: trained once, not twice
    assert res.trials == 3 and stages[1]["values"][0]["trials"] == stages[0]["values"][1]["trials"]
    assert (tmp_path / "manual" / "model.neurons.png").is_file()


def test_random_draws_depend_on_the_trial_number_not_on_the_workers(tone_data, tone_space,
                                                                     tmp_path):
    space = tone_space(epochs=1)
    one, two = (run_search(tone_data, tmp_path / str(w), method="random", space=space, seed=5,
                           budget=Budget(trials=4), workers=w, progress=False) for w in (1, 2))
    params = [{t.number: t.params for t in _trials(r)} for r in (one, two)]
    assert params[0] == params[1] and len(params[0]) == 4
    assert len({json.dumps(p, sort_keys=True) for p in params[0].values()}) > 1

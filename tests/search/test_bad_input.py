"""Environment errors get one line before any trial runs, and never spend the budget."""

from __future__ import annotations

import json

import optuna
import pytest
from optuna.trial import TrialState

from kwslab.search.storage import load_study


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def tune(data, out, space, cfg, *extra):
    return ["tune", "--data", data, "--method", "random", "--space", space, "--config", cfg,
            "--trials", "1", "--out", out, "--quiet", *extra]


def test_a_missing_data_folder_spends_nothing_and_the_rerun_trains(
        tone_data, tone_files, tmp_path, cli):
    space, cfg = tone_files(epochs=1)
    out = tmp_path / "t"
    code, _, err = cli(*tune(tmp_path / "tones-typo", out, space, cfg))
    assert code == 2 and "tones-typo: no such folder" in one_line(err)
    assert not (out / "study.db").exists()  # no study, no trial
    code, stdout, err = cli(*tune(tone_data, out, space, cfg))
    assert code == 0, err
    assert "1 trials" in stdout and (out / "best" / "model.safetensors").is_file()


def test_an_input_error_inside_a_trial_costs_no_budget(tone_data, tone_space, tmp_path,
                                                       monkeypatch):
    from kwslab.errors import DataError
    from kwslab.search import study as study_module
    from kwslab.search.study import Budget, run_search

    def broken(*args, **kwargs):
        raise DataError("the disk went away")

    monkeypatch.setattr("kwslab.training.train", broken)
    with pytest.raises(DataError, match="disk went away"):
        run_search(tone_data, tmp_path, method="random", budget=Budget(trials=1),
                   space=tone_space(epochs=1), workers=1, progress=False)
    monkeypatch.undo()
    res = study_module.run_search(tone_data, tmp_path, method="random", budget=Budget(trials=1),
                                  space=tone_space(epochs=1), workers=1, progress=False)
    assert res.trials == 1 and res.epochs == 1 and res.best_number == 1


def test_unwritable_sqlite_storage_is_one_line(tone_data, tone_files, tmp_path, cli):
    space, cfg = tone_files(epochs=1)
    code, _, err = cli(*tune(tone_data, tmp_path / "t", space, cfg, "--storage",
                                         "sqlite:////proc/x/y.db"))
    assert code == 2 and "cannot open storage sqlite:////proc/x/y.db" in one_line(err)


def test_a_space_range_torch_rejects_fails_before_the_study(tone_data, tone_files, tmp_path,
                                                            cli):
    _, cfg = tone_files()
    space = tmp_path / "bad.toml"
    space.write_text('[params]\n"train.weight_decay" = { low = -0.1, high = 0.1 }\n')
    code, _, err = cli(*tune(tone_data, tmp_path / "t", space, cfg))
    line = one_line(err)
    assert code == 2 and "bad.toml:2" in line and "weight_decay" in line and "-0.1" in line
    assert not (tmp_path / "t" / "study.db").exists()


def test_from_trial_at_a_failed_trial_or_a_broken_search_json(tone_data, tone_files, tmp_path,
                                                              cli):
    space, cfg = tone_files(epochs=1)
    out = tmp_path / "t"
    assert cli(*tune(tone_data, out, space, cfg))[0] == 0
    info = json.loads((out / "search.json").read_text())
    study = load_study(info["storage"], info["study"])
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL,
                                              user_attrs={"error": "ValueError: boom"}))
    failed = max(t.number for t in study.get_trials())
    retrain = ["train", "--data", tone_data, "--out", tmp_path / "r", "--quiet"]
    code, _, err = cli(*retrain, "--from-trial", f"{out}:{failed}")
    line = one_line(err)
    assert code == 2 and f"trial {failed} of 'random' failed (ValueError: boom)" in line
    (out / "search.json").write_text('{"storage": "sqlite:///x.db", ')
    code, _, err = cli(*retrain, "--from-trial", f"{out}:0")
    assert code == 2 and "search.json: unreadable" in one_line(err)
    (out / "search.json").write_text('["not", "an", "object"]')
    code, _, err = cli(*retrain, "--from-trial", f"{out}:0")
    assert code == 2 and "search.json: unreadable" in one_line(err)
    assert not (tmp_path / "r").exists()


def test_tune_never_writes_over_another_search_or_a_run(tone_data, tone_files, tone_run,
                                                        tmp_path, cli):
    """A search continues only in its own folder: another method's study or a run folder
    would be mixed with its results (best/, trials.csv and the report replaced)."""
    space, cfg = tone_files(epochs=1)
    out = tmp_path / "search"
    out.mkdir()
    info = {"storage": f"sqlite:///{out / 'study.db'}", "study": "grid", "method": "grid"}
    (out / "search.json").write_text(json.dumps(info))
    code, _, err = cli(*tune(tone_data, out, space, cfg))
    assert code == 2 and "holds the grid search 'grid'" in one_line(err)
    assert sorted(p.name for p in out.iterdir()) == ["search.json"]
    (out / "search.json").write_text('{"storage": 3, "study": "grid"}')
    code, _, err = cli(*tune(tone_data, out, space, cfg))
    line = one_line(err)
    assert code == 2 and "search.json: storage and study must be strings" in line
    assert line.endswith("give another --out")
    assert sorted(p.name for p in out.iterdir()) == ["search.json"]
    code, _, err = cli(*tune(tone_data, tone_run, space, cfg))
    assert code == 2 and "holds a run or an export" in one_line(err)


def test_a_search_continues_only_over_its_own_space(tone_data, tone_files, tmp_path, cli):
    """Rerunning into a folder with another space would make every trial fail on Optuna's
    "dynamic value space" (a search that never ends): refused in one line, nothing changed."""
    space, cfg = tone_files(epochs=1)
    out = tmp_path / "search"
    code, _, err = cli(*tune(tone_data, out, space, cfg))
    assert code == 0, err
    before = (out / "search.json").read_text()
    other = tmp_path / "other.toml"
    other.write_text(space.read_text().replace("[8, 16, 32, 64]", "[8, 128]"))
    code, _, err = cli(*tune(tone_data, out, other, cfg))
    line = one_line(err)
    assert code == 2 and "searched another space" in line and "give another --out" in line
    assert (out / "search.json").read_text() == before
    import optuna

    study = optuna.load_study(study_name="random", storage=f"sqlite:///{out / 'study.db'}")
    assert len(study.trials) == 1
    code, _, err = cli(*tune(tone_data, out, space, cfg))  # the same space goes on (its
    assert code == 0 and "another space" not in err, err  # budget of 1 trial already spent)


def test_compare_never_takes_over_a_tune_folder_or_a_run(tone_data, tone_files, tone_run,
                                                         tmp_path, cli):
    space, cfg = tone_files(epochs=1)
    out = tmp_path / "search"
    code, _, err = cli(*tune(tone_data, out, space, cfg))
    assert code == 0, err
    names = sorted(p.name for p in out.iterdir())
    for target, says in ((out, "holds a tune search"), (tone_run, "holds a run or an export")):
        code, _, err = cli("compare", "--data", tone_data, "--methods", "random", "--space",
                           space, "--config", cfg, "--trials", "1", "--out", target, "--quiet")
        assert code == 2 and says in one_line(err)
    assert sorted(p.name for p in out.iterdir()) == names


def test_a_file_that_is_not_a_journal_is_one_line(tone_data, tone_files, tmp_path, cli):
    space, cfg = tone_files(epochs=1)
    journal = tmp_path / "study.log"
    journal.write_text("garbage\n")
    code, _, err = cli(*tune(tone_data, tmp_path / "j", space, cfg, "--storage",
                             f"journal://{journal}"))
    line = one_line(err)
    assert code == 2 and "is not an Optuna journal" in line and str(journal) in line
    assert journal.read_text() == "garbage\n"


def test_a_sampler_for_a_method_without_one_is_a_warning(tone_data, tone_files, tmp_path, cli):
    space, cfg = tone_files(epochs=1)
    code, _, err = cli(*tune(tone_data, tmp_path / "r", space, cfg, "--sampler", "gp"))
    assert code == 0 and "warning: --sampler gp is for --method bayesian" in err

"""The comparison says which differences are more than luck: on made-up results, then for real."""

from __future__ import annotations

import json

import pytest

from kwslab.search.significance import paired, significance, t95


def test_a_consistent_gap_is_significant_and_a_noisy_one_is_not():
    better = {0: 0.90, 1: 0.91, 2: 0.92}
    worse = {0: 0.85, 1: 0.86, 2: 0.86}
    p = paired(better, worse)
    assert p["significant"] and p["ci95"][0] > 0
    assert p["mean_diff"] == pytest.approx(0.16 / 3, abs=1e-9)
    noisy = {0: 0.95, 1: 0.80, 2: 0.90}
    q = paired(noisy, worse)
    assert not q["significant"] and q["ci95"][0] < 0 < q["ci95"][1]
    assert t95(2) == 4.303 and t95(100) == 1.96


def test_the_statement_names_winners_and_admits_luck():
    scores = {"random": {0: 0.85, 1: 0.86, 2: 0.86}, "bayesian": {0: 0.90, 1: 0.91, 2: 0.92},
              "hyperband": {0: 0.95, 1: 0.80, 2: 0.90}}
    sig = significance(scores, "test accuracy")
    by = {(p["a"], p["b"]): p for p in sig["pairs"]}
    assert by[("bayesian", "random")]["significant"]
    assert not by[("hyperband", "random")]["significant"]
    assert ("bayesian", "hyperband") in by  # the higher mean is always "a"
    text = sig["statement"]
    assert ("bayesian beats random by +5.3 points of test accuracy (95 % interval +3.9 to +6.8 "
            "over 3 seeds)") in text
    assert "over 3 seeds): significant." in text
    assert "hyperband beats random" in text and "could be luck" in text
    assert "about one pair in twenty" in text


def test_one_seed_or_no_gap_says_nothing_can_be_told():
    one = significance({"random": {0: 0.9}, "bayesian": {0: 0.95}}, "test accuracy")
    assert "one seed, so no difference in test accuracy can be told from luck" in \
        one["statement"]
    assert not one["pairs"][0]["significant"]
    same = significance({"random": {0: 0.9, 1: 0.8}, "grid": {0: 0.9, 1: 0.8}}, "x")
    assert "the same x on every seed" in same["statement"]
    assert "No difference between the methods can be told from luck with 2 seeds" in \
        same["statement"]
    assert significance({"random": {0: 0.9}}, "x")["statement"].startswith("Only one method")


def test_compare_over_seeds_from_the_command_line(tone_data, tone_files, tmp_path, cli):
    space, cfg = tone_files(epochs=1)
    out = tmp_path / "cmp"
    code, stdout, err = cli("compare", "--data", tone_data, "--methods",
                                "random,bayesian", "--space", space, "--config", cfg,
                                "--trials", "1", "--seeds", "0,1", "--out", out, "--quiet")
    assert code == 0, err
    saved = json.loads((out / "comparison.json").read_text())
    assert [r["method"] for r in saved["methods"]] == ["random", "bayesian"]
    assert all([run["seed"] for run in r["runs"]] == [0, 1] for r in saved["methods"])
    sig = saved["significance"]
    assert sig["metric"] == "test accuracy" and sig["pairs"][0]["seeds"] == [0, 1]
    table = (out / "comparison.md").read_text()
    assert "**Significance** (test accuracy, paired over seeds): " + sig["statement"] in table
    assert "test accuracy (mean ± std over seeds)" in table and "95 % CI" not in table
    assert sig["statement"] in " ".join(stdout.split())
    code, _, err = cli("compare", "--data", tone_data, "--seeds", "0,0",
                           "--out", out)
    assert code == 2 and "give distinct" in err

"""The HTML report: sections from each kind of folder, self-containment, Chromium rendering."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kwslab.evaluation import evaluate
from kwslab.report import build_report, figures
from kwslab.report.data import Example, gather
from kwslab.utils.io import write_json

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
RUN_HEADINGS = ("Dataset", "Clips per word and split",
                "Example waveform and log-Mel spectrogram per word", "Training curves",
                "Confusion matrix", "Per-class precision and recall", "Model card")
SEARCH_HEADINGS = ("Comparison", "Optimisation history", "Parameter importances",
                   "Per-parameter curves (manual method)", "Learning-rate finder", "DET curve")


@pytest.fixture
def evaluated_run(tone_run, tone_data, tmp_path) -> Path:
    """A copy of the tone run with its test evaluation, as `kwslab train --eval-test` writes it."""
    run = tmp_path / "tone"
    shutil.copytree(tone_run, run)
    write_json(run / "eval_test.json", evaluate(run, tone_data, "test"))
    return run


def images(page: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', page)


def test_run_report_has_every_section(evaluated_run, tone_data):
    path = build_report(evaluated_run, data=tone_data)
    assert path == evaluated_run / "report.html"
    page = path.read_text()
    for heading in RUN_HEADINGS:
        assert f">{heading}<" in page, heading
    srcs = images(page)
    # 3 examples, curves, confusion; every image is embedded, nothing is fetched
    assert len(srcs) == 5 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'(src|href)="(https?:|file:|/)', page)
    assert "test accuracy" in page and "parameters" in page and "MACs" in page
    assert not list(evaluated_run.glob(".*.tmp"))  # atomic write leaves nothing behind


def test_report_never_evaluates(tone_run, tone_data, tmp_path, monkeypatch):
    import kwslab.evaluation

    def forbidden(*args, **kwargs):
        raise AssertionError("the report evaluated a model")

    monkeypatch.setattr(kwslab.evaluation, "evaluate", forbidden)
    run = tmp_path / "run"
    shutil.copytree(tone_run, run)
    report = gather(run, tone_data)
    assert report.runs[0].evaluation is None and "--eval-test" in report.runs[0].note
    assert sorted(p.name for p in run.iterdir()) == sorted(p.name for p in tone_run.iterdir())
    page = build_report(run, data=tone_data).read_text()
    assert "Training curves" in page and "Confusion matrix" not in page
    assert "no test evaluation" in page and "Example waveform" in page
    # without its data the sections that need it are left out, not broken
    shutil.copytree(tone_run, tmp_path / "moved")
    page = build_report(tmp_path / "moved", data=tmp_path / "nowhere").read_text()
    assert "Training curves" in page and "Example waveform" not in page


def test_only_finished_artifacts_and_exact_names_are_read(evaluated_run, tmp_path):
    """Half-written folders (no manifest) and look-alike file names are not reported."""
    from kwslab import artifacts as A

    root = tmp_path / "root"
    shutil.copytree(evaluated_run, root / "done")
    shutil.copytree(evaluated_run, root / "half")
    (root / "half" / A.MANIFEST).unlink()  # as a killed writer would leave it
    png = figures.confusion([[1, 0], [0, 1]], ["a", "b"])
    (root / "done" / "my_lrfinder_plot.png").write_bytes(png)  # not a producer's name
    write_json(root / "done" / "notes.json", {"det": []})
    report = gather(root)
    assert [r.name for r in report.runs] == ["done"]
    assert report.searches == [] and report.streams == []


def test_search_and_stream_sections(evaluated_run, tmp_path):
    """A tune/compare folder with its plots and a nested best run; a stream result."""
    search = tmp_path / "search"  # laid out as kwslab.search writes it
    shutil.copytree(evaluated_run, search / "best")
    shutil.copytree(evaluated_run, search / "trials" / "3")  # only in trials.csv
    png = figures.training_curves(json.loads((evaluated_run / "metrics.json").read_text())
                                  ["history"])
    for name in ("plots/history.png", "plots/importances.png", "manual/train.lr.png",
                 "lr_find.png", "comparison.png"):
        (search / name).parent.mkdir(exist_ok=True)
        (search / name).write_bytes(png)
    write_json(search / "manual.json", [])
    write_json(search / "comparison.json", [
        {"model": "mlp", "val_accuracy": 0.91, "params": 1234},
        {"model": "dscnn", "val_accuracy": 0.95, "params": 23456}])
    with open(search / "trials.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["number", "value", "lr"])
        w.writerows([[i, 0.5 + i / 10, 10 ** -i] for i in range(3)])
    det = [{"threshold": t, "fa_per_hour": 50 * (1 - t), "miss_rate": t / 2} for t in
           (0.1, 0.5, 0.9)]
    write_json(search / "stream" / "det.json", {
        "det": det, "stream": {"duration_s": 600, "keyword_clips": 40, "snr_db": 10},
        "operating_point": {"threshold": 0.5, "hit_rate": 0.75, "miss_rate": 0.25,
                            "fa_per_hour": 25.0}})
    page = build_report(search).read_text()
    for heading in (*SEARCH_HEADINGS, "Training curves", "Confusion matrix"):
        assert f">{heading}<" in page, heading
    assert "dscnn" in page and "trials.csv" in page and "Operating point" in page
    assert len(images(page)) == 5 + 3 + 1 + 2  # plots, examples, DET, curves+confusion
    assert "trials/3" not in page and ">Runs<" not in page  # one run: best


def test_figures_are_png():
    rng = np.random.default_rng(0)
    ex = Example("go", "go.wav", rng.normal(0, 0.1, 16000).astype(np.float32),
                 rng.normal(size=(40, 101)).astype(np.float32), 16000, "log-Mel")
    history = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "train_accuracy": 0.5,
                "val_accuracy": 0.4} for e in range(1, 4)]
    for png in (figures.example(ex), figures.training_curves(history, 2),
                figures.confusion([[3, 1], [0, 4]], ["a", "b"])):
        assert png.startswith(b"\x89PNG")
    assert figures.det_curve({"det": []}) is None


@pytest.mark.browser
def test_report_renders_in_chromium(evaluated_run, tone_data, tmp_path):
    import playwright.sync_api as playwright

    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} is missing: .ci/run installs Debian's chromium"
    path = build_report(evaluated_run, data=tone_data)
    shot = tmp_path / "report.png"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route(re.compile(r"^(?!file:|data:).*"), lambda route: route.abort())  # offline
            page.goto(path.resolve().as_uri(), wait_until="load")
            widths = page.evaluate(
                "Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)")
            headings = page.evaluate(
                "Array.from(document.querySelectorAll('h2, h3')).map(h => h.textContent)")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert len(widths) == 5 and all(w > 0 for w in widths), widths
    for heading in RUN_HEADINGS:
        assert heading in headings
    assert shot.stat().st_size > 10_000


def test_cli_missing_folder_is_one_line_error(tmp_path):
    p = subprocess.run(
        [sys.executable, "-c", "from kwslab.cli import main; main()", "report",
         str(tmp_path / "missing")],
        capture_output=True, text=True, env={**os.environ, "KWSLAB_PROGRESS": "0"}, timeout=120)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "no such folder" in lines[0]


def test_cli_prints_report_path(evaluated_run, tmp_path):
    from typer.testing import CliRunner

    from kwslab.cli import _load_commands, app

    _load_commands()
    out = tmp_path / "r.html"
    result = CliRunner().invoke(app, ["report", str(evaluated_run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out) and out.is_file()


def test_run_report_lists_speakers_and_mistakes_to_listen_to(evaluated_run, tone_data):
    ev = json.loads((evaluated_run / "eval_test.json").read_text())
    # Make the tone model's test evaluation hold known mistakes and speakers.
    clip = next(Path(tone_data).glob("low/*.wav"))
    ev["per_speaker"] = {"spk-a": [1, 3], "spk-b": [3, 3]}
    ev["confused"] = [{"path": str(clip), "speaker": "spk-a", "label": "low",
                       "predicted": "mid", "probability": 0.93}]
    write_json(evaluated_run / "eval_test.json", ev)
    page = build_report(evaluated_run, data=tone_data).read_text()
    assert ">Speakers with errors<" in page and "spk-a" in page and "spk-b" not in page
    assert ">Most confident mistakes<" in page and "0.93" in page
    assert page.count('src="data:audio/wav;base64,') == 1  # the clip itself, embedded

"""`kwslab train`."""

from __future__ import annotations

from pathlib import Path

import typer

from kwslab.cli.app import app, console, out


@app.command()
def train(
    data: list[Path] = typer.Option(
        ..., "--data", help="Speech Commands-style folder or .jsonl manifest; repeat it to mix "
        "sources (e.g. synthetic speech, then real recordings; --eval-test scores the last)."),
    out_dir: Path = typer.Option(..., "--out", help="Run folder to write."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Replace a finished run at --out (all of its files)."),
    eval_test: bool = typer.Option(False, "--eval-test",
                                   help="Also score the test split of the last --data "
                                        "(RUN_DIR/eval_test.json, shown in the report)."),
    config: str = typer.Option(None, "--config",
                               help="'default' (head on pretrained speech embeddings), "
                               "'stream' (the default for streams: _unknown_, no label "
                               "smoothing; with --negatives), "
                               "'tcresnet' (CNN from scratch, no download), "
                               "'tcresnet-distill' (the same taught by --teacher), "
                               "'tcresnet-stream' (its stream variant, to pair with "
                               "'stream' in an ensemble), 'student' (the "
                               "student project's recipe; 'seed' still works), or a "
                               "TOML file overriding one."),
    words: str = typer.Option(
        None, "--words", help="Comma-separated words (default: the seed's 8)."),
    negatives: Path = typer.Option(
        None, "--negatives", help="Folder of long audio with none of the words (speech, music, "
        "noise): a quarter of its files is cut into _unknown_ clips, for streams."),
    teacher: Path = typer.Option(
        None, "--teacher", help="An export (one model or an ensemble) with the same words whose "
        "probabilities the model also learns (distillation: e.g. --config tcresnet-distill "
        "taught by the default heads exported together; weight train.distill)."),
    unknown: bool = typer.Option(None, "--unknown/--no-unknown",
                                 help="Add an _unknown_ class from the dataset's other words."),
    off_centre: float = typer.Option(
        None, "--off-centre", help="Keyword clips shifted so the word sits at the window's edge "
        "(half in, half out), as _unknown_ clips: this many per split in units of one word's "
        "clips, e.g. 1 (default: the config's data.off_centre_per_word, 0 = none)."),
    seed: int = typer.Option(None, "--seed", help="Random seed (default: the config's)."),
    epochs: int = typer.Option(None, "--epochs", help="Override the number of epochs."),
    from_trial: str = typer.Option(None, "--from-trial",
                                   help="Retrain a tuning trial: STUDY_DIR_OR_DB:TRIAL_NUMBER."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    report: bool = typer.Option(True, "--report/--no-report",
                                help="Also write RUN_DIR/report.html."),
) -> None:
    """Train a model and write it (weights, config, metrics, model card) to --out.

    The test split is not scored unless --eval-test asks for it.
    """
    from dataclasses import replace

    from kwslab.config import load_config, validate, with_teacher
    from kwslab.training import train as run_train

    cfg = load_config(config)
    if from_trial:
        from kwslab.search.study import config_from_trial

        cfg = config_from_trial(from_trial)
    if words:
        cfg = replace(cfg, data=replace(cfg.data, words=tuple(w.strip() for w in words.split(",")
                                                              if w.strip())))
    if negatives is not None:
        from kwslab.data.negatives import negative_files

        negative_files(negatives)  # a bad folder fails here, before any work
        cfg = replace(cfg, data=replace(cfg.data, negatives=str(negatives.resolve())))
    if teacher is not None:
        cfg = with_teacher(cfg, teacher.resolve())
    if unknown is not None:
        cfg = replace(cfg, data=replace(cfg.data, unknown=unknown))
    if off_centre is not None:
        cfg = replace(cfg, data=replace(cfg.data, off_centre_per_word=off_centre))
    if seed is not None:
        cfg = replace(cfg, train=replace(cfg.train, seed=seed))
    if epochs is not None:
        cfg = replace(cfg, train=replace(cfg.train, epochs=epochs))
    validate(cfg)
    sources = data if len(data) > 1 else data[0]
    result = run_train(cfg, sources, out_dir, progress=not quiet, log=lambda m: console.print(m),
                       overwrite=overwrite)
    m = result.metrics
    out.print(f"validation accuracy {m['val_accuracy']:.4f} (epoch {m['best_epoch']}), "
              f"{m['seconds']:.0f} s; model written to {result.run_dir}")
    if eval_test:
        from kwslab.artifacts import EVAL_TEST
        from kwslab.evaluation import evaluate
        from kwslab.utils.io import write_json

        ev = evaluate(result.run_dir, data[-1], "test", progress=not quiet)
        write_json(result.run_dir / EVAL_TEST, ev)
        out.print(f"test accuracy {ev['accuracy']:.4f} (n={ev['n']})")
    if report:
        from kwslab.report import build_report

        out.print(f"report: {build_report(result.run_dir, data=data[-1])}")

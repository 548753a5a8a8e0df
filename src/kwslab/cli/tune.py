"""`kwslab tune`: one search method under a budget, on a study many workers can share."""

from __future__ import annotations

from pathlib import Path

import typer

from kwslab.cli.app import app, console, out


def budget_options(trials: int | None, timeout: float | None, max_epochs: int | None):
    from kwslab.search.study import Budget

    return Budget(trials=trials, timeout=timeout, epochs=max_epochs)


def pareto_lines(points: list[dict], objectives: tuple[str, ...], out_dir: Path) -> str:
    """The Pareto front as lines, most accurate first, with how to retrain a point."""
    costs = objectives[1:]
    lines = [f"Pareto front, accuracy against {', '.join(costs)} ({len(points)} points; "
             f"{out_dir / 'pareto.json'}, {out_dir / 'pareto.png'}):"]
    for p in points:
        shown = ", ".join(f"{c} {p['costs'][c]:.3g}" + (" ms" if c == "latency" else "")
                          for c in costs)
        lines.append(f"  trial {p['trial']}: accuracy {p['accuracy']:.4f}, {shown}")
    lines.append(f"retrain a point: kwslab train --data DATA --from-trial {out_dir}:N --out DIR")
    return "\n".join(lines)


@app.command()
def tune(
    data: Path = typer.Option(..., "--data", help="Dataset folder or .jsonl manifest."),
    method: str = typer.Option(..., "--method",
                               help="manual, grid, random, hyperband or bayesian."),
    out_dir: Path = typer.Option(..., "--out", help="Folder for best/, trials.csv, plots."),
    space: str = typer.Option(None, "--space",
                              help="Search-space TOML/YAML file or shipped name (default: seed)."),
    config: str = typer.Option(None, "--config",
                               help="Base configuration (preset or file) instead of the space's."),
    trials: int = typer.Option(None, "--trials", help="Budget: trials."),
    timeout: float = typer.Option(None, "--timeout", help="Budget: seconds of wall time."),
    max_epochs: int = typer.Option(None, "--max-epochs", help="Budget: training epochs in all."),
    storage: str = typer.Option(None, "--storage",
                                help="SQLAlchemy URL (sqlite:///FILE.db, postgresql://USER@HOST/DB)"
                                     " or journal:///ABSOLUTE/PATH.log for an Optuna journal "
                                     "file (default: sqlite:///OUT/study.db)."),
    study: str = typer.Option(None, "--study", help="Study name (default: the method)."),
    workers: int = typer.Option(None, "--workers",
                                help="Worker processes on this machine (default: one per "
                                     "core, one per two when trials augment audio per batch; "
                                     "manual: 1)."),
    seed: int = typer.Option(0, "--seed", help="Study seed; trial N trains with seed+N."),
    sampler: str = typer.Option("tpe", "--sampler",
                                help="bayesian: tpe, gp or nsga2 (NSGA-II, for a Pareto front)."),
    objectives: str = typer.Option(None, "--objectives",
                                   help="accuracy, or accuracy against costs: latency (ms per "
                                        "clip, exported, 1 thread), macs, params; e.g. "
                                        "accuracy,latency writes OUT/pareto.json and "
                                        "pareto.png (default: the space's)."),
    heartbeat: int = typer.Option(10, "--heartbeat",
                                  help="Seconds between trial heartbeats (dead after 3 missed)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Search hyperparameters; write the best model (OUT/best) and every trial (trials.csv)."""
    from kwslab.config import load_config
    from kwslab.search import load_space, run_search

    base = load_config(config) if config else None
    if sampler != "tpe" and method != "bayesian":
        console.print(f"warning: --sampler {sampler} is for --method bayesian; {method} draws "
                      "its own way", highlight=False)
    result = run_search(
        data, out_dir, method=method, space=load_space(space, base=base),
        budget=budget_options(trials, timeout, max_epochs), storage=storage, study_name=study,
        workers=workers, seed=seed, sampler=sampler, heartbeat=heartbeat, objectives=objectives,
        progress=not quiet, log=lambda m: console.print(m))
    if result.best_number is None:
        out.print(f"{result.trials} trials, {result.epochs} epochs: none completed")
        return
    out.print(f"best trial {result.best_number}: validation accuracy {result.best_value:.4f}, "
              f"loss {result.best_val_loss:.4f}; {result.trials} trials, {result.epochs} epochs, "
              f"{result.seconds:.0f} s; model in {result.best_dir}")
    if result.pareto:
        out.print(pareto_lines(result.pareto, result.objectives, out_dir))
    from kwslab.report import build_report

    out.print(f"report: {build_report(out_dir, data=data)}")

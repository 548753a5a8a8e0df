"""`kwslab compare`: several search methods under one budget, in the seed's table."""

from __future__ import annotations

from pathlib import Path

import typer

from kwslab.cli.app import app, console, out


@app.command()
def compare(
    data: Path = typer.Option(..., "--data", help="Dataset folder or .jsonl manifest."),
    methods: str = typer.Option("manual,random,hyperband,bayesian", "--methods",
                                help="Comma-separated methods."),
    out_dir: Path = typer.Option(..., "--out", help="Folder for comparison.json/.md/.png."),
    space: str = typer.Option(None, "--space", help="Search-space file or shipped name."),
    config: str = typer.Option(None, "--config", help="Base configuration instead of the space's."),
    trials: int = typer.Option(None, "--trials", help="Budget per method: trials."),
    timeout: float = typer.Option(None, "--timeout", help="Budget per method: seconds."),
    max_epochs: int = typer.Option(None, "--max-epochs", help="Budget per method: epochs."),
    seeds: str = typer.Option("0", "--seeds",
                              help="Comma-separated seeds: each method runs once per seed; the "
                                   "table gives mean ± std and says which differences are "
                                   "significant."),
    sampler: str = typer.Option("tpe", "--sampler", help="bayesian: tpe, gp or nsga2."),
    workers: int = typer.Option(None, "--workers",
                                help="Worker processes per method (default: one per core, "
                                     "one per two when trials augment audio per batch)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Run each method under the same budget; print and save the comparison table."""
    from kwslab.cli.tune import budget_options
    from kwslab.config import load_config
    from kwslab.errors import ConfigError
    from kwslab.search import load_space
    from kwslab.search.compare import compare as run_compare
    from kwslab.search.compare import judge, markdown

    names = [m.strip() for m in methods.split(",") if m.strip()]
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError as e:
        raise ConfigError(f"--seeds {seeds!r}: expected comma-separated integers") from e
    if not seed_list or len(set(seed_list)) != len(seed_list):
        raise ConfigError(f"--seeds {seeds!r}: give distinct comma-separated integers, e.g. "
                          f"0,1,2")
    budget = budget_options(trials, timeout, max_epochs)
    base = load_config(config) if config else None
    rows = run_compare(data, out_dir, methods=names, budget=budget,
                       space=load_space(space, base=base), seeds=seed_list, sampler=sampler,
                       workers=workers, progress=not quiet, log=lambda m: console.print(m))
    out.print(markdown(rows, budget, judge(rows)))
    out.print(f"written: {out_dir / 'comparison.json'}, {out_dir / 'comparison.md'}")
    from kwslab.report import build_report

    out.print(f"report: {build_report(out_dir, data=data)}")

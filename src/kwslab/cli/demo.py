"""`kwslab demo`."""

from __future__ import annotations

from pathlib import Path

import typer

from kwslab.cli.app import app


@app.command()
def demo(
    data: Path = typer.Option(None, "--data",
                              help="Speech Commands-style folder (default: synthesise the 8 "
                                   "seed words with espeak-ng, and Piper if installed)."),
    out_dir: Path = typer.Option(Path("runs/demo"), "--out", help="Folder for everything."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Synthesise (or read) data, train, search, score on real voices, export and report."""
    from kwslab.pipelines.demo import figure_lines, run_demo

    result = run_demo(out_dir, data, seed=seed, progress=not quiet)
    for line in figure_lines(result):
        typer.echo(line)
    typer.echo(f"{result['seconds']:.0f} s; report: {result['report']}")

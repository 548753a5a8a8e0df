"""`kwslab demo`."""

from __future__ import annotations

from pathlib import Path

import typer

from kwslab.cli.app import app, out


@app.command()
def demo(
    data: Path = typer.Option(None, "--data",
                              help="Speech Commands-style folder (default: synthesise the 8 "
                                   "seed words with espeak-ng)."),
    out_dir: Path = typer.Option(Path("runs/demo"), "--out", help="Folder for everything."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Synthesise (or read) data, train, search, evaluate, export ONNX and write the report."""
    from kwslab.demo import run_demo

    result = run_demo(out_dir, data, seed=seed, progress=not quiet)
    out.print(f"test accuracy {result['accuracy']:.4f} ({result['seconds']:.0f} s)")
    typer.echo(f"report: {result['report']}")

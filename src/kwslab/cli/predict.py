"""`kwslab predict`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from kwslab.cli.app import app, out


@app.command()
def predict(
    run_dir: Path = typer.Argument(..., help="Run folder written by `kwslab train`."),
    inputs: list[Path] = typer.Argument(..., help="Audio files or folders."),
    top: int = typer.Option(3, "--top", min=1, help="How many labels to show."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per line."),
) -> None:
    """Top-k labels with probabilities for audio files."""
    from kwslab.evaluation import predict as run_predict

    results = run_predict(run_dir, [str(p) for p in inputs], top=top)
    if as_json:
        for r in results:
            print(json.dumps(r))
    else:
        from rich.table import Table

        table = Table("file", "label", "top")
        for r in results:
            if "error" in r:
                table.add_row(r["file"], "[red]error", r["error"])
            else:
                table.add_row(r["file"], r["label"], "  ".join(
                    f"{t['label']} {t['probability']:.2f}" for t in r["top"]))
        out.print(table)
    if any("error" in r for r in results):
        raise typer.Exit(1)

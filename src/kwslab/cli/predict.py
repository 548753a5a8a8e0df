"""`kwslab predict`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer

from kwslab.cli.app import app, console, out
from kwslab.errors import DataError, ModelError


@app.command()
def predict(
    run_dir: Path = typer.Argument(
        ..., help="Run folder or export folder (`kwslab train`, `kwslab export`; an ensemble "
        "export too)."),
    inputs: list[Path] = typer.Argument(..., help="Audio files or folders."),
    top: int = typer.Option(3, "--top", min=1, help="How many labels to show."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per line."),
) -> None:
    """Top-k labels with probabilities for audio files, from a run or an export folder.

    A path that is missing or unreadable is reported on its own line and the rest are still
    predicted; the exit status is 1 if any file failed.
    """
    from kwslab.audio import find_audio
    from kwslab.evaluation import predict as run_predict

    found = find_audio(inputs)
    if not found:
        raise DataError(f"no audio files in {', '.join(map(str, inputs))}")
    usable = [path for path, problem in found if problem is None]
    scored = iter(run_predict(run_dir, usable, top=top) if usable else [])
    results: list[dict[str, Any]] = [
        next(scored) if problem is None else {"file": str(path), "error": problem}
        for path, problem in found]
    for r in results:
        if any(not math.isfinite(t["probability"]) for t in r.get("top", [])):
            raise ModelError(f"{run_dir}: the model gives non-finite probabilities for "
                             f"{r['file']} (its weights hold NaN or inf); retrain it")
    if as_json:
        for r in results:
            print(json.dumps(r, allow_nan=False))
    else:
        from rich.table import Table

        for r in results:
            if "error" in r:
                console.print(f"error: {r['error']}", highlight=False, markup=False,
                              soft_wrap=True)
        if any("error" not in r for r in results):
            table = Table("file", "label", "top")
            for r in results:
                if "error" not in r:
                    table.add_row(r["file"], r["label"], "  ".join(
                        f"{t['label']} {t['probability']:.2f}" for t in r["top"]))
            out.print(table)
    if any("error" in r for r in results):
        raise typer.Exit(1)

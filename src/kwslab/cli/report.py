"""`kwslab report`."""

from __future__ import annotations

from pathlib import Path

import typer

from kwslab.cli.app import app


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="Run, search, stream or demo folder."),
    data: Path = typer.Option(None, "--data",
                              help="Dataset for the example clips (default: the one each "
                                   "run was trained on). The report evaluates nothing."),
    out_file: Path = typer.Option(None, "--out", help="HTML file (default: RUN_DIR/report.html)."),
) -> None:
    """Write one self-contained HTML report (figures embedded) and print its path."""
    from kwslab.errors import DataError
    from kwslab.report import build_report

    if data is not None and not data.exists():  # a typo, not "no data": say so
        raise DataError(f"--data {data}: no such dataset folder or manifest")
    typer.echo(build_report(run_dir, data=data, out=out_file))

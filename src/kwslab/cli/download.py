"""``kwslab data download``: one call to :func:`kwslab.data.download.download_speech_commands`."""

from __future__ import annotations

from pathlib import Path

import typer

from kwslab.cli.app import data_app


@data_app.command("download")
def download(
    version: str = typer.Option("v0.02", "--version", help="Release: v0.02 or v0.01."),
    dest: Path = typer.Option(Path("data"), "--dest", help="Folder for the archive and dataset."),
    url: str | None = typer.Option(None, "--url", help="Mirror instead of the official URL."),
    sha256: str | None = typer.Option(None, "--sha256", help="Expected SHA-256 of the archive."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Download and extract Speech Commands (resumable; a finished folder is not fetched again)."""
    from kwslab.data.download import download_speech_commands

    folder = download_speech_commands(dest, version, url=url, sha256=sha256, progress=progress)
    typer.echo(str(folder))  # stdout: the one result, for scripts

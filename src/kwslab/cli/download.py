"""``kwslab data download`` and ``kwslab fetch-model``: the dataset and the pretrained front end."""

from __future__ import annotations

from pathlib import Path

import typer

from kwslab.cli.app import app, data_app


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


@app.command("fetch-model")
def fetch_model(
    dest: Path | None = typer.Option(None, "--dest", help="Folder for the two ONNX files "
                                     "(default: $KWSLAB_MODELS or ~/.cache/kwslab)."),
    url: str | None = typer.Option(None, "--url", help="Mirror of the openwakeword 0.5.1 wheel."),
    sha256: str | None = typer.Option(None, "--sha256", help="Expected SHA-256 of that wheel."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    vad: bool = typer.Option(True, "--vad/--no-vad", help="Also keep the wheel's Silero VAD "
                             "(1.8 MB), for streams' --vad-threshold."),
) -> None:
    """Download the pretrained speech_embedding front end of the default recipe (16 MB, once)."""
    from kwslab.features import embedding

    folder = embedding.fetch(dest, url=url or embedding.WHEEL_URL,
                             sha256=sha256 or embedding.WHEEL_SHA256, progress=progress,
                             vad=vad)
    typer.echo(str(folder))

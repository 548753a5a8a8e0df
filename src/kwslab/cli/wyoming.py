"""`kwslab wyoming`."""

from __future__ import annotations

from pathlib import Path

import typer

from kwslab.cli.app import app


@app.command()
def wyoming(
    export_dirs: list[Path] = typer.Argument(..., help="Export folders written by "
                                             "`kwslab export` (each word served once)."),
    uri: str = typer.Option("tcp://127.0.0.1:10400", "--uri",
                            help="Where to listen: tcp://HOST:PORT or unix://PATH."),
    threshold: float = typer.Option(None, "--threshold", min=0, max=1,
                                    help="Smoothed score to fire, for words whose export sets "
                                    "none (default 0.8)."),
    int8: bool = typer.Option(False, "--int8", help="Serve the int8 models."),
) -> None:
    """Serve the exported words to Home Assistant over the Wyoming protocol (wake words)."""
    import logging
    import os

    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")  # small matmuls; must be set before NumPy loads
    from kwslab.serve.wyoming import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    serve(export_dirs, uri, threshold=threshold, int8=int8)

"""`kwslab lr-find`: the learning-rate range test for one or several optimizers."""

from __future__ import annotations

from pathlib import Path

import typer

from kwslab.cli.app import app, out


@app.command("lr-find")
def lr_find(
    data: Path = typer.Option(..., "--data", help="Dataset folder or .jsonl manifest."),
    out_dir: Path = typer.Option(..., "--out", help="Folder for lr_find.png and lr_find.json."),
    optimizers: str = typer.Option(None, "--optimizers",
                                   help="Comma-separated, e.g. adam,adamax,sgd (default: the "
                                        "config's)."),
    config: str = typer.Option("seed", "--config", help="Preset or config file to test."),
    lr_min: float = typer.Option(1e-6, "--lr-min", help="Starting learning rate."),
    lr_max: float = typer.Option(1.0, "--lr-max", help="Final learning rate."),
) -> None:
    """Grow the learning rate over one pass; plot the smoothed loss; suggest a rate."""
    from kwslab.config import load_config
    from kwslab.search.lrfind import lr_find as run

    names = [o.strip() for o in optimizers.split(",")] if optimizers is not None else None
    result = run(load_config(config), data, out_dir, optimizers=names, lr_min=lr_min,
                 lr_max=lr_max)
    for name, lr in result["suggested_lr"].items():
        out.print(f"{name}: suggested learning rate {lr:.2e}")
    out.print(f"plot: {out_dir / 'lr_find.png'}")

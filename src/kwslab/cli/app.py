"""The Typer applications every command module attaches to."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(
    name="kwslab",
    help="Train, tune, evaluate and deploy small keyword-spotting models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Datasets: download, synthesise, inspect.", no_args_is_help=True)
app.add_typer(data_app, name="data")

# Progress and tables for people on stderr; results on stdout. Text is never wrapped at the
# console's width (80 columns in a pipe): a one-line message stays one line for grep and logs.
console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

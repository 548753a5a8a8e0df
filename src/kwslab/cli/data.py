"""`kwslab data info`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from kwslab.cli.app import data_app, out


@data_app.command("info")
def info(
    data: Path = typer.Argument(..., help="Speech Commands-style folder or .jsonl manifest."),
    words: str = typer.Option(
        None, "--words", help="Comma-separated words (default: the seed's 8)."),
    max_per_word: int = typer.Option(None, "--max-per-word", min=1,
                                     help="Cap training clips per word."),
    unknown: bool = typer.Option(False, "--unknown", help="Add the _unknown_ class."),
    silence: bool = typer.Option(False, "--silence", help="Add the _silence_ class."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Clips per word and split, and a warning line for each problem of the dataset."""
    from kwslab.config import DataConfig
    from kwslab.data import counts, load_clips
    from kwslab.data.checks import dataset_problems
    from kwslab.data.speechcommands import available_words

    cfg = DataConfig(max_per_word=max_per_word, unknown=unknown, silence=silence)
    if words:
        cfg = DataConfig(words=tuple(w.strip() for w in words.split(",")),
                         max_per_word=max_per_word, unknown=unknown, silence=silence)
    clips = load_clips(data, cfg)
    table = counts(clips)
    for problem in dataset_problems(data, clips):
        print(f"warning: {problem}", file=sys.stderr)  # not the console: it would wrap
    if as_json:
        print(json.dumps(table))
        return
    from rich.table import Table

    t = Table("label", "train", "validation", "test", title=str(data))
    for label, row in table.items():
        t.add_row(label, str(row["train"]), str(row["validation"]), str(row["test"]))
    t.add_row("[bold]total", *[str(sum(r[s] for r in table.values()))
                               for s in ("train", "validation", "test")])
    out.print(t)
    if data.is_dir():
        out.print(f"words in folder: {', '.join(available_words(data))}")

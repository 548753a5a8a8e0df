"""Command line: a thin Typer layer over library functions (one module per command group).

Every :class:`~kwslab.errors.KwslabError` ends the program with its one-line message and exit
status 2; nothing prints a traceback for bad input.
"""

from __future__ import annotations

import importlib
import sys

from kwslab.cli.app import app

COMMAND_MODULES = (
    "data", "download", "synth", "train", "evaluate", "predict", "tune", "compare", "lrfind",
    "export", "stream", "serve", "wyoming", "report", "demo",
)


def _load_commands() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"kwslab.cli.{name}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``kwslab`` command."""
    from kwslab.errors import KwslabError

    _load_commands()
    try:
        app(args=argv, prog_name="kwslab")
    except KwslabError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except ModuleNotFoundError as e:  # an optional package this command needs
        from kwslab.utils.imports import missing_extra

        err = missing_extra(e, f"kwslab {' '.join((argv or sys.argv[1:])[:1])}".strip())
        if err is None:
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


__all__ = ["app", "main"]

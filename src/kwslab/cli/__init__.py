"""Command line: a thin Typer layer over library functions (one module per command group).

Every :class:`~kwslab.errors.KwslabError`, and every file-system error (a read-only folder, a
file where a folder must go), ends the program with one line and exit status 2; nothing prints
a traceback for bad input.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path

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
    except OSError as e:  # the file system refused (read-only, a file in the way, disk full)
        print(f"error: {os_error(e)}", file=sys.stderr)
        sys.exit(2)


# Temporary names kwslab writes beside an output before putting it in place (staged folders,
# atomic files, write probes): an error names the output the user asked for instead.
_TEMP_NAMES = (re.compile(r"^\.(?P<name>.+)\.tmp-\d+$"),  # a staged folder
               re.compile(r"^\.(?P<name>.+)\.\d+\.tmp(\.\w+)?$"),  # an atomic file
               re.compile(r"^\.(?P<name>.+)\.tmp$"),  # a file staged under its own name
               re.compile(r"^\.write-test\.\d+$"))  # a probe of its folder


def os_error(e: OSError) -> str:
    """One line for a file-system error: what was refused and why."""
    where = " -> ".join(_asked_for(f) for f in (e.filename, e.filename2) if f is not None)
    why = e.strerror or str(e) or type(e).__name__
    return f"{where}: {why}" if where else why


def _asked_for(filename: str | bytes | int) -> str:
    if isinstance(filename, int):
        return str(filename)
    out = Path()
    for part in Path(os.fsdecode(filename)).parts:  # a file inside a staged folder too
        for pattern in _TEMP_NAMES:
            m = pattern.match(part)
            if m:
                if "name" not in m.groupdict():
                    return str(out)
                part = m["name"]
                break
        out /= part
    return str(out)


__all__ = ["app", "main"]

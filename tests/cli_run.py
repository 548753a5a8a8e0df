"""Run the ``kwslab`` command in-process: (exit status, stdout, stderr)."""

from __future__ import annotations

import pytest

from kwslab.cli import main


def run(capsys, *args) -> tuple[int, str, str]:
    """``kwslab ARGS...`` through :func:`kwslab.cli.main`, with pytest's ``capsys``."""
    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in args])
        raise SystemExit(0)
    captured = capsys.readouterr()
    return exit_.value.code or 0, captured.out, captured.err

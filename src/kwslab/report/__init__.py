"""The report: one self-contained HTML page for a run, search, stream or demo folder.

:func:`build_report` gathers plain data (:mod:`kwslab.report.data`), draws it
(:mod:`kwslab.report.figures`) and writes the page (:mod:`kwslab.report.render`).
"""

from __future__ import annotations

from pathlib import Path

from kwslab.artifacts import REPORT as REPORT_FILE
from kwslab.utils.io import write_text_atomic


def build_report(path: str | Path, *, data: str | Path | None = None,
                 out: str | Path | None = None) -> Path:
    """Write the HTML report of ``path`` and return where it went.

    Args:
        path: a run folder, a tune/compare/lr-find output, an eval-stream output or a demo
            folder; every section whose inputs exist is shown.
        data: dataset folder or manifest for the example clips; default: the dataset each
            run was trained on, if it is still there. The report evaluates nothing: it shows
            the ``eval_test.json`` a producer wrote.
        out: HTML file to write; default ``path/report.html``.

    Returns:
        The written file (replaced atomically, so a reader never sees half a page).

    Raises:
        DataError: ``path`` is missing or holds nothing to report.
    """
    from kwslab.report.data import gather
    from kwslab.report.render import render

    report = gather(path, data)
    target = Path(out) if out is not None else Path(path) / REPORT_FILE
    write_text_atomic(target, render(report))
    return target


__all__ = ["REPORT_FILE", "build_report"]

"""An ONNX export of the tone run (shared by the runtime and serve tests: same folder)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tone_export(tone_run) -> Path:
    """``tone_run`` exported to ONNX with a (dynamic) int8 copy, beside the run folder."""
    from kwslab.export import export_onnx

    out = tone_run.parent / "tone_export"
    if not (out / "config.json").is_file():
        export_onnx(tone_run, out, int8=True)
    return out

"""A real `kwslab serve` process for the API and page tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from serve_process import serving


@pytest.fixture(scope="session")
def server(tone_export, tmp_path_factory):
    """`kwslab serve` in a subprocess on a free loopback port (upload limit 256 KiB)."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    with serving(tone_export, log, "--max-upload-mb", "0.25") as (url, proc):
        yield Server(url, proc, log)


class Server:
    """A running server: its base URL, process and log file."""

    def __init__(self, url: str, proc, log: Path):
        self.url, self.proc, self.log = url, proc, log

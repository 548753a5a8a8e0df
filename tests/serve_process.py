"""A real `kwslab serve` subprocess on a free loopback port, for the service's tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


@contextmanager
def serving(export: Path, log: Path, *args: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start `kwslab serve EXPORT [ARGS]`, wait until /healthz answers, stop it afterwards.

    Yields the base URL and the process; the server's output goes to ``log``.
    """
    with open(log, "wb") as out:  # port 0: the server binds a free one and names it
        proc = subprocess.Popen(
            [sys.executable, "-m", "kwslab", "serve", str(export), "--port", "0",
             "--log-level", "warning", *args],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = ""
    deadline = time.monotonic() + 60
    while True:
        named = re.search(r"serving .* on (http://127\.0\.0\.1:[1-9][0-9]*)/", log.read_text())
        url = named.group(1) if named else ""
        try:
            if url and httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"server did not start: {log.read_text()}")
        time.sleep(0.2)
    try:
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()

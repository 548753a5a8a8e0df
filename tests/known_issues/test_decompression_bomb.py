"""A 165 KB FLAC declaring 8 channels at 655,350 Hz for 29 s of zeros once took the server from
131 MB to 881 MB (three at once: 2.2 GB) and `kwslab predict` to 1.8 GB.

Now the header is checked before decoding (frames x channels against a budget) and audio is
decoded block by block: the server's peak RSS stays under 300 MB and `predict` answers one line.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from serve_process import serving

RSS_LIMIT_MB = 300


def flac_of_zeros(rate: int, channels: int, seconds: int) -> bytes:
    """A FLAC of silence, written one second at a time (it compresses to almost nothing)."""
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", samplerate=rate, channels=channels, format="FLAC",
                      subtype="PCM_16") as f:
        second = np.zeros((rate, channels), np.int16)
        for _ in range(seconds):
            f.write(second)
    return buf.getvalue()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    data = flac_of_zeros(655_350, 8, 29)
    assert len(data) < 200_000  # the 165 KB file
    return data


@pytest.fixture(scope="module")
def fresh_server(tone_export, tmp_path_factory):
    """A `kwslab serve` process of its own, so its peak RSS is this test's alone."""
    log = tmp_path_factory.mktemp("bomb_server") / "server.log"
    with serving(tone_export, log) as (url, proc):
        yield url, proc


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


def test_bomb_uploads_keep_the_server_under_300_mb(fresh_server, bomb):
    url, proc = fresh_server
    small_enough = flac_of_zeros(96_000, 2, 29)  # inside the budget: decoded, block by block

    def upload(data: bytes) -> httpx.Response:
        return httpx.post(f"{url}/v1/recognize", timeout=60,
                          files={"file": ("x.flac", data, "audio/flac")})

    with ThreadPoolExecutor(4) as pool:  # 8 bombs, 4 at a time, and 2 large legal uploads
        answers = list(pool.map(upload, [bomb] * 8 + [small_enough] * 2))
    for r in answers[:8]:
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert "8 channels at 655350 Hz" in error and "limit" in error and "\n" not in error
    for r in answers[8:]:
        assert r.status_code == 200, r.text
        assert r.json()["duration_s"] == pytest.approx(29.0)
    assert proc.poll() is None
    assert peak_rss_mb(proc.pid) < RSS_LIMIT_MB


LAUNCHER = """
import json, os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:], stdout=open(sys.argv[1] + ".out", "w"),
                        stderr=open(sys.argv[1] + ".err", "w"))
_, status, usage = os.wait4(proc.pid, 0)
json.dump([os.waitstatus_to_exitcode(status), usage.ru_maxrss], open(sys.argv[1], "w"))
"""


def run_measured(args: list[str], tmp_path: Path) -> tuple[int, str, str, float]:
    """Run a command: (exit status, stdout, stderr, its own peak RSS in MB, from wait4).

    A small launcher process starts it: Linux carries a process's peak RSS across fork and
    exec, so a command started straight from a large test process would report the test
    process's peak, not its own.
    """
    result = tmp_path / "measured.json"
    subprocess.run([sys.executable, "-c", LAUNCHER, str(result), *args], check=True,
                   env={**os.environ, "COLUMNS": "200"}, timeout=300)
    status, maxrss = json.loads(result.read_text())
    out = Path(f"{result}.out").read_text()
    err = Path(f"{result}.err").read_text()
    return status, out, err, maxrss / 1024


@pytest.mark.parametrize("as_json", [False, True])
def test_predict_on_a_bomb_is_one_line_in_bounded_memory(tone_run, bomb, tmp_path, as_json):
    path = tmp_path / "bomb.flac"
    path.write_bytes(bomb)
    kwslab = str(Path(sys.executable).with_name("kwslab"))
    args = [kwslab, "predict", str(tone_run), str(path)] + (["--json"] if as_json else [])
    status, stdout, stderr, peak_mb = run_measured(args, tmp_path)
    assert status != 0
    lines = [line for line in (stdout + stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "bomb.flac" in lines[0] and "8 channels at 655350 Hz" in lines[0]
    assert "Traceback" not in stderr
    assert peak_mb < 700  # was 1,780 MB; importing torch alone takes a few hundred

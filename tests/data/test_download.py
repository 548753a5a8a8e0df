"""Dataset download and one-file HTTP download against a loopback server and archives built here."""

from __future__ import annotations

import hashlib
import io
import re
import socket
import subprocess
import sys
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kwslab.config import DataConfig
from kwslab.data.download import download_speech_commands, safe_extract
from kwslab.data.speechcommands import prepare_speech_commands
from kwslab.errors import DownloadError
from kwslab.utils.download import download_file

pytestmark = pytest.mark.timeout(120)

WORDS = ("yes", "no", "up")
SPEAKERS = ("0a7c2a8d", "1b4c9b89", "2c5d8e90")
NAME = "speech_commands_v0.02"


# -- fixtures: a tiny Speech Commands archive and a server for it ---------------------------------

@pytest.fixture(scope="module")
def archive_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A .tar.gz in the official layout: entries ``./word/SPEAKER_nohash_0.wav`` + lists."""
    src = tmp_path_factory.mktemp("sc_src")
    rng = np.random.default_rng(0)
    for word in WORDS:
        (src / word).mkdir()
        for spk in SPEAKERS:
            audio = (0.1 * rng.standard_normal(1600)).astype(np.float32)
            sf.write(src / word / f"{spk}_nohash_0.wav", audio, 16000, subtype="PCM_16")
    (src / "validation_list.txt").write_text("".join(f"{w}/{SPEAKERS[1]}_nohash_0.wav\n"
                                                     for w in WORDS))
    (src / "testing_list.txt").write_text("".join(f"{w}/{SPEAKERS[2]}_nohash_0.wav\n"
                                                  for w in WORDS))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(src, arcname=".")
    return buf.getvalue()


class _Handler(BaseHTTPRequestHandler):
    """Serves ``server.files``; honours ``Range: bytes=N-`` unless told not to."""

    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        srv = self.server
        rng = self.headers.get("Range")
        data = srv.files.get(self.path)
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if data is None:
            status = 404
        elif m and not srv.ignore_range:
            status = 206 if int(m[1]) < len(data) else 416
        else:
            status = 200
        srv.requests.append((self.path, rng, status))
        if status == 404:
            self.send_error(404)
            return
        if status == 416:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start = int(m[1]) if status == 206 else 0
        self.send_response(status)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if srv.truncate:  # a connection that dies half way
            body = body[: len(body) // 2]
            self.close_connection = True
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None, int]] = []
        self.ignore_range = False
        self.truncate = False

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


@pytest.fixture
def server(archive_bytes: bytes):
    srv = _Server()
    srv.files["/sc.tar.gz"] = archive_bytes
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _assert_usable(folder: Path) -> None:
    clips = prepare_speech_commands(folder, DataConfig(words=("yes", "no")))
    assert {c.split for c in clips} == {"train", "validation", "test"}
    assert len(clips) == 6 and all(Path(c.path).is_file() for c in clips)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- download + verify + extract ------------------------------------------------------------------

def test_download_verifies_and_extracts_a_preparable_folder(server, archive_bytes, tmp_path):
    folder = download_speech_commands(tmp_path, url=server.url("/sc.tar.gz"),
                                      sha256=_sha(archive_bytes), progress=False)
    assert folder == tmp_path / NAME
    _assert_usable(folder)
    assert (folder / ".completed").is_file()
    assert (tmp_path / f"{NAME}.tar.gz").read_bytes() == archive_bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == [NAME, f"{NAME}.tar.gz"]  # no leftovers
    assert server.requests == [("/sc.tar.gz", None, 200)]


def test_wrong_checksum_raises_and_extracts_nothing(server, tmp_path):
    with pytest.raises(DownloadError, match="SHA-256"):
        download_speech_commands(tmp_path, url=server.url("/sc.tar.gz"), sha256="0" * 64,
                                 progress=False)
    assert list(tmp_path.iterdir()) == []


def test_second_call_is_a_no_op(server, archive_bytes, tmp_path):
    kw = dict(url=server.url("/sc.tar.gz"), sha256=_sha(archive_bytes), progress=False)
    first = download_speech_commands(tmp_path, **kw)
    n = len(server.requests)
    (tmp_path / f"{NAME}.tar.gz").unlink()  # even without the archive: the marker is enough
    assert download_speech_commands(tmp_path, **kw) == first
    assert len(server.requests) == n


# -- resume ---------------------------------------------------------------------------------------

def test_resume_sends_range_and_verifies(server, archive_bytes, tmp_path):
    half = len(archive_bytes) // 2
    (tmp_path / f"{NAME}.tar.gz.part").write_bytes(archive_bytes[:half])
    folder = download_speech_commands(tmp_path, url=server.url("/sc.tar.gz"),
                                      sha256=_sha(archive_bytes), progress=True)
    assert server.requests == [("/sc.tar.gz", f"bytes={half}-", 206)]
    _assert_usable(folder)


def test_server_ignoring_range_restarts_from_zero(server, archive_bytes, tmp_path):
    server.ignore_range = True
    half = len(archive_bytes) // 2
    part = tmp_path / "a.tar.gz.part"
    part.write_bytes(archive_bytes[:half])
    out = download_file(server.url("/sc.tar.gz"), tmp_path / "a.tar.gz",
                        sha256=_sha(archive_bytes), progress=False)
    assert server.requests == [("/sc.tar.gz", f"bytes={half}-", 200)]
    assert out.read_bytes() == archive_bytes and not part.exists()


def test_interrupted_download_keeps_part_and_resumes(server, archive_bytes, tmp_path):
    server.truncate = True
    kw = dict(url=server.url("/sc.tar.gz"), sha256=_sha(archive_bytes), progress=False)
    with pytest.raises(DownloadError, match="run again to resume"):
        download_speech_commands(tmp_path, **kw)
    part = tmp_path / f"{NAME}.tar.gz.part"
    got = part.stat().st_size
    assert 0 < got < len(archive_bytes) and not (tmp_path / NAME).exists()
    server.truncate = False
    _assert_usable(download_speech_commands(tmp_path, **kw))
    assert server.requests[-1] == ("/sc.tar.gz", f"bytes={got}-", 206)


def test_corrupt_part_is_retried_from_scratch(server, archive_bytes, tmp_path):
    (tmp_path / "a.tar.gz.part").write_bytes(b"x" * 100)
    out = download_file(server.url("/sc.tar.gz"), tmp_path / "a.tar.gz",
                        sha256=_sha(archive_bytes), progress=False)
    assert [r[1:] for r in server.requests] == [("bytes=100-", 206), (None, 200)]
    assert out.read_bytes() == archive_bytes


def test_complete_part_answered_416_is_verified(server, archive_bytes, tmp_path):
    (tmp_path / "a.tar.gz.part").write_bytes(archive_bytes)
    out = download_file(server.url("/sc.tar.gz"), tmp_path / "a.tar.gz",
                        sha256=_sha(archive_bytes), progress=False)
    assert [r[2] for r in server.requests] == [416]
    assert out.read_bytes() == archive_bytes


# -- network failures and bad input ---------------------------------------------------------------

def test_connection_refused_fails_fast(tmp_path):
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match=r"cannot download .*: .*refused"):
        download_file(f"http://127.0.0.1:{_free_port()}/x.tar.gz", tmp_path / "x.tar.gz",
                      progress=False)
    assert time.monotonic() - t0 < 5
    assert list(tmp_path.iterdir()) == []


def test_http_404(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_speech_commands(tmp_path, url=server.url("/missing.tar.gz"), progress=False)


def test_unknown_version_names_valid_ones(tmp_path):
    with pytest.raises(DownloadError, match=r"'v3'.*v0\.01, v0\.02"):
        download_speech_commands(tmp_path, "v3")


# -- extraction that cannot escape ----------------------------------------------------------------

def _tar(tmp_path: Path, members: list[tuple[str, str, str]]) -> Path:
    """members: (kind, name, payload) with kind file|sym|lnk; payload = content or link target."""
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for kind, name, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload.encode()))
            else:
                info.type = tarfile.SYMTYPE if kind == "sym" else tarfile.LNKTYPE
                info.linkname = payload
                tar.addfile(info)
    return path


MALICIOUS = {
    "dotdot": [("file", "ok.txt", "fine"), ("file", "../evil.txt", "pwned")],
    "nested_dotdot": [("file", "a/../../evil.txt", "pwned")],
    "absolute": [("file", "{abs}", "pwned")],
    "symlink_out": [("sym", "link", "../../"), ("file", "link/evil.txt", "pwned")],
    "symlink_abs": [("sym", "link", "/etc/passwd")],
    "symlink_chain": [("sym", "d", "."), ("sym", "d/up", "..")],
    "hardlink_out": [("lnk", "hard", "../outside.txt")],
}


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_safe_extract_refuses_escapes(tmp_path, case):
    jail = tmp_path / "jail"
    dest = jail / "dest"
    jail.mkdir()
    (jail / "outside.txt").write_text("secret")
    absolute = tmp_path / "abs_evil.txt"
    members = [(k, n.format(abs=absolute), p) for k, n, p in MALICIOUS[case]]
    archive = _tar(tmp_path, members)
    with pytest.raises(DownloadError, match="refusing member"):
        safe_extract(archive, dest)
    assert sorted(p.name for p in jail.iterdir()) == ["dest", "outside.txt"]
    assert (jail / "outside.txt").read_text() == "secret"
    assert not absolute.exists() and not (tmp_path / "evil.txt").exists()


def test_safe_extract_allows_links_that_stay_inside(tmp_path):
    archive = _tar(tmp_path, [("file", "a/x.txt", "hi"), ("sym", "b", "a/x.txt"),
                              ("lnk", "c", "a/x.txt")])
    safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "b").read_text() == "hi" == (tmp_path / "out" / "c").read_text()


def test_malicious_download_leaves_no_dataset_folder(server, tmp_path):
    archive = _tar(tmp_path, MALICIOUS["dotdot"])
    server.files["/evil.tar.gz"] = archive.read_bytes()
    dest = tmp_path / "dest"
    with pytest.raises(DownloadError, match="refusing member '../evil.txt'"):
        download_speech_commands(dest, url=server.url("/evil.tar.gz"), progress=False)
    assert list(dest.iterdir()) == []  # nothing vouched for the archive: deleted too
    assert not (tmp_path / "evil.txt").exists()


def test_an_archive_that_does_not_extract_is_fetched_again_unless_verified(server, tmp_path):
    """A mirror's broken archive (no checksum) would fail every rerun the same way: it is
    deleted and the next run downloads it afresh; a verified one is kept, and the error says
    how to fetch it again."""
    server.files["/bad.tar.gz"] = garbage = b"not a tar archive at all" * 100
    url = server.url("/bad.tar.gz")
    for _ in range(2):
        with pytest.raises(DownloadError, match="cannot extract.*run again to download it"):
            download_speech_commands(tmp_path, url=url, progress=False)
        assert list(tmp_path.iterdir()) == []
    assert [r[0] for r in server.requests].count("/bad.tar.gz") == 2
    with pytest.raises(DownloadError, match="delete .* to download it again"):
        download_speech_commands(tmp_path, url=url, sha256=_sha(garbage), progress=False)
    assert (tmp_path / f"{NAME}.tar.gz").read_bytes() == garbage


# -- CLI ------------------------------------------------------------------------------------------

def test_cli_downloads_and_prints_folder(server, archive_bytes, tmp_path, capsys):
    from kwslab.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["data", "download", "--url", server.url("/sc.tar.gz"), "--dest", str(tmp_path),
              "--sha256", _sha(archive_bytes), "--no-progress"])
    assert exit_info.value.code in (0, None)
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(tmp_path / NAME)
    _assert_usable(tmp_path / NAME)


def test_cli_bad_url_is_one_line_exit_2(tmp_path):
    url = f"http://127.0.0.1:{_free_port()}/x.tar.gz"
    proc = subprocess.run(
        [sys.executable, "-c", "from kwslab.cli import main; main()", "data", "download",
         "--url", url, "--dest", str(tmp_path), "--no-progress"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: cannot download") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_silent_server_times_out(tmp_path, monkeypatch):
    import kwslab.utils.download as dl

    monkeypatch.setattr(dl, "TIMEOUT_S", 0.5)
    with socket.socket() as s:  # accepts connections (backlog) but never answers
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        url = f"http://127.0.0.1:{s.getsockname()[1]}/x.tar.gz"
        t0 = time.monotonic()
        with pytest.raises(DownloadError, match="timed out after"):
            download_file(url, tmp_path / "x.tar.gz", progress=False)
        assert time.monotonic() - t0 < 5
